"""The loan book on a ledger of its own, on SQLite and PostgreSQL (`fresh_ledger_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select

from purecredit.decide import exposure
from purecredit.lend import book
from purecredit.lend.drawdown import RepaymentMethod
from purecredit.lend.tables import create_tables, metadata
from purecredit.store.ledger import make_engine, run_locked

D = Decimal
LIMIT = D("100000")
RATE = D("0.0435")
VOLATILE = {"created_at", "updated_at", "started_at", "done_at", "joined_at"}
TABLES = [
    exposure.credit_groups,
    exposure.credit_group_members,
    exposure.credit_lines,
    exposure.drawdowns,
    exposure.credit_line_events,
    *metadata.sorted_tables,
]


@pytest.fixture
def engine(fresh_ledger_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_ledger_url)
    create_tables(engine)
    yield engine
    engine.dispose()


def grant_line(engine: Engine, subject: str, limit: Decimal = LIMIT) -> str:
    result = exposure.grant(
        engine,
        subject=subject,
        legal_rep=None,
        product="household",
        branch="B01",
        amount=limit,
        unified_limit=limit,
        decision_id="dec",
    )
    assert result.line_id is not None
    return result.line_id


def draw(
    engine: Engine,
    line_id: str,
    amount: Decimal,
    on: date,
    *,
    term: int = 12,
    method: RepaymentMethod = RepaymentMethod.EQUAL_PRINCIPAL,
    rate: Decimal = RATE,
    harvest: tuple[int, ...] = (),
) -> book.Opened:
    return run_locked(
        engine,
        lambda c: book.draw(
            c,
            line_id=line_id,
            amount=amount,
            branch="B01",
            term_months=term,
            method=method,
            annual_rate=rate,
            harvest_months=harvest,
            on=on,
        ),
    )


def repay(engine: Engine, loan_id: str, amount: Decimal, on: date) -> book.Repaid:
    return run_locked(engine, lambda c: book.repay(c, loan_id=loan_id, amount=amount, on=on))


def line_drawn(engine: Engine, line_id: str) -> Decimal:
    with engine.connect() as c:
        lines = exposure.credit_lines
        return D(c.execute(select(lines.c.drawn).where(lines.c.line_id == line_id)).scalar_one())


def dump(engine: Engine, *, full: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in key order; without `full`, timestamps are left out."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as c:
        for table in TABLES:
            columns = [col for col in table.columns if full or col.name not in VOLATILE]
            keys = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in c.execute(select(*columns).order_by(*keys))]
    return out


def clear(engine: Engine) -> None:
    """Empty the book and the credit lines."""
    with engine.begin() as c:
        _delete_all(c)


def _delete_all(connection: Connection) -> None:
    for table in reversed(TABLES):  # children before their parents
        connection.execute(delete(table))


def restore(engine: Engine, saved: dict[str, list[tuple[Any, ...]]]) -> None:
    """Put back a `dump(full=True)`: the ledger as it was, in one transaction."""
    with engine.begin() as c:
        _delete_all(c)
        for table in TABLES:
            names = [col.name for col in table.columns]
            rows = [dict(zip(names, row, strict=True)) for row in saved[table.name]]
            if rows:
                c.execute(insert(table), rows)
