"""Small DuckDB helpers shared by the stages that query the lake."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from purecredit.store.spark import Result


def arrow(result: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation | Result) -> pa.Table:
    """The Arrow table of a query that returns rows (DuckDB types the result as optional)."""
    table = result.to_arrow_table()
    if table is None:  # pragma: no cover - only statements without a result set return None
        raise RuntimeError("query returned no result set")
    return table
