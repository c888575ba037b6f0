"""Spark in local mode for the parity suite: one session per test worker.

PySpark and Java are required, never optional, here: a missing one fails the suite at import
or at the session's start (CI installs both: `make install`, `scripts/sysdeps.sh`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyspark  # noqa: F401  (fails collection, not a skip, when PySpark is missing)
import pytest

from purecredit.store.spark import SparkSql, connect

# Two cores, small data: a few shuffle partitions, not Spark's default 200.
TEST_CONF = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
}


@pytest.fixture(scope="session")
def spark_sql() -> Iterator[SparkSql]:
    with connect("local[2]", TEST_CONF) as sql:
        sql.spark.sparkContext.setLogLevel("ERROR")
        yield sql
