"""Reading the next delivered file in a helper process while the run works on this one.

Parsing is about a third of a run, and much of it holds the GIL (openpyxl for XLSX, the JSON
lines and GBK line handling), so a thread would not overlap it with validation and protection;
a process does. The helper is ``python -m purecredit.ingest.readahead``: it reads pickled
requests ``(path, root, source)`` on stdin and answers each, in order, with a pickled
``("ok", RawBatch)`` or ``("error", exception)`` on stdout (Arrow tables travel as IPC
buffers). It is a plain subprocess rather than a `multiprocessing` worker, so it never
re-imports the caller's main script and is never forked from a process that has threads. It
changes nothing on disk; when the run ends, or dies, its stdin closes and it exits.

Whatever goes wrong with the helper (it cannot start, dies, answers garbage), the file is
read in this process instead: read ahead or not, `ReadAhead.load` returns what `read_file`
returns.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from purecredit.ingest.catalog import SourceDef
from purecredit.ingest.connectors.base import RawBatch
from purecredit.ingest.connectors.files import read_file

logger = logging.getLogger(__name__)

Wanted = Callable[[int], bool]


class ReadAhead:
    """Loads ``files`` (``(source, path)`` in the order the run takes them) one by one,
    having asked the helper for the next ones before they are needed.

    ``wanted(i)`` says whether file ``i`` will be read at all (its batch is not committed);
    only those are read ahead. ``depth`` files at most are requested and not yet loaded.
    """

    def __init__(
        self,
        root: Path,
        files: Sequence[tuple[SourceDef, Path]],
        wanted: Wanted,
        *,
        depth: int = 2,
    ) -> None:
        self._root = root
        self._files = files
        self._wanted = wanted  # asked only when a file's turn to be read ahead comes
        self._next = 0  # the next file to consider reading ahead
        self._depth = depth
        self._asked: deque[int] = deque()  # requested, answers not read yet, in order
        self._helper: subprocess.Popen[bytes] | None = None
        self._started = False
        self._top_up(-1)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the helper (it may be parsing a file no one will ask for)."""
        helper, self._helper = self._helper, None
        if helper is None:
            return
        for stream in (helper.stdin, helper.stdout):
            if stream is not None:
                stream.close()
        helper.kill()
        helper.wait()

    def load(self, index: int) -> RawBatch:
        """File ``index``'s records: the helper's answer if it was asked, else read here."""
        found: RawBatch | None = None
        while self._asked and self._asked[0] <= index and self._helper is not None:
            asked = self._asked.popleft()
            answer = self._answer()
            if asked == index:
                found = answer
        self._top_up(index)
        if found is not None:
            return found
        source, path = self._files[index]
        return read_file(path, self._root, source)

    def _start(self) -> None:
        try:
            self._helper = subprocess.Popen(
                [sys.executable, "-m", "purecredit.ingest.readahead"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as error:
            logger.warning("no read-ahead process (%s): files are read in turn", error)

    def _top_up(self, index: int) -> None:
        """Keep ``depth`` wanted files after ``index`` requested."""
        self._next = max(self._next, index + 1)
        while self._next < len(self._files) and len(self._asked) < self._depth:
            ahead = self._next
            if not self._wanted(ahead):
                self._next += 1
                continue
            if not self._started:
                self._started = True
                self._start()
            if self._helper is None:
                return
            source, path = self._files[ahead]
            try:
                assert self._helper.stdin is not None
                pickle.dump((path, self._root, source), self._helper.stdin, protocol=5)
                self._helper.stdin.flush()
            except OSError:
                self._lost("could not send it a file")
                return
            self._asked.append(ahead)
            self._next += 1

    def _answer(self) -> RawBatch | None:
        """The helper's next answer; None (and the helper stopped) if it has none to give."""
        assert self._helper is not None and self._helper.stdout is not None
        try:
            status, payload = pickle.load(self._helper.stdout)
        except Exception:  # EOF or a torn pickle: the helper died
            self._lost("stopped answering")
            return None
        if status == "ok" and isinstance(payload, RawBatch):
            return payload
        if isinstance(payload, BaseException):
            raise payload
        self._lost(f"answered {status!r}")
        return None

    def _lost(self, what: str) -> None:
        logger.warning("the read-ahead process %s: files are read in turn", what)
        self._asked.clear()
        self.close()


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's loop: answer every request until stdin closes."""
    while True:
        try:
            path, root, source = pickle.load(requests)
        except EOFError:
            return
        answer: tuple[str, Any]
        try:
            answer = ("ok", read_file(path, root, source))
        except Exception as error:  # handed back, raised where the file was wanted
            answer = ("error", error)
        try:
            payload = pickle.dumps(answer, protocol=5)
        except Exception as error:  # an exception that does not pickle
            payload = pickle.dumps(("error", RuntimeError(repr(error))), protocol=5)
        answers.write(payload)
        answers.flush()


if __name__ == "__main__":
    # Answers go to the original stdout only; anything printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, out)
