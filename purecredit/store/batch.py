"""The connection a batch job runs its SQL on: embedded DuckDB, or Spark for a lake that has
outgrown one machine (`--engine spark`). Both take the same statements (`store.spark`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import duckdb

from purecredit.core.settings import Settings
from purecredit.store.spark import BatchSql, SparkSql

EngineName = Literal["duckdb", "spark"]


def duck(lake_root: Path, memory: str = "4GB") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for batch work on the lake at `lake_root`.

    DuckDB would otherwise take up to 80% of the machine's memory (a 100,000-person training
    table reached 15 GiB); with a limit, its joins, sorts and tables spill to a folder beside
    the lake instead, at some cost in time.
    """
    spill = lake_root.parent / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": memory, "temp_directory": str(spill)})


def compact(con: BatchSql) -> None:
    """Compress the tables DuckDB holds, after a large one is made.

    An in-memory DuckDB database keeps a new table's rows uncompressed until a checkpoint
    (a 20 M-row table: 773 MB, 61 MB after `CHECKPOINT`), so a million people's records
    spilled past 50 GB of temp disk before resolution was done. Spark keeps its checkpoints
    compressed already; there this does nothing.
    """
    if not isinstance(con, SparkSql):
        con.execute("CHECKPOINT")


@contextmanager
def batch_sql(settings: Settings, engine: EngineName = "duckdb") -> Iterator[BatchSql]:
    """A connection for one batch job, closed after it."""
    if engine == "spark":
        from purecredit.store import spark

        with spark.from_settings(settings) as sql:
            yield sql
        return
    con = duck(settings.home / "lake", settings.duckdb_memory)
    try:
        yield con
    finally:
        con.close()
