"""The dashboard's figures, over the signed-in person's branches only.

Automatic decisions take milliseconds, so "decision time" is the one that matters to a
branch: how long referred applications wait for a person (review opened to closed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from statistics import median
from typing import Any

from sqlalchemy import Engine, func, select

from purecredit.decide import store
from purecredit.lend import records
from purecredit.lend.classify import Category
from purecredit.lend.tables import ACTIVE, loans
from purecredit.monitor.cases import open_count
from purecredit.store.ledger import as_utc
from purecredit.ui.accounts import Staff

NPL_CATEGORIES = tuple(records.category_name(c) for c in Category if c.npl)


def _scoped(query: Any, column: Any, staff: Staff) -> Any:
    return query if staff.scope is None else query.where(column.in_(sorted(staff.scope)))


def dashboard(engine: Engine, staff: Staff, today: date | None = None) -> dict[str, Any]:
    today = today or datetime.now(UTC).date()
    d, r = store.DECISIONS, store.REVIEWS
    outcomes = _scoped(select(d.c.outcome, func.count()).group_by(d.c.outcome), d.c.branch, staff)
    todays = _scoped(select(func.count()).select_from(d), d.c.branch, staff).where(
        d.c.decided_at >= datetime.combine(today, datetime.min.time(), UTC)
    )
    waits = _scoped(
        select(r.c.opened_at, r.c.closed_at)
        .join(d, d.c.decision_id == r.c.decision_id)
        .where(r.c.closed_at.is_not(None)),
        d.c.branch,
        staff,
    )
    book = _scoped(
        select(loans.c.category, func.sum(loans.c.principal_outstanding))
        .where(loans.c.status == ACTIVE)
        .group_by(loans.c.category),
        loans.c.branch,
        staff,
    )
    with engine.connect() as connection:
        counts = {k: int(n) for k, n in connection.execute(outcomes)}
        today_n = int(connection.execute(todays).scalar_one())
        hours = [
            (as_utc(b) - as_utc(a)).total_seconds() / 3600 for a, b in connection.execute(waits)
        ]
        balances = {k: float(v or 0) for k, v in connection.execute(book)}
        open_reviews = int(
            connection.execute(
                _scoped(
                    select(func.count())
                    .select_from(r.join(d, d.c.decision_id == r.c.decision_id))
                    .where(r.c.status == "open"),
                    d.c.branch,
                    staff,
                )
            ).scalar_one()
        )
    total = sum(counts.values())
    outstanding = sum(balances.values())
    return {
        "today": today.isoformat(),
        "applications_today": today_n,
        "applications": total,
        "outcomes": counts,
        "approval_rate": counts.get("approve", 0) / total if total else None,
        "review_hours": median(hours) if hours else None,
        "open_reviews": open_reviews,
        "npl": sum(balances.get(c, 0.0) for c in NPL_CATEGORIES) / outstanding
        if outstanding
        else None,
        "outstanding": outstanding,
        "open_cases": open_count(engine, branches=staff.scope),
    }
