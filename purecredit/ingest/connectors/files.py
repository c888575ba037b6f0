"""The file connector: one delivered file (CSV, JSON lines, Parquet, XLSX) -> one `RawBatch`.

Record numbers are the ones a data steward and the synthetic county's defect log use: 1-based
data records, header excluded; XLSX numbers run on across sheets, each sheet's header row
excluded. A reader never raises on the file's content: what it cannot read becomes a reject
with a reason (a whole unreadable Parquet or XLSX file is one reject without a record number).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from purecredit.core.errors import Invalid
from purecredit.ingest.catalog import SourceDef
from purecredit.ingest.connectors.base import (
    RECORD,
    Delivered,
    RawBatch,
    no_rejects,
    rejects_table,
    relative_name,
    to_array,
    to_batch,
)
from purecredit.ingest.connectors.decoding import clip
from purecredit.ingest.connectors.delimited import read_csv
from purecredit.ingest.connectors.jsonlines import read_jsonl

logger = logging.getLogger(__name__)

Reader = Callable[[bytes, str, str], tuple[pa.Table, pa.Table]]
ENCODINGS = ("utf-8", "gbk")


def read_file(path: Path, root: Path, source: SourceDef) -> RawBatch:
    """Read one delivered file of `source`; `root` is the delivery root its name is relative to."""
    file = relative_name(path, root)
    delivered = read_delivered(path, fmt=source.format, encoding=source.encoding, file=file)
    batch = to_batch(delivered, source, file)
    if batch.unknown_headers:
        logger.warning("%s: %d unknown headers dropped", file, len(batch.unknown_headers))
    return batch


def read_delivered(path: Path, *, fmt: str, encoding: str, file: str) -> Delivered:
    """The file as delivered: columns named by header, plus ``_record``; and its rejects."""
    reader = _READERS.get(fmt)
    if reader is None:
        raise Invalid(f"no reader for format {fmt!r}", field="format")
    if encoding not in ENCODINGS:
        raise Invalid(f"no reader for encoding {encoding!r}", field="encoding")
    data = path.read_bytes()
    with ThreadPoolExecutor(1) as pool:  # sha256 releases the GIL: hash while parsing
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        table, rejects = reader(data, encoding, file)
        return Delivered(table, rejects, digest.result())


def _read_parquet(data: bytes, _encoding: str, file: str) -> tuple[pa.Table, pa.Table]:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # any bytes reach the parser: whatever it raises is a bad file
        return _unreadable(file, "Parquet", exc)
    records = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return table.append_column(RECORD, pa.array(records)), no_rejects()


def _read_xlsx(data: bytes, _encoding: str, file: str) -> tuple[pa.Table, pa.Table]:
    """Rows of every sheet in order; each sheet's first row is its header."""
    from openpyxl import load_workbook  # imported here: only XLSX sources need it

    from purecredit.ingest.connectors.xlsx_rows import sheet_rows

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # any bytes reach the parser: whatever it raises is a bad file
        return _unreadable(file, "XLSX", exc)
    try:
        parts: list[pa.Table] = []
        rejects: list[tuple[int, str, str]] = []
        record = 0
        for sheet in book.worksheets:
            rows = sheet_rows(sheet)
            header = next(rows, None)
            if header is None:
                continue
            table, record = _sheet(header, rows, record, rejects)
            parts.append(table)
    except Exception as exc:  # a damaged sheet deep inside the archive
        return _unreadable(file, "XLSX", exc)
    finally:
        book.close()
    table = (
        pa.concat_tables(parts, promote_options="permissive")
        if parts
        else pa.table({RECORD: pa.array([], pa.int64())})
    )
    columns = [r[0] for r in rejects], [r[1] for r in rejects], [r[2] for r in rejects]
    return table, rejects_table(file, *columns)


def _sheet(
    header: tuple[object, ...],
    rows: Iterable[tuple[object, ...]],
    record: int,
    rejects: list[tuple[int, str, str]],
) -> tuple[pa.Table, int]:
    names = [_text(v) if v is not None else "" for v in header]
    while names and names[-1] == "":  # trailing empty header cells are not columns
        names.pop()
    width = len(names)
    columns: list[list[object]] = [[] for _ in names]
    numbers: list[int] = []
    for row in rows:
        filled = [i for i, v in enumerate(row) if v is not None and v != ""]
        if not filled:
            continue  # an empty row is no record, as a blank line in a CSV is none
        record += 1
        if filled[-1] >= width:
            text = ",".join("" if v is None else _text(v) for v in row[: filled[-1] + 1])
            rejects.append((record, clip(text), f"expected {width} fields, found {filled[-1] + 1}"))
            continue
        numbers.append(record)
        for i in range(width):
            columns[i].append(row[i] if i < len(row) else None)
    arrays = [to_array([_plain(v) for v in values]) for values in columns]
    table = pa.table([*arrays, pa.array(numbers, pa.int64())], names=[*names, RECORD])
    return table, record


def _plain(value: object) -> object:
    """Date cells become ISO text, as every other format delivers dates."""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _text(value: object) -> str:
    plain = _plain(value)
    return plain if isinstance(plain, str) else str(plain)


def _unreadable(file: str, kind: str, exc: Exception) -> tuple[pa.Table, pa.Table]:
    # The parser's message is technical (it names a structure, not a value): its first line only.
    detail = (str(exc).splitlines() or [""])[0][:200]
    reason = f"the file is not a readable {kind} file ({type(exc).__name__}: {detail})"
    empty = pa.table({RECORD: pa.array([], pa.int64())})
    return empty, rejects_table(file, [None], [None], [clip(reason)])


_READERS: dict[str, Reader] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "parquet": _read_parquet,
    "xlsx": _read_xlsx,
}
