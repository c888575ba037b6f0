"""The connection a batch job runs its SQL on: embedded DuckDB, or Spark for a lake that has
outgrown one machine (`--engine spark`). Both take the same statements (`store.spark`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import duckdb

from purecredit.core.settings import Settings
from purecredit.store.spark import BatchSql

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
