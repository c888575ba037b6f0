"""The batch connection: DuckDB's materialised tables are compressed once `compact` runs."""

from __future__ import annotations

from pathlib import Path

import duckdb

from purecredit.store.batch import compact, duck


def _held_bytes(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.sql("SELECT SUM(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0])


def test_compact_compresses_a_new_table_keeping_its_rows(tmp_path: Path) -> None:
    con = duck(tmp_path / "lake", "2GB")
    try:
        con.execute("SET enable_progress_bar = false")
        # Records-like rows: repeated tokens and small amounts, as the pivot makes them.
        con.execute(
            "CREATE TABLE rec AS SELECT 'P' || (i % 50000) AS _entity, i AS _record, "
            "CAST(i % 1000 AS DECIMAL(18, 4)) AS amount, DATE '2026-01-05' AS due "
            "FROM range(3000000) t(i)"
        )
        raw = _held_bytes(con)
        compact(con)
        packed = _held_bytes(con)
        assert packed < raw / 4, (raw, packed)
        assert con.sql("SELECT COUNT(*), SUM(amount) FROM rec").fetchall() == [
            (3_000_000, 1_498_500_000)
        ]
    finally:
        con.close()
