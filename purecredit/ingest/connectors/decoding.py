"""Bytes in a declared encoding -> UTF-8, whatever the bytes are, line by line in effect but never
in a Python loop over lines.

The common paths are one call: a UTF-8 file is validated by Arrow without a copy; an ASCII GBK
file needs nothing; any other GBK file is decoded block by block with an error handler that
marks each undecodable run with a lone surrogate (no valid decode produces one) and notes its
byte offset. Only a line holding a mark is touched: it is replaced by a stand-in the caller
chooses, and reported as a `BadLine` with its physical line number, so a steward can open the
file at it. A UTF-8 file that does not validate is checked by strict decodes from one bad line
to the next, in blocks, so an error costs one block, not the rest of the file.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

BOM = b"\xef\xbb\xbf"
_MARK = "\udcff"  # a lone surrogate: valid UTF-8 and GBK never decode to one
_MARK_UTF8 = _MARK.encode("utf-8", "surrogatepass")
_HANDLER = "purecredit.undecodable"
_VALIDATE_BLOCK = 1 << 16  # bytes per strict UTF-8 decode on the slow path
_TRANSCODE_BLOCK = 1 << 24  # bytes per GBK decode: bounds the size of the str held at once
_RAW_LIMIT = 65_536  # characters of a rejected line kept for the steward (garbage can be huge)
_NAMES = {"utf-8": "UTF-8", "gbk": "GBK"}
_found = threading.local()  # offsets the error handler saw, per thread


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _found.at.append(exc.start)
    return _MARK, exc.end


codecs.register_error(_HANDLER, _mark)


@dataclass(frozen=True)
class BadLine:
    """A line that does not decode: its 1-based physical line number and its text, read in
    the other common encoding when it is clean text there (`reads_as`), else with U+FFFD."""

    line: int
    raw: str
    reads_as: str | None = None


StandIn = Callable[[int, BadLine], str]  # (index in the bad-line list, the line) -> its text


class Decoder:
    """Yields the file as UTF-8 blocks that end at line breaks, undecodable lines replaced by
    ``stand_in``; `bad` lists those lines once the blocks are consumed. Blocks let a caller
    parse one while the next is decoded."""

    def __init__(self, data: bytes, encoding: str, stand_in: StandIn) -> None:
        self.data = data.removeprefix(BOM) if encoding == "utf-8" else data
        self.encoding = encoding
        self.stand_in = stand_in
        self.bad: list[BadLine] = []

    def blocks(self) -> Iterator[bytes]:
        if self.encoding == "utf-8":
            yield from [self.data] if _valid_utf8(self.data) else self._validate()
        elif self.data.isascii():
            yield self.data
        else:
            yield from self._transcode()

    def _validate(self) -> Iterator[bytes]:
        """UTF-8 that failed validation: good spans are kept as they are, bad lines replaced."""
        data, view, numbers = self.data, memoryview(self.data), _LineNumbers(self.data)
        pos = 0  # first byte not yet passed on, always a line start
        while pos < len(data):
            stop = data.find(b"\n", pos + _VALIDATE_BLOCK) + 1 or len(data)
            try:
                str(view[pos:stop], "utf-8")
            except UnicodeDecodeError as exc:
                start, end = _line_around(data, pos, pos + exc.start, len(data))
                found = _bad_line(numbers.at(start), data[start:end], "utf-8")
                yield bytes(view[pos:start]) + self._replace(found)
                pos = end
                continue
            yield bytes(view[pos:stop])
            pos = stop

    def _transcode(self) -> Iterator[bytes]:
        """One decode per block; the i-th marked line of a block is its i-th bad byte line."""
        data, view, numbers = self.data, memoryview(self.data), _LineNumbers(self.data)
        pos = 0
        while pos < len(data):
            stop = data.find(b"\n", pos + _TRANSCODE_BLOCK) + 1 or len(data)
            _found.at = []
            utf8 = str(view[pos:stop], self.encoding, _HANDLER).encode("utf-8", "surrogatepass")
            pieces: list[bytes] = []
            cursor = 0  # in `utf8`: first byte not yet passed on
            for start, end in _bad_spans(data, pos, stop, _found.at):
                hit = utf8.find(_MARK_UTF8, cursor)
                line_start, line_end = _line_around(utf8, cursor, hit, len(utf8))
                found = _bad_line(numbers.at(start), data[start:end], self.encoding)
                pieces += [utf8[cursor:line_start], self._replace(found)]
                cursor = line_end
            yield b"".join([*pieces, utf8[cursor:]]) if pieces else utf8
            pos = stop

    def _replace(self, found: BadLine) -> bytes:
        text = self.stand_in(len(self.bad), found)
        self.bad.append(found)
        return text.encode()


def decode(data: bytes, encoding: str, stand_in: StandIn) -> tuple[bytes, list[BadLine]]:
    """The whole file as UTF-8 at once (see `Decoder`)."""
    decoder = Decoder(data, encoding, stand_in)
    return b"".join(decoder.blocks()), decoder.bad


def not_valid(lines: Sequence[BadLine], encoding: str) -> str:
    """The steward's reason for a record holding these lines."""
    if len(lines) == 1:
        reason = f"line {lines[0].line} is not valid {name(encoding)}"
    else:
        numbers = ", ".join(str(b.line) for b in lines)
        reason = f"lines {numbers} are not valid {name(encoding)}"
    other = {b.reads_as for b in lines}
    if len(other) == 1 and None not in other:
        reason += f" (it reads as {name(str(other.pop()))})"
    return reason


def name(encoding: str) -> str:
    return _NAMES.get(encoding, encoding.upper())


def clip(text: str) -> str:
    return text if len(text) <= _RAW_LIMIT else text[:_RAW_LIMIT] + "…"


class _LineNumbers:
    """Physical line numbers of ascending byte offsets, counted once over the file."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._counted = 0
        self._line = 1

    def at(self, offset: int) -> int:
        self._line += self._data.count(b"\n", self._counted, offset)
        self._counted = offset
        return self._line


def _valid_utf8(data: bytes) -> bool:
    """One vectorised check of the whole buffer, without copying it."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    array = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _bad_spans(data: bytes, pos: int, stop: int, offsets: list[int]) -> list[tuple[int, int]]:
    """Byte ranges of the distinct lines holding the (ascending) error offsets."""
    spans: list[tuple[int, int]] = []
    for offset in offsets:
        at = pos + offset
        if spans and at < spans[-1][1]:
            continue  # another error on the same line
        spans.append(_line_around(data, pos, at, stop))
    return spans


def _line_around(text: bytes, floor: int, at: int, ceiling: int) -> tuple[int, int]:
    """Start and end (the line break's index) of the line holding index `at`."""
    start, end = text.rfind(b"\n", floor, at), text.find(b"\n", at, ceiling)
    return start + 1 or floor, ceiling if end < 0 else end


def _bad_line(line: int, raw: bytes, encoding: str) -> BadLine:
    """The line as a steward should see it: in the other common encoding when it reads cleanly
    there (the usual cause: a system writing UTF-8 into a GBK feed, or the reverse)."""
    raw = raw.removesuffix(b"\r")
    other = "gbk" if encoding == "utf-8" else "utf-8"
    try:
        return BadLine(line, clip(raw.decode(other)), other)
    except UnicodeDecodeError:
        return BadLine(line, clip(raw.decode(encoding, "replace")))
