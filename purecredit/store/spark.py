"""Apache Spark as a second engine for the batch SQL: the same statements DuckDB runs.

Profiles, resolution, the graph and monitoring's detectors are written once, as portable SQL
run through a connection's `execute` / `sql` / `register` (DESIGN.md, "Scale"). `SparkSql`
gives a `SparkSession` that face, so every stage runs on Spark without a second definition
of anything: this module only translates the few statement *forms* purecredit issues
(materialise a table, define a view, register Arrow data, bind `$name` parameters) and the
spelling differences of the two dialects (sqlglot, a SQL transpiler, rewrites DuckDB's text
for Spark). It never changes what a query computes; `tests/scale` runs a county through both
engines and requires identical rows.

PySpark is an optional extra (`pip install purecredit[spark]`); nothing here is imported by
the embedded default, which needs neither Java nor Spark.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from purecredit.core.settings import Settings

# Settings every purecredit session needs, whatever the cluster, so that Spark computes what
# DuckDB computes:
# - UTC and timestamps without a zone: the lake's times are naive UTC, as DuckDB reads them;
# - ANSI mode off: NULL from a division by zero, as in DuckDB (every value in the lake was
#   validated at ingest, so no failed CAST hides behind it);
# - no precision loss in DECIMAL arithmetic: a product keeps all its places (DuckDB's rule)
#   rather than being rounded to six when the declared precision passes 38.
REQUIRED_CONF: Mapping[str, str] = {
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
# PySpark warns on import that it does not support pandas 3 yet: nothing here hands Spark a
# pandas object (Arrow in, Arrow out, `mapInArrow`), so the warning is not ours to act on.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
_CREATE = re.compile(
    r"^\s*CREATE\s+OR\s+REPLACE\s+(?:TEMP\s+|TEMPORARY\s+)?(TABLE|VIEW)\s+(\w+)\s+AS\s+(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_SET = re.compile(r"^\s*SET\s+\w+\s*=", re.IGNORECASE)
_DROP = re.compile(r"^\s*DROP\s+(?:TABLE|VIEW)\s+IF\s+EXISTS\s+(\w+)\s*$", re.IGNORECASE)
_PARAM = re.compile(r"\$(\w+)")


def session(
    master: str, conf: Mapping[str, str] | None = None, app: str = "purecredit"
) -> SparkSession:
    """A Spark session on `master` (`local[2]`, `spark://...`, `yarn`; `sc://...` is Spark
    Connect), with `conf` on top of what purecredit requires."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    settings = {**(conf or {}), **REQUIRED_CONF}
    if master.startswith("local"):
        # Local workers run this interpreter (scoring needs its packages), not whichever
        # `python3` is first on the PATH; PySpark reads it from the environment when it
        # starts the context. A cluster's is set there (`spark.pyspark.python`).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_text(query: str) -> str:
    """DuckDB's SQL as Spark spells it (sqlglot): `VARCHAR` is `STRING`, `QUALIFY` becomes a
    filtered subquery, `$name` parameters become `:name` markers."""
    import sqlglot

    (text,) = sqlglot.transpile(query, read="duckdb", write="spark")
    return _PARAM.sub(r":\1", text)


_SPARK_TYPES = {
    pa.string(): "STRING",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP_NTZ",  # the lake's times: naive UTC
}


def spark_schema(schema: pa.Schema) -> str:
    """An Arrow schema of the lake's as Spark DDL (`name TYPE, ...`)."""
    return ", ".join(f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in schema)


@dataclass
class Result:
    """A query's rows, as DuckDB's relation hands them out."""

    frame: DataFrame

    def to_arrow_table(self) -> pa.Table:
        return self.frame.toArrow()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.frame.collect()]


