"""The lake: ingested facts, quarantine and conflicts as append-only, hive-partitioned Parquet,
committed a whole batch at a time and read through DuckDB (see `Lake`)."""

from purecredit.store.lake.lake import Lake
from purecredit.store.lake.schemas import (
    CONFLICTS_SCHEMA,
    FACTS_SCHEMA,
    QUARANTINE_SCHEMA,
    TABLE_SCHEMAS,
)
from purecredit.store.lake.writer import BatchWriter

__all__ = [
    "CONFLICTS_SCHEMA",
    "FACTS_SCHEMA",
    "QUARANTINE_SCHEMA",
    "TABLE_SCHEMAS",
    "BatchWriter",
    "Lake",
]
