"""The portfolio report as served to the console and the gateway: computed once per state of
the book, not per request.

The report reads the whole book (every decision's PD, the latest rescores, every month-end
snapshot) and takes a few hundred milliseconds on a 100,000-person county's ledger, yet it
changes only when a decision is stored, a day's end of day finishes or a monitoring batch
runs. A fingerprint of those three (three indexed aggregates, about a millisecond) says when
a cached report is stale; the report keeps its own `generated_at`.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, func, select

from purecredit.decide.store import DECISIONS
from purecredit.lend.tables import book_days
from purecredit.monitor.portfolio import MIN_CELL, portfolio, render_html
from purecredit.monitor.tables import monitor_runs

_lock = threading.Lock()
_reports: dict[tuple[str, int], tuple[tuple[Any, ...], dict[str, Any]]] = {}
_pages: dict[str, tuple[tuple[Any, ...], str]] = {}


def book_state(engine: Engine) -> tuple[Any, ...]:
    """What the report depends on: the decisions stored, the last finished end of day and
    the last finished monitoring batch. Needs the gateway's tables (the server makes them)."""
    with engine.connect() as connection:
        decided = connection.execute(select(func.count(), func.max(DECISIONS.c.decided_at))).one()
        book = connection.execute(
            select(func.max(book_days.c.day)).where(book_days.c.done_at.is_not(None))
        ).scalar()
        watched = connection.execute(
            select(func.max(monitor_runs.c.done_at)).where(monitor_runs.c.done_at.is_not(None))
        ).scalar()
    return (tuple(decided), book, watched)


def current_report(
    engine: Engine, *, min_cell: int = MIN_CELL, state: tuple[Any, ...] | None = None
) -> dict[str, Any]:
    """`portfolio.portfolio`, recomputed only when the book has changed (`state`: the
    `book_state` the caller has just read)."""
    key, state = (str(engine.url), min_cell), state or book_state(engine)
    with _lock:
        found = _reports.get(key)
        if found is not None and found[0] == state:
            return found[1]
    report = portfolio(engine, min_cell=min_cell)
    with _lock:
        _reports[key] = (state, report)
    return report


def current_page(engine: Engine) -> str:
    """The report as its HTML page (charts inline), redrawn only when the book has changed."""
    key, state = str(engine.url), book_state(engine)
    with _lock:
        found = _pages.get(key)
        if found is not None and found[0] == state:
            return found[1]
    page = render_html(current_report(engine, state=state))
    with _lock:
        _pages[key] = (state, page)
    return page
