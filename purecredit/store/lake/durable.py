"""File-system steps that survive a crash: fsynced writes, atomic renames, one writer at a time.

POSIX makes a rename atomic, but neither the renamed entry nor a new file's bytes are on disk
until the file and its directory are fsynced; without that, a power cut after the marker is
written could leave a marker pointing at files that never reached the disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from purecredit.core.errors import Conflict


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create `path` and any missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        fsync_dir(directory.parent)


def write_durably(path: Path, data: bytes | memoryview) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Readers see the old file or the whole new one, never a torn write, even after a crash."""
    temporary = path.with_name(path.name + ".tmp")
    write_durably(temporary, json.dumps(payload, indent=2, sort_keys=True).encode())
    os.replace(temporary, path)
    fsync_dir(path.parent)


# Roots this process holds the write lock on. flock() locks belong to an open file, so a second
# lock taken by the same process would wait on itself forever; it is refused instead.
_held: set[Path] = set()
_held_guard = threading.Lock()


@contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """Exclusive right to change the lake: writers in other processes wait their turn.

    `recover()` deletes whatever staging it finds, so it must never run beside a writer. The
    kernel drops an flock when its process dies, so a killed writer never leaves it held.
    """
    key = root.resolve()
    with _held_guard:
        if key in _held:
            raise Conflict(f"this process is already writing to the lake at {root}")
        _held.add(key)
    try:
        fd = os.open(root / "_lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    finally:
        with _held_guard:
            _held.discard(key)
