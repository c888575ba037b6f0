"""The ledger's engine and sessions: SQLite in the embedded default, PostgreSQL when
``PURECREDIT_DATABASE_URL`` names one. The same code serves both; stages own their tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from purecredit.core.settings import Settings


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs for a ledger.

    SQLite gets WAL (readers never block the writer), enforced foreign keys, and a busy
    timeout so concurrent writers queue instead of failing at once; PostgreSQL needs nothing
    beyond pre-ping, since workers may outlive a database restart."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def ledger_engine(settings: Settings) -> Engine:
    settings.home.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.ledger_url)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back everything if it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def replace_table(
    engine: Engine,
    table: Table,
    rows: pa.Table,
    *,
    constants: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 5_000,
) -> int:
    """Replace `table` whole with `rows` (Arrow; only the table's columns are read, plus
    `constants` set on every row): drop, create and insert in one transaction, so readers see
    the old contents or the new, never a mix, on SQLite and PostgreSQL alike (both run DDL in
    a transaction). For tables rebuilt from batch work, whose columns may change between
    builds. Returns the rows written."""
    names = [c.name for c in table.columns if c.name not in (constants or {})]
    with transaction(engine) as session:
        connection = session.connection()
        table.drop(connection, checkfirst=True)
        table.create(connection)
        for batch in rows.select(names).to_batches(chunk):
            records = batch.to_pylist()
            if not records:
                continue
            if constants:
                for record in records:
                    record.update(constants)
            connection.execute(insert(table), records)
            if progress:
                progress(len(records))
    return int(rows.num_rows)
