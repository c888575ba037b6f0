"""The lake: append-only Parquet, one committed batch at a time, read through DuckDB.

Layout under `root` (hive-partitioned, so Spark reads the same files)::

    <table>/source=<source>/batch=<batch_id>/part-00000.parquet
    _batches/<batch_id>.json      committed marker, written last; a batch exists iff it does
    _staging/<batch_id>/...       parts of the batch being written
    _lock                         flock held by the one process changing the lake

Commit renames each table's staged partition folder into place, then writes the marker
atomically. A crash before the marker leaves staging or orphaned partitions that no reader
sees (views list files from markers) and that `recover()` deletes.

Other readers of the folders (Spark, plain `read_parquet`) must likewise read only the
partitions named in `_batches/*.json`, and should declare `source` and `batch` as strings
(DuckDB `hive_types`), since a hex batch id can happen to be all digits.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from purecredit.core.errors import Conflict
from purecredit.store.lake.durable import fsync_dir, make_dirs, write_json_atomic, write_lock
from purecredit.store.lake.schemas import check_partition_value
from purecredit.store.lake.views import committed_files, create_views
from purecredit.store.lake.writer import BatchWriter, partition_dir

logger = logging.getLogger(__name__)


class Lake:
    """The lake at `root`. Cheap to build; nothing touches the disk until it is used."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._parsed: dict[str, dict[str, Any]] = {}

    @property
    def _markers(self) -> Path:
        return self.root / "_batches"

    @property
    def _staging(self) -> Path:
        return self.root / "_staging"

    def _marker(self, batch_id: str) -> Path:
        return self._markers / f"{check_partition_value('batch id', batch_id)}.json"

    def has_batch(self, batch_id: str) -> bool:
        """Whether the batch is committed: callers skip a delivery the lake already holds."""
        return self._marker(batch_id).is_file()

    @contextmanager
    def batch(self, source: str, batch_id: str) -> Iterator[BatchWriter]:
        """Write one batch; it becomes visible, whole, only when the block exits cleanly.

        Raises `Conflict` (changing nothing) when the batch is already committed. If the block
        raises, every part written is deleted. Writers in other processes wait for this one;
        a second batch (or `recover()`) opened by this process meanwhile raises `Conflict`.
        """
        check_partition_value("source", source)
        marker = self._marker(batch_id)
        make_dirs(self.root)
        with write_lock(self.root):
            if marker.exists():
                raise Conflict(f"batch {batch_id} is already committed to the lake")
            staging = self._staging / batch_id
            shutil.rmtree(staging, ignore_errors=True)  # a crashed attempt's leftovers
            writer = BatchWriter(staging, source, batch_id)
            try:
                yield writer
                writer.closed = True
                self._commit(writer, marker)
            finally:
                writer.closed = True
                shutil.rmtree(staging, ignore_errors=True)
                with suppress(OSError):  # leave no empty staging folder behind
                    self._staging.rmdir()

    def _commit(self, writer: BatchWriter, marker: Path) -> None:
        published: list[Path] = []
        try:
            for table in writer.parts:
                relative = partition_dir(table, writer.source, writer.batch_id)
                target = self.root / relative
                fsync_dir(writer.staging / relative)  # its part files' entries, once per folder
                make_dirs(target.parent)
                # Only an orphan of this batch's own crashed commit can be here: no marker.
                shutil.rmtree(target, ignore_errors=True)
                os.rename(writer.staging / relative, target)
                published.append(target)
                fsync_dir(target.parent)
            committed_at = datetime.now(UTC).isoformat(timespec="microseconds")
            make_dirs(self._markers)
            self._write_marker(marker, {**writer.manifest(), "committed_at": committed_at})
        except BaseException:
            # Once the marker is in place the batch is committed, even if a later fsync failed.
            if not marker.exists():
                for target in published:
                    shutil.rmtree(target, ignore_errors=True)
            raise
        logger.info("lake batch %s committed (%s)", writer.batch_id, writer.source)

    def _write_marker(self, marker: Path, payload: dict[str, Any]) -> None:
        """The commit point; a separate method so tests can crash just before it."""
        write_json_atomic(marker, payload)

    def recover(self) -> list[Path]:
        """Delete what crashed writers left: staging, marker temp files, orphaned partitions.

        Returns the deleted paths, relative to the root. Run it before writing (ingest does);
        it waits for any writer in another process, so it never deletes live staging.
        """
        if not self.root.is_dir():
            return []
        removed: list[Path] = []
        with write_lock(self.root):
            if self._staging.exists():
                shutil.rmtree(self._staging)
                removed.append(self._staging)
            for temporary in list(self._markers.glob("*.tmp")):
                temporary.unlink()
                removed.append(temporary)
            committed = {
                Path(part["path"]).parent
                for marker in self.committed_batches()
                for entry in marker["tables"].values()
                for part in entry["files"]
            }
            for partition in self.root.glob("[!_]*/source=*/batch=*"):
                if partition.relative_to(self.root) not in committed:
                    shutil.rmtree(partition)
                    removed.append(partition)
        for path in removed:
            logger.warning("lake recovery removed %s", path.relative_to(self.root))
        return [path.relative_to(self.root) for path in removed]

    def committed_batches(self) -> list[dict[str, Any]]:
        """Every committed marker (batch_id, source, tables with rows and files,
        content_hash, committed_at), oldest commit first."""
        if not self._markers.is_dir():
            return []
        # A committed marker never changes, so each is parsed once per Lake object.
        present = {path.name: path for path in self._markers.glob("*.json")}
        for name, path in present.items():
            if name not in self._parsed:
                self._parsed[name] = json.loads(path.read_text())
        markers = [self._parsed[name] for name in present]
        return sorted(markers, key=lambda marker: (marker["committed_at"], marker["batch_id"]))

    def files(self, table: str, source: str | None = None) -> list[Path]:
        """Committed Parquet files of ``table`` (of one source's batches when given): what a
        caller that needs only a slice of the lake reads, without building every view."""
        markers = [m for m in self.committed_batches() if source is None or m["source"] == source]
        return committed_files(self.root.absolute(), markers).get(table, [])

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with views `facts`, `quarantine`, `conflicts` (and one per
        other table written) over the batches committed now, and the macros
        `facts_as_of(d)` and `latest_as_of(d)`. Cheap: open one per unit of work."""
        conn = duckdb.connect()
        self.refresh(conn)
        return conn

    def refresh(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Make a long-lived connection see the batches committed since it was opened."""
        create_views(conn, self.root.absolute(), self.committed_batches())
