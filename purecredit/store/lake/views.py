"""The DuckDB views over committed batches, and the point-in-time table macros.

Views list their files from the committed markers rather than globbing the table folders, so a
batch caught between its renames and its marker is never read. The macros are portable SQL
(a ROW_NUMBER window, no ASOF JOIN) so Spark can run the same definitions over the same files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from purecredit.store.lake.schemas import TABLE_SCHEMAS, empty_select

# `d` is a TIMESTAMP (a DATE means its midnight): a fact counts once the bank has observed it.
FACTS_AS_OF = """
CREATE OR REPLACE MACRO facts_as_of(d) AS TABLE
SELECT * FROM facts WHERE observed_at <= d
"""

# Per (entity, source, field), the version that became true last in the world among those
# known by `d`; a correction observed later for the same valid_from wins; batch and record
# order only break exact ties so the answer never depends on file order. NULLS LAST is spelt
# out because engines disagree on its default for DESC.
LATEST_AS_OF = """
CREATE OR REPLACE MACRO latest_as_of(d) AS TABLE
SELECT entity, entity_type, source, field, value, valid_from, observed_at, batch_id, record
FROM (
    SELECT
        facts.*,
        ROW_NUMBER() OVER (
            PARTITION BY entity, source, field
            ORDER BY valid_from DESC NULLS LAST, observed_at DESC,
                     batch_id DESC, record DESC
        ) AS version_rank
    FROM facts
    WHERE observed_at <= d
) AS ranked
WHERE version_rank = 1
"""


def committed_files(root: Path, markers: Iterable[dict[str, Any]]) -> dict[str, list[Path]]:
    """Absolute part-file paths per table, the shared tables always present (maybe empty)."""
    files: dict[str, list[Path]] = {name: [] for name in TABLE_SCHEMAS}
    for marker in markers:
        for table, entry in marker["tables"].items():
            files.setdefault(table, []).extend(root / part["path"] for part in entry["files"])
    return files


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_select(table: str, paths: list[Path]) -> str:
    """The SELECT behind one view: exactly the columns written, never hive-derived ones."""
    schema = TABLE_SCHEMAS.get(table)
    if not paths:
        if schema is None:
            raise ValueError(f"table {table!r} has neither files nor a schema")
        return empty_select(schema)
    columns = "*" if schema is None else ", ".join(f'"{name}"' for name in schema.names)
    listing = ", ".join(_sql_string(str(path)) for path in paths)
    return (
        f"SELECT {columns} FROM read_parquet([{listing}], "
        "hive_partitioning = false, union_by_name = true)"
    )


def create_views(
    conn: duckdb.DuckDBPyConnection, root: Path, markers: Iterable[dict[str, Any]]
) -> None:
    """(Re)define every table view and the macros on `conn` from the given markers."""
    for table, paths in sorted(committed_files(root, markers).items()):
        conn.execute(f'CREATE OR REPLACE VIEW "{table}" AS {table_select(table, paths)}')
    conn.execute(FACTS_AS_OF)
    conn.execute(LATEST_AS_OF)
