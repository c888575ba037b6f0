"""CSV files: every line accounted for as a row or a reject, parsed by pyarrow in parallel.

Every physical line of the body is one record (deliveries hold no line break inside a value).
Decoding (`decoding.decode`) replaces each undecodable line by a stand-in with the wrong number
of fields that carries the line's index, and `quoting.checked` does the same for each line whose
quoting is not RFC 4180 (a stray or unclosed quote), so the one mechanism that rejects a short or
long line (pyarrow's invalid-row handler) rejects them too, at their record numbers. No quote
then spans a line break, so the body can be cut at any line break into chunks parsed side by
side, each single-threaded (the handler only knows record numbers then). Records are counted as
the synthetic county's defect log counts them: header excluded, blank lines are no records.
Every value is text; an empty field is null.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from purecredit.ingest.connectors.base import RECORD, rejects_table
from purecredit.ingest.connectors.decoding import BOM, Decoder, clip, decode, not_valid
from purecredit.ingest.connectors.quoting import checked, stray

_CHUNK = 1 << 26  # bytes of body per parallel parse
_BLOCK = 1 << 24  # bytes per pyarrow block; a longer record retries with one block per chunk

Invalid = tuple[int, int, str]  # (record number, fields found, text) of a row pyarrow skipped
Reject = tuple[int, str, str]  # (record number, raw, reason)
Parsed = tuple[pa.Table, list[Invalid], dict[int, str]]  # rows, skipped rows, bad-quote lines


def read_csv(data: bytes, encoding: str, file: str) -> tuple[pa.Table, pa.Table]:
    """Records keyed by header (every value text, empty -> null) and the unreadable records."""
    headers = _csv_header(data, encoding)
    names = [f"c{i}" for i in range(len(headers))]
    token = secrets.token_hex(8)
    marker, quote = f"\x00{token}:", f"\x00{token}q"
    # A stand-in has one field too few (two when one is expected), so the parser rejects it.
    commas = "," * (len(headers) - 2 if len(headers) > 1 else 1)
    decoder = Decoder(data, encoding, lambda k, _: f"{marker}{k}\x00{commas}")
    quoted = _stand_in(f"{quote}{{}}\x00{commas}")
    # Chunks are parsed by the pool (pyarrow releases the GIL) while the next is decoded.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        parsing = [pool.submit(_parse_chunk, c, n, names, quoted) for c, n in _chunks(decoder)]
        parsed = _joined([job.result() for job in parsing], names)
    bad = decoder.bad
    if parsed is None:  # pyarrow gave up on the file: every line becomes a reject
        return _unparsed(decode(data, encoding, lambda _, line: line.raw)[0], headers, file)
    table, invalid, strays = parsed
    table = table.rename_columns(headers).append_column(RECORD, _numbers(table, invalid))
    rejects: list[Reject] = []
    for number, found, text in invalid:
        keys = _stand_ins(text, marker, len(bad))
        line = _stray_line(text, quote)
        if keys:
            lines = [bad[k] for k in keys]
            rejects.append((number, "\n".join(b.raw for b in lines), not_valid(lines, encoding)))
        elif line in strays:
            rejects.append((number, strays[line], stray(line, strays[line])))
        else:
            reason = f"expected {len(headers)} fields, found {found}"
            rejects.append((number, clip(text), reason))
    return table, rejects_table(file, *_columns(rejects))


def _stand_in(template: str) -> Callable[[int], str]:
    return template.format


def _csv_header(data: bytes, encoding: str) -> list[str]:
    end = data.find(b"\n")
    text = (data if end < 0 else data[:end]).decode(encoding, "replace")
    text = text.removeprefix("\ufeff").removesuffix("\r")
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error:
        fields = text.split(",")
    return fields or [""]


def _chunks(decoder: Decoder) -> Iterator[tuple[pa.Buffer, int]]:
    """The body (after the header line) in chunks of about _CHUNK bytes cut after a line break,
    each with the physical number of its first line. No chunk starts with a BOM: pyarrow would
    drop it, so a body starting with one gets a blank line (numbered 1) first."""
    pending: list[memoryview] = []
    size = 0
    line = first = 2  # physical numbers: of the line at `pos`, of the pending chunk's first
    in_header = at_body_start = True
    for block in decoder.blocks():
        pos = 0
        if in_header:
            pos = block.find(b"\n") + 1
            if pos == 0:
                continue  # the header line goes on in the next block
            in_header = False
        if at_body_start and pos < len(block):
            at_body_start = False
            if block.startswith(BOM, pos):
                pending, size, first = [memoryview(b"\n")], 1, 1
        view = memoryview(block)
        while (probe := pos + max(_CHUNK - size, _CHUNK >> 6)) < len(block):
            cut = block.find(b"\n", probe) + 1
            if cut in (0, len(block)):
                break  # no cut at a block's end: the next block might start with a BOM
            first = first if pending else line
            line += block.count(b"\n", pos, cut)
            if block.startswith(BOM, cut):  # not a place to cut: look further on
                pending.append(view[pos:cut])
                size += cut - pos
            elif pending:
                yield pa.py_buffer(b"".join([*pending, view[pos:cut]])), first
                pending, size = [], 0
            else:
                yield pa.py_buffer(block).slice(pos, cut - pos), first  # no copy
            pos = cut
        if pos < len(block):
            first = first if pending else line
            line += block.count(b"\n", pos)
            pending.append(view[pos:])
            size += len(block) - pos
    if pending:
        yield pa.py_buffer(b"".join(pending)), first


def _joined(results: list[Parsed | None], names: list[str]) -> Parsed | None:
    """One table from the chunks' tables; record numbers run on from chunk to chunk."""
    tables = [pa.table({n: pa.array([], pa.string()) for n in names})]
    invalid: list[Invalid] = []
    strays: dict[int, str] = {}
    offset = 0
    for result in results:
        if result is None:
            return None
        table, found, lines = result
        invalid += [(number + offset, fields, text) for number, fields, text in found]
        strays.update(lines)
        offset += table.num_rows + len(found)
        tables.append(table)
    return pa.concat_tables(tables), invalid, strays


