"""JSON lines: one record per non-blank line, judged and extracted by DuckDB.

DuckDB decides per line whether it is valid JSON and an object (one parse), lists the keys, and
pulls every key's value out as JSON text in one more parse per line; Arrow then types each
column from its JSON texts (int64, float64 or bool when every value agrees, else text). So a
line of garbage, or a key whose type changes from line to line, never stops the read. Records
are numbered over non-blank lines; a line that does not decode is rejected at its number.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.connectors.base import RECORD, rejects_table
from purecredit.ingest.connectors.decoding import clip, decode, not_valid

_KIND = """CASE WHEN bad THEN 'UNDECODABLE' ELSE coalesce(try(json_type(line)), 'INVALID') END"""
_NOUNS = {"ARRAY": "an array", "VARCHAR": "a string", "BOOLEAN": "a boolean", "NULL": "null"}


def read_jsonl(data: bytes, encoding: str, file: str) -> tuple[pa.Table, pa.Table]:
    """Records keyed by JSON key, numbers and booleans typed, and the unreadable lines."""
    utf8, bad = decode(data, encoding, lambda _, line: line.raw)
    lines = _lines(utf8, {b.line for b in bad})
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("lines", lines)
        kinds = con.sql(f"SELECT {_KIND} AS kind FROM lines ORDER BY record").to_arrow_table()
        is_object = pc.equal(kinds.column("kind"), "OBJECT")
        rejected = lines.append_column("kind", kinds.column("kind")).filter(pc.invert(is_object))
        con.register("objects", lines.filter(is_object))
        table = _extract(con)
    finally:
        con.close()
    undecodable = {b.line: b for b in bad}
    rows = rejected.select(["record", "no", "line", "kind"]).to_pylist()
    texts, reasons = [], []
    for row in rows:
        found = undecodable.get(row["no"])
        texts.append(found.raw if found else clip(row["line"].rstrip("\r\n")))
        reasons.append(not_valid([found], encoding) if found else _json_reason(row))
    return table, rejects_table(file, [r["record"] for r in rows], texts, reasons)


def _lines(utf8: bytes, bad: set[int]) -> pa.Table:
    """Non-blank lines with their physical line number, record number and undecodable flag."""
    data = np.frombuffer(utf8, dtype=np.uint8)
    offsets = np.concatenate([[0], np.flatnonzero(data == 0x0A) + 1]).astype(np.int64)
    if offsets[-1] != data.size:
        offsets = np.append(offsets, data.size)
    ends = offsets[1:]
    content = np.diff(offsets)
    if ends.size:  # the line's length without its line break and a carriage return before it
        broken = data[ends - 1] == 0x0A
        content = content - broken
        last = np.maximum(ends - 1 - broken, 0)
        content = content - ((content > 0) & (data[last] == 0x0D))
    keep = content > 0
    numbers = np.arange(1, ends.size + 1, dtype=np.int64)
    texts = pa.Array.from_buffers(
        pa.large_string(), ends.size, [None, pa.py_buffer(offsets), pa.py_buffer(utf8)]
    )
    flagged = np.fromiter(bad, dtype=np.int64, count=len(bad))
    return pa.table(
        {
            "line": texts.filter(pa.array(keep)),
            "no": numbers[keep],
            "record": np.arange(1, int(keep.sum()) + 1, dtype=np.int64),
            "bad": np.isin(numbers[keep], flagged),
        }
    )


def _extract(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """One column per key seen (first seen, first), each parsed once per line by DuckDB and
    typed in Arrow from its JSON text."""
    keys = [
        str(key)
        for (key,) in con.sql(
            "SELECT key FROM (SELECT record, unnest(json_keys(line)) AS key FROM objects) "
            "GROUP BY key ORDER BY min(record), key"
        ).fetchall()
    ]
    if not keys:
        return (
            con.sql("SELECT record FROM objects ORDER BY record")
            .to_arrow_table()
            .rename_columns([RECORD])
        )
    paths = ["/" + key.replace("~", "~0").replace("/", "~1") for key in keys]
    values = ", ".join(f"v[{i + 1}]::VARCHAR AS c{i}" for i in range(len(keys)))
    query = (
        f"SELECT record, {values} FROM "
        "(SELECT record, json_extract(line, $paths) AS v FROM objects) ORDER BY record"
    )
    found = con.sql(query, params={"paths": paths}).to_arrow_table()
    columns = [_typed(found.column(i + 1)) for i in range(len(keys))]
    return pa.table([found.column(0), *columns], names=[RECORD, *keys])


def _typed(column: pa.ChunkedArray) -> pa.Array:
    """A column of JSON texts as int64, float64 or bool when every value agrees, else text
    (strings unquoted, other values as their JSON text). JSON null is null."""
    text = column.combine_chunks()
    first = pc.utf8_slice_codeunits(text, 0, 1)
    text = pc.if_else(pc.equal(first, "n"), pa.scalar(None, pa.string()), text)
    starts = {c for c in pc.unique(first).to_pylist() if c is not None} - {"n"}
    if starts and starts <= {"t", "f"}:
        return pc.equal(text, "true")
    if starts and starts <= set("-0123456789"):
        kind = pa.float64() if pc.any(pc.match_substring_regex(text, "[.eE]")).as_py() else None
        for target in (kind or pa.int64(), pa.float64()):
            try:
                return pc.cast(text, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    quoted = pc.fill_null(pc.equal(first, '"'), False)
    if not pc.any(quoted).as_py():
        return text
    return pc.if_else(quoted, _unquote(text), text)


def _unquote(text: pa.Array) -> pa.Array:
    """JSON strings without their quotes; only values holding an escape go through `json`."""
    inner = pc.utf8_slice_codeunits(text, 1, -1)
    escaped = pc.fill_null(pc.match_substring(inner, "\\"), False)
    if not pc.any(escaped).as_py():
        return inner
    loaded = [_loads(v) for v in text.filter(escaped).to_pylist()]
    return pc.replace_with_mask(inner, escaped, pa.array(loaded, pa.string()))


def _loads(value: str | None) -> str | None:
    try:
        result = json.loads(value) if value is not None else None
    except ValueError:
        return value
    return result if isinstance(result, str) else value


def _json_reason(row: dict[str, Any]) -> str:
    if row["kind"] == "INVALID":
        return f"line {row['no']} is not valid JSON"
    return f"line {row['no']} is {_NOUNS.get(row['kind'], 'a number')}, not a JSON object"