@dataclass
class SparkSql:
    """A `SparkSession` behind the subset of DuckDB's connection the batch stages use.

    `CREATE OR REPLACE TABLE x AS ...` is materialised (a local checkpoint: computed once,
    its plan cut, as DuckDB stores the table) and named as a temporary view; a view stays a
    view; `DROP TABLE IF EXISTS x` releases it. DuckDB's `SET` statements tune DuckDB and
    are no-ops here.
    """

    spark: SparkSession
    # (the lake's local folder, the URI Spark reads it at): where the lake is copied or
    # mounted elsewhere for the cluster, e.g. HDFS or object storage.
    lake_uri: tuple[Path, str] | None = None
    _tables: dict[str, DataFrame] = field(default_factory=dict)

    def execute(self, query: str, parameters: Mapping[str, object] | None = None) -> SparkSql:
        if _SET.match(query):
            return self
        dropped = _DROP.match(query)
        if dropped is not None:
            return self.unregister(dropped.group(1))
        created = _CREATE.match(query)
        if created is None:
            self.spark.sql(spark_text(query), args=dict(parameters or {}))
            return self
        kind, name, select = created.groups()
        frame = self.spark.sql(spark_text(select), args=dict(parameters or {}))
        if kind.upper() == "VIEW":
            frame.createOrReplaceTempView(name)
            return self
        self._store(name, frame)
        return self

    def sql(self, query: str, params: Mapping[str, object] | None = None) -> Result:
        return Result(self.spark.sql(spark_text(query), args=dict(params or {})))

    def register(self, name: str, table: pa.Table) -> SparkSql:
        self._store(name, self.spark.createDataFrame(table))
        return self

    def unregister(self, name: str) -> SparkSql:
        self.spark.catalog.dropTempView(name)
        old = self._tables.pop(name, None)
        if old is not None:
            old.unpersist()
        return self

    def parquet(self, name: str, paths: list[Path] | list[str], schema: pa.Schema) -> None:
        """Files of one lake table as the view `name` (the columns written, no others)."""
        if not paths:
            self.register(name, schema.empty_table())
            return
        reader = self.spark.read.schema(spark_schema(schema))  # no footer-reading job first
        frame = reader.parquet(*(self.uri(p) for p in paths))
        frame.createOrReplaceTempView(name)

    def uri(self, path: Path | str) -> str:
        """Where Spark reads a lake file: under `lake_uri` when one is set."""
        if self.lake_uri is None:
            return str(path)
        root, uri = self.lake_uri
        relative = Path(path).relative_to(root)
        return f"{uri.rstrip('/')}/{relative.as_posix()}"

    def close(self) -> None:
        for name in list(self._tables):
            self.unregister(name)

    def _store(self, name: str, frame: DataFrame) -> None:
        stored = frame.localCheckpoint(eager=True)
        old = self._tables.pop(name, None)
        stored.createOrReplaceTempView(name)
        self._tables[name] = stored
        if old is not None:
            old.unpersist()


# What the batch stages run their SQL on: DuckDB (embedded) or Spark, through one face.
BatchSql = duckdb.DuckDBPyConnection | SparkSql


@contextmanager
def connect(
    master: str, conf: Mapping[str, str] | None = None, lake_uri: tuple[Path, str] | None = None
) -> Iterator[SparkSql]:
    """A `SparkSql` for the length of a batch job, on a session of its own: its temporary
    views and SQL settings are its own, the SparkContext (PySpark keeps one a process) is
    shared and left running for the next job."""
    base = session(master, conf)
    # A Spark Connect client session is already its own; a classic one is split off.
    own = base if master.startswith("sc://") else base.newSession()
    for key, value in REQUIRED_CONF.items():
        if key.startswith("spark.sql."):
            own.conf.set(key, value)
    sql = SparkSql(own, lake_uri)
    try:
        yield sql
    finally:
        sql.close()


def from_settings(settings: Settings) -> AbstractContextManager[SparkSql]:
    """`connect` with the deployment's master and Spark conf (`PURECREDIT_SPARK_*`)."""
    lake = settings.home / "lake"
    uri = (lake, settings.spark_lake_uri) if settings.spark_lake_uri else None
    return connect(settings.spark_master, settings.spark_conf, uri)
