"""The ledger's engine and sessions: SQLite in the embedded default, PostgreSQL when
``PURECREDIT_DATABASE_URL`` names one. The same code serves both; stages own their tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
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
