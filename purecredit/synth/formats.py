"""Writers that put a delivered-shape table on disk, byte for byte reproducibly.

A delivered-shape table already has its delivered headers as column names and holds text,
numbers or booleans only (dates and IDs are text by then). Each writer returns the relative
path, the number of data records and the sha256 of the bytes, which go into the manifest.

CSV and JSON lines are written in row chunks so memory stays bounded whatever the row count
(about `CHUNK_BYTES` of table per chunk: a JSON line repeats every key, so wide records get
fewer rows per chunk; chunking never changes the bytes written);
line-level defects are spliced in as raw bytes at 1-based record numbers (`line_overrides`),
and chunks without an override take the fast path (one pyarrow call, one transcode). CSV is
rendered by pyarrow (strings quoted, nulls as empty fields, `\\n` line ends); GBK files are
transcoded from pyarrow's UTF-8 chunk by chunk. JSON lines are assembled with Arrow kernels,
keys in header order, non-ASCII unescaped. Parquet keeps column types (zstd, no pandas
metadata). XLSX goes through xlsxwriter in constant-memory mode with a fixed `created`
property, and spills into further sheets past Excel's row limit; record numbers then run on
across sheets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import xlsxwriter

from purecredit.synth.sourcespec import Encoding, Format

Frame: TypeAlias = pd.DataFrame | pa.Table

CHUNK_ROWS = 200_000  # rows per chunk at most
CHUNK_BYTES = 16 << 20  # table bytes per chunk, about
XLSX_MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows per sheet, less the header row
XLSX_CREATED = datetime(2024, 1, 1)  # fixed document property: xlsx bytes must not carry "now"
_HASH_BLOCK = 1 << 20
_SCAN_BLOCK = 1 << 22  # bytes searched for line feeds at a time

# Control characters JSON (RFC 8259) requires escaped, beyond the short forms handled first.
_JSON_SHORT = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_JSON_OTHER_CONTROL = [chr(c) for c in range(0x20) if chr(c) not in "\n\r\t"]
_JSON_NEEDS_ESCAPE = r'[\\"\x00-\x1f]'


@dataclass(frozen=True)
class WrittenFile:
    """One delivered file: POSIX path relative to the delivery root, data records, sha256."""

    path: str
    rows: int
    sha256: str


def as_table(frame: Frame) -> pa.Table:
    """Arrow view of a frame, without the index or pandas metadata (they would leak into bytes)."""
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    return table.replace_schema_metadata(None)


def write_file(
    frame: Frame,
    root: Path,
    rel_path: str,
    *,
    fmt: Format,
    encoding: Encoding = "utf-8",
    line_overrides: Mapping[int, bytes] | None = None,
) -> WrittenFile:
    """Write `frame` in `fmt`; the one dispatch point so callers never branch on format."""
    if fmt == "csv":
        return write_csv(frame, root, rel_path, encoding=encoding, line_overrides=line_overrides)
    if encoding != "utf-8":
        raise ValueError(f"{fmt} is always written as UTF-8, not {encoding}")
    if fmt == "jsonl":
        return write_jsonl(frame, root, rel_path, line_overrides=line_overrides)
    if line_overrides:
        raise ValueError(f"{fmt} has no lines to override")
    if fmt == "parquet":
        return write_parquet(frame, root, rel_path)
    return write_xlsx(frame, root, rel_path)


def write_csv(
    frame: Frame,
    root: Path,
    rel_path: str,
    *,
    encoding: Encoding = "utf-8",
    line_overrides: Mapping[int, bytes] | None = None,
    chunk_rows: int | None = None,
) -> WrittenFile:
    """CSV with a header line, in UTF-8 or GBK; overrides replace whole record lines."""
    table = as_table(frame)
    return write_text(
        [table],
        root,
        rel_path,
        fmt="csv",
        schema=table.schema,
        rows=table.num_rows,
        encoding=encoding,
        line_overrides=line_overrides,
        chunk_rows=chunk_rows,
    )


def write_jsonl(
    frame: Frame,
    root: Path,
    rel_path: str,
    *,
    line_overrides: Mapping[int, bytes] | None = None,
    chunk_rows: int | None = None,
) -> WrittenFile:
    """JSON lines in UTF-8, one object per record, keys in column order, nulls as `null`."""
    table = as_table(frame)
    return write_text(
        [table],
        root,
        rel_path,
        fmt="jsonl",
        schema=table.schema,
        rows=table.num_rows,
        line_overrides=line_overrides,
        chunk_rows=chunk_rows,
    )


def write_text(
    parts: Iterable[Frame],
    root: Path,
    rel_path: str,
    *,
    fmt: Format,
    schema: pa.Schema,
    rows: int,
    encoding: Encoding = "utf-8",
    line_overrides: Mapping[int, bytes] | None = None,
    chunk_rows: int | None = None,
) -> WrittenFile:
    """CSV or JSON lines of a table handed over in consecutive parts (`rows` in all, columns as
    in `schema`), so the whole file never has to be in memory; the bytes are those of the
    whole table written at once, as `write_csv` and `write_jsonl` do."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"{fmt} is not a text format")
    if fmt == "jsonl" and encoding != "utf-8":
        raise ValueError(f"{fmt} is always written as UTF-8, not {encoding}")
    overrides = _checked_overrides(line_overrides, rows)
    prefixes = _json_key_prefixes(schema.names)
    start = 0
    with _HashingFile(root, rel_path) as out:
        if fmt == "csv":
            out.write(_encode(_csv_bytes(schema.empty_table(), header=True), encoding))
        for part in parts:
            table = as_table(part)
            step = chunk_rows or rows_per_chunk(table)
            for at in range(0, table.num_rows, step):
                chunk = table.slice(at, step)
                if fmt == "csv":
                    data = _encode(_csv_bytes(chunk, header=False), encoding)
                else:
                    data = _string_bytes(_json_lines(chunk, prefixes))
                wanted = _overrides_in(overrides, start, chunk.num_rows)
                pieces = _splice_lines(data, start, chunk.num_rows, wanted) if wanted else [data]
                if pieces is None and fmt == "jsonl":  # JSON escapes newlines: a bug
                    raise AssertionError("JSON record spans more than one line")
                if pieces is None:  # a value holds a line break: splice record by record
                    pieces = [_csv_segments(chunk, start, wanted, encoding)]
                for piece in pieces:
                    out.write(piece)
                del data, pieces
                start += chunk.num_rows
    if start != rows:
        raise ValueError(f"{rel_path}: parts held {start} records, not {rows}")
    return WrittenFile(_posix(rel_path), rows, out.hexdigest)


