"""RFC 4180 quoting, one physical line at a time, checked for a whole chunk in one vectorised pass.

A valid line is fields separated by commas, each either unquoted without any quote or fully
quoted with inner quotes doubled; no field holds a line break (a bare carriage return included:
pyarrow would end the record there), so a valid line is exactly one record to the parser. A line
that fails is replaced by a stand-in the caller chooses, keyed by its physical line number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.connectors.decoding import clip

_FIELD = r'(?:"(?:[^"\r\n]|"")*"|[^",\r\n]*)'
VALID_LINE = rf"^{_FIELD}(?:,{_FIELD})*\r?\n?$"  # RE2, as pyarrow.compute runs it


def checked(
    chunk: pa.Buffer, first: int, stand_in: Callable[[int], str]
) -> tuple[pa.Buffer, dict[int, str]]:
    """The UTF-8 `chunk` (its first line is physical line `first`) with every line that is not
    valid replaced by ``stand_in(line number)``; and those lines' text by line number."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    if data.size == 0:
        return chunk, {}
    ends = np.flatnonzero(data == ord("\n")) + 1
    offsets = np.concatenate([[0], ends[ends < data.size], [data.size]]).astype(np.int64)
    lines = pa.Array.from_buffers(
        pa.large_string(), offsets.size - 1, [None, pa.py_buffer(offsets), chunk]
    )
    valid = pc.match_substring_regex(lines, VALID_LINE).to_numpy(zero_copy_only=False)
    failed = np.flatnonzero(~valid)
    if failed.size == 0:
        return chunk, {}
    view = memoryview(chunk)
    pieces: list[bytes | memoryview] = []
    texts: dict[int, str] = {}
    cursor = 0
    for index in failed.tolist():
        start, end = int(offsets[index]), int(offsets[index + 1])
        text = bytes(view[start:end]).decode("utf-8", "replace")
        ending = "\n" if text.endswith("\n") else ""
        texts[first + index] = clip(text.removesuffix("\n").removesuffix("\r"))
        pieces += [view[cursor:start], (stand_in(first + index) + ending).encode()]
        cursor = end
    pieces.append(view[cursor:])
    return pa.py_buffer(b"".join(pieces)), texts


def stray(line: int, text: str) -> str:
    """The steward's reason for a line `checked` replaced (`text`: as `checked` kept it)."""
    if '"' in text:
        return f"line {line} has a stray or unclosed quote"
    return f"line {line} has a carriage return inside it"
