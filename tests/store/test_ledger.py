"""The ledger engine behaves the same on SQLite and PostgreSQL: commit and rollback."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from purecredit.store.ledger import make_engine, transaction


def test_transaction_commits_and_rolls_back(ledger_url: str) -> None:
    engine = make_engine(ledger_url)
    table = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with transaction(engine) as session:
            session.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
        with transaction(engine) as session:
            session.execute(text(f"INSERT INTO {table} VALUES (1, 'kept')"))
        with pytest.raises(RuntimeError), transaction(engine) as session:
            session.execute(text(f"INSERT INTO {table} VALUES (2, 'lost')"))
            raise RuntimeError("crash mid-transaction")
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT id, v FROM {table} ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "kept")]
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: pytest.TempPathFactory) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fk.sqlite")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
