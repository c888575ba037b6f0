"""The writer handed out by `Lake.batch`: part files go to the batch's staging folder only.

Staging mirrors the final layout (`<table>/source=<s>/batch=<b>/part-NNNNN.parquet`), so
publishing a table is one rename of its partition folder.

Each part file's bytes are fsynced as it is written; the folders are not: staging is scratch
that `Lake.recover` deletes after a crash, so only the partition folder that is published needs
its entries on disk, and `Lake` fsyncs it once, before renaming it into place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from purecredit.core.errors import Invalid
from purecredit.store.lake.durable import write_durably
from purecredit.store.lake.schemas import check_table_name, conform


def partition_dir(table: str, source: str, batch_id: str) -> Path:
    """A batch's folder within a table, relative to the lake (or to its staging folder)."""
    return Path(table) / f"source={source}" / f"batch={batch_id}"


class BatchWriter:
    """Collects the part files of one batch; nothing it writes is visible until commit."""

    def __init__(self, staging: Path, source: str, batch_id: str) -> None:
        self.staging = staging
        self.source = source
        self.batch_id = batch_id
        self.parts: dict[str, list[dict[str, Any]]] = {}
        self.closed = False

    def write(self, table: str, data: pa.Table) -> None:
        """Add `data` to `table` as one more part file; call as often as needed per table.

        The shared tables (facts, quarantine, conflicts) must match their schema exactly; any
        other table name stores what it is given. Empty tables write no file.
        """
        if self.closed:
            raise Invalid(f"batch {self.batch_id} is closed; write inside its with-block")
        data = conform(check_table_name(table), data, source=self.source, batch_id=self.batch_id)
        if data.num_rows == 0:
            return
        parts = self.parts.setdefault(table, [])
        relative = (
            partition_dir(table, self.source, self.batch_id) / f"part-{len(parts):05d}.parquet"
        )
        path = self.staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # Serialised in memory so the bytes are hashed once, without reading the file back.
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink, compression="zstd")
        content = sink.getvalue()
        write_durably(path, memoryview(content))
        parts.append(
            {
                "path": relative.as_posix(),
                "rows": data.num_rows,
                "sha256": hashlib.sha256(memoryview(content)).hexdigest(),
            }
        )

    def manifest(self) -> dict[str, Any]:
        """The marker's account of the batch: rows and files per table, and one content hash.

        The hash covers file paths and bytes only (never the commit time), so two lakes built
        from the same deliveries have equal hashes exactly when their files are identical.
        """
        tables = {
            name: {"rows": sum(part["rows"] for part in parts), "files": parts}
            for name, parts in sorted(self.parts.items())
        }
        listing = sorted(f"{part['path']}\t{part['sha256']}\n" for part in self._all_parts())
        return {
            "format": 1,
            "batch_id": self.batch_id,
            "source": self.source,
            "tables": tables,
            "content_hash": hashlib.sha256("".join(listing).encode()).hexdigest(),
        }

    def _all_parts(self) -> list[dict[str, Any]]:
        return [part for parts in self.parts.values() for part in parts]