def write_parquet(frame: Frame, root: Path, rel_path: str) -> WrittenFile:
    """Parquet with zstd; column types are kept as given (dates arrive here as ISO text)."""
    table = as_table(frame)
    path = _prepare(root, rel_path)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
    return WrittenFile(_posix(rel_path), table.num_rows, _file_sha256(path))


def write_xlsx(
    frame: Frame,
    root: Path,
    rel_path: str,
    *,
    max_sheet_rows: int = XLSX_MAX_DATA_ROWS,
    created: datetime = XLSX_CREATED,
) -> WrittenFile:
    """XLSX, one header row per sheet; text stays text (no formulas, URLs or number guessing)."""
    table = as_table(frame)
    path = _prepare(root, rel_path)
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    workbook = xlsxwriter.Workbook(str(path), options)
    workbook.set_properties({"created": created})
    n_sheets = max(1, -(-table.num_rows // max_sheet_rows))
    for sheet in range(n_sheets):
        worksheet = workbook.add_worksheet(f"Sheet{sheet + 1}")
        worksheet.write_row(0, 0, table.column_names)
        row = 1
        part = table.slice(sheet * max_sheet_rows, max_sheet_rows)
        for batch in part.to_batches(max_chunksize=10_000):
            for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                worksheet.write_row(row, 0, values)
                row += 1
    workbook.close()
    return WrittenFile(_posix(rel_path), table.num_rows, _file_sha256(path))


def record_texts(frame: Frame, fmt: Format) -> list[str]:
    """Each record of `frame` as the CSV or JSON-lines writer would put it, without line ends.

    Line defects are built from these texts, so a damaged line differs from its clean form only
    by the damage. A record is one line only if no value holds a line break; callers damage
    only such records.
    """
    table = as_table(frame)
    if fmt == "jsonl":
        lines = _json_lines(table, _json_key_prefixes(table.column_names)).to_pylist()
        return [line.removesuffix("\n") for line in lines]
    if fmt != "csv":
        raise ValueError(f"{fmt} has no text lines")
    texts = _csv_bytes(table, header=False).decode("utf-8").split("\n")[:-1]
    if len(texts) != table.num_rows:
        raise ValueError("a value holds a line break, so records are not lines")
    return texts


def rows_per_chunk(table: pa.Table) -> int:
    """Rows of `table` to handle at a time: about `CHUNK_BYTES` of it, `CHUNK_ROWS` at most."""
    row_bytes = max(int(table.nbytes) // max(int(table.num_rows), 1), 1)
    return max(1, min(CHUNK_ROWS, CHUNK_BYTES // row_bytes))


def _csv_bytes(table: pa.Table, *, header: bool) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, batch_size=8192))
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _encode(data: bytes, encoding: Encoding) -> bytes:
    """Transcode pyarrow's UTF-8 output; ASCII-only chunks need no work in either encoding."""
    if encoding == "utf-8" or data.isascii():
        return data
    text = data.decode("utf-8")
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as error:
        bad = text[error.start : error.end]
        raise ValueError(f"{bad!r} cannot be written in {encoding}") from error


def _csv_segments(
    chunk: pa.Table, start: int, wanted: Mapping[int, bytes], encoding: Encoding
) -> bytes:
    parts: list[bytes] = []
    position = 0
    for record in sorted(wanted):
        index = record - 1 - start
        clean = chunk.slice(position, index - position)
        parts += [_encode(_csv_bytes(clean, header=False), encoding), wanted[record], b"\n"]
        position = index + 1
    parts.append(_encode(_csv_bytes(chunk.slice(position), header=False), encoding))
    return b"".join(parts)


def _checked_overrides(overrides: Mapping[int, bytes] | None, rows: int) -> dict[int, bytes]:
    checked = dict(overrides or {})
    for record, raw in checked.items():
        if not 1 <= record <= rows:
            raise ValueError(f"line override for record {record}, file has {rows} records")
        if b"\n" in raw:
            raise ValueError(f"line override for record {record} contains a line break")
    return checked


def _overrides_in(overrides: Mapping[int, bytes], start: int, rows: int) -> dict[int, bytes]:
    if not overrides:
        return {}
    return {r: raw for r, raw in overrides.items() if start < r <= start + rows}


def _splice_lines(
    data: bytes, start: int, rows: int, wanted: Mapping[int, bytes]
) -> list[bytes | memoryview] | None:
    """A chunk's bytes with record lines replaced, as pieces to write one after the other, or
    None when records and lines do not line up.

    Line ends are found in one scan and the clean stretches between replaced lines are views
    of `data`, so a chunk is neither split into a Python object per line nor copied.
    """
    ends = _line_ends(data)
    if ends.size != rows:
        return None
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    position = 0
    for record in sorted(wanted):
        index = record - 1 - start
        first = 0 if index == 0 else int(ends[index - 1]) + 1
        pieces += [view[position:first], wanted[record]]
        position = int(ends[index])
    pieces.append(view[position:])
    return pieces


def _line_ends(data: bytes) -> npt.NDArray[np.intp]:
    """Offsets of the line feeds in `data`, scanned a block at a time (no data-sized mask)."""
    view = np.frombuffer(data, dtype=np.uint8)
    found = [
        np.flatnonzero(view[at : at + _SCAN_BLOCK] == 0x0A) + at
        for at in range(0, view.size, _SCAN_BLOCK)
    ]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _json_key_prefixes(names: list[str]) -> list[str]:
    keys = [json.dumps(name, ensure_ascii=False) for name in names]
    return ["{" + keys[0] + ":"] + ["," + key + ":" for key in keys[1:]]


def _json_lines(table: pa.Table, prefixes: list[str]) -> pa.Array:
    parts: list[pa.Array | pa.Scalar] = []
    for prefix, column in zip(prefixes, table.columns, strict=True):
        parts += [pa.scalar(prefix, pa.large_string()), _json_values(column)]
    parts.append(pa.scalar("}\n", pa.large_string()))
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    lines = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
    return lines.cast(pa.large_string())


def _json_values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _json_escape(column.cast(pa.large_string()))
        quote = pa.scalar('"', pa.large_string())
        values = pc.binary_join_element_wise(quote, text, quote, pa.scalar("", pa.large_string()))
    elif pa.types.is_floating(kind):
        # JSON has no NaN or infinity; a non-finite number is delivered as null.
        values = pc.if_else(pc.is_finite(column), column.cast(pa.large_string()), None)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        values = column.cast(pa.large_string())
    else:
        raise TypeError(f"JSON lines take text, numbers or booleans, not {kind}")
    return pc.fill_null(values, "null")


def _json_escape(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Escape what RFC 8259 requires; most chunks need nothing, and one scan tells."""
    if not pc.any(pc.match_substring_regex(text, _JSON_NEEDS_ESCAPE)).as_py():
        return text
    for plain, escaped in _JSON_SHORT:
        text = pc.replace_substring(text, plain, escaped)
    for char in _JSON_OTHER_CONTROL:
        text = pc.replace_substring(text, char, f"\\u{ord(char):04x}")
    return text


def _string_bytes(array: pa.Array) -> bytes:
    """The concatenated values of a string array, straight from its data buffer."""
    if len(array) == 0:
        return b""
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)
    first, last = int(offsets[array.offset]), int(offsets[array.offset + len(array)])
    return bytes(data_buffer[first:last])


class _HashingFile:
    """A binary file that hashes what goes through it, so no file is read twice."""

    def __init__(self, root: Path, rel_path: str) -> None:
        self._path = _prepare(root, rel_path)
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None

    def __enter__(self) -> _HashingFile:
        self._handle = self._path.open("wb")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, data: bytes | memoryview) -> None:
        assert self._handle is not None, "write outside the with block"
        self._handle.write(data)
        self._digest.update(data)

    @property
    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _prepare(root: Path, rel_path: str) -> Path:
    relative = PurePosixPath(rel_path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{rel_path!r} must be a relative path inside the delivery root")
    path = root.joinpath(*relative.parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _posix(rel_path: str) -> str:
    return PurePosixPath(rel_path).as_posix()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
