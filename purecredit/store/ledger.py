"""The ledger's engine and sessions: SQLite in the embedded default, PostgreSQL when
``PURECREDIT_DATABASE_URL`` names one. The same code serves both; stages own their tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyarrow as pa
from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from purecredit.core.settings import Settings


def as_utc(at: datetime) -> datetime:
    """A ledger timestamp with its zone: every one is written in UTC, and SQLite hands it
    back without the zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
    # A gateway worker runs up to `api.app.THREADS` requests at once, each holding up to two
    # connections. A pool smaller than that opens and closes a connection for every checkout
    # beyond it (measured: new server processes all through a load test), and a PostgreSQL
    # connection is a forked server process. Two workers stay under the server's default
    # max_connections (100).
    return create_engine(url, pool_pre_ping=True, pool_size=32, max_overflow=8)


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


# ----------------------------------------------------------------------------- locking

_RETRIES = 8  # PostgreSQL deadlock / serialisation failures retried whole
_RETRY_SQLSTATES = {"40P01", "40001"}
T = TypeVar("T")


class Refused(Exception):
    """Raised inside a unit of work to roll it back whole and hand back `result`."""

    def __init__(self, result: Any) -> None:
        super().__init__("refused")
        self.result = result


class Retry(Exception):
    """The state read before the lock changed before the lock was granted: start again."""


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One ledger transaction that may lock: SQLite's begins IMMEDIATE (write lock first)."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                yield connection
            return
        # pysqlite's own transaction handling defers BEGIN to the first write; hand it the
        # driver's autocommit mode and begin ourselves (SQLAlchemy's documented recipe).
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            # The driver may already have ended it (e.g. on a disk I/O error): roll back once.
            if connection.connection.dbapi_connection is not None and getattr(
                connection.connection.dbapi_connection, "in_transaction", True
            ):
                connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction whose statements all see the same committed state.

    `connection.begin()` alone does not give that: PostgreSQL's READ COMMITTED takes a new
    snapshot per statement, and pysqlite sends no BEGIN before a SELECT at all, so a report
    read in several statements could pair the lines after a concurrent grant with the unified
    limit from before it (granted above the limit, on paper). PostgreSQL reads at REPEATABLE
    READ (a read-only transaction there never fails to serialise); SQLite begins a deferred
    transaction itself, whose first read fixes the WAL snapshot until it ends."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection
            return
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            driver = connection.connection.dbapi_connection
            if driver is not None and getattr(driver, "in_transaction", True):
                connection.exec_driver_sql("ROLLBACK")  # it wrote nothing


def run_locked(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one locking transaction, retrying it whole on a PostgreSQL deadlock or
    serialisation failure (the losing attempt was rolled back, so it changed nothing). A
    `Refused` inside `work` rolls the transaction back and returns its result."""
    for attempt in range(_RETRIES):
        try:
            with write_transaction(engine) as connection:
                return work(connection)
        except Refused as refused:
            result: T = refused.result
            return result
        except Retry:
            continue
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
            if state in _RETRY_SQLSTATES and attempt < _RETRIES - 1:
                continue
            raise
    raise RuntimeError("the rows kept changing while waiting for their lock")


def insert_ignore(connection: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its key exists; whether it was inserted. Two first requests for
    one key may race, and a failed insert would abort the caller's transaction on PostgreSQL."""
    statement: Executable
    if connection.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif connection.dialect.name == "sqlite":
        statement = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the ledger runs on SQLite or PostgreSQL
        statement = insert(table).values(values)
    return bool(connection.execute(statement).rowcount)
