"""Duplicates: the same record delivered twice, or facts the lake already holds.

Near duplicates (whitespace, full-width digits, another date format) are caught here too,
because validation has already normalised them to the same values as their originals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from purecredit.ingest.facts import META_COLUMNS
from purecredit.store.duck import arrow
from purecredit.store.lake.views import table_select


def drop_repeated_records(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep the first of identical records (all fields equal, nulls equal); return (kept,
    dropped)."""
    fields = [c for c in table.column_names if c not in META_COLUMNS]
    if table.num_rows == 0 or not fields:
        return table, 0
    numbered = table.select(fields).append_column("_row", pa.array(np.arange(table.num_rows)))
    firsts = numbered.group_by(fields, use_threads=False).aggregate([("_row", "min")])
    keep = np.sort(firsts.column("_row_min").to_numpy())
    return table.take(keep), table.num_rows - keep.size


def new_facts(facts: pa.Table, con: duckdb.DuckDBPyConnection, known: list[Path]) -> pa.Table:
    """Facts not already among ``known`` (the source's committed fact files) with the same
    entity, field, value and valid_from: re-delivered unchanged data adds nothing, a changed
    value adds a version."""
    if facts.num_rows == 0 or not known:
        return facts
    con.register("incoming", facts)
    # Only facts in the incoming valid_from range can match: Parquet statistics prune the rest
    # (a monthly file holds one month) before the anti-join.
    low, high = con.sql("SELECT min(valid_from), max(valid_from) FROM incoming").fetchall()[0]
    result = con.sql(
        f"""
        SELECT i.* FROM incoming i
        ANTI JOIN (
            SELECT entity, field, value, valid_from FROM ({table_select("facts", known)})
            WHERE valid_from BETWEEN $low AND $high
        ) f USING (entity, field, value, valid_from)
        ORDER BY i.record, i.field
        """,
        params={"low": low, "high": high},
    )
    fresh = arrow(result).cast(facts.schema)
    con.unregister("incoming")
    return fresh