def _parse_chunk(
    chunk: pa.Buffer, first: int, names: list[str], stand_in: Callable[[int], str]
) -> Parsed | None:
    chunk, strays = checked(chunk, first, stand_in)
    invalid: list[Invalid] = []

    def skip(row: pacsv.InvalidRow) -> str:
        invalid.append((int(row.number or 0), int(row.actual_columns), str(row.text)))
        return "skip"

    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    parse = pacsv.ParseOptions(newlines_in_values=False, invalid_row_handler=skip)
    for block in dict.fromkeys((_BLOCK, min(chunk.size + 1, (1 << 31) - 1))):
        invalid.clear()
        read = pacsv.ReadOptions(use_threads=False, column_names=names, block_size=block)
        try:
            table = pacsv.read_csv(
                pa.BufferReader(chunk),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return table, invalid, strays
    return None


def _numbers(table: pa.Table, invalid: list[Invalid]) -> pa.Array:
    """Record numbers of the parsed rows: every number the skipped rows did not take."""
    taken = np.ones(table.num_rows + len(invalid), dtype=bool)
    taken[np.array([number - 1 for number, _, _ in invalid], dtype=np.int64)] = False
    return pa.array(np.flatnonzero(taken) + 1)


def _stand_ins(text: str, marker: str, count: int) -> list[int]:
    if marker not in text:
        return []
    found = (int(k) for k in re.findall(re.escape(marker) + r"(\d+)\x00", text))
    return [k for k in found if k < count]


def _stray_line(text: str, quote: str) -> int | None:
    found = re.search(re.escape(quote) + r"(\d+)\x00", text) if quote in text else None
    return int(found.group(1)) if found else None


def _unparsed(utf8: bytes, headers: list[str], file: str) -> tuple[pa.Table, pa.Table]:
    """Last resort when pyarrow rejects the file as a whole: one reject per non-blank line."""
    lines = [line.removesuffix(b"\r") for line in utf8.split(b"\n")[1:]]
    texts = [clip(line.decode("utf-8", "replace")) for line in lines if line]
    numbers = [line + 2 for line, text in enumerate(lines) if text]
    reasons = [f"line {n} could not be parsed as CSV" for n in numbers]
    empty = pa.table({h: pa.array([], pa.string()) for h in headers})
    empty = empty.append_column(RECORD, pa.array([], pa.int64()))
    return empty, rejects_table(file, list(range(1, len(texts) + 1)), texts, reasons)


def _columns(rejects: list[Reject]) -> tuple[list[int | None], list[str | None], list[str]]:
    rejects.sort(key=lambda r: r[0])
    return [r[0] for r in rejects], [r[1] for r in rejects], [r[2] for r in rejects]
