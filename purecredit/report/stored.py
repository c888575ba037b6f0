"""Stored reports: what events still lack one, and making them.

Events and their reports:
- a decision -> its pre-loan report, made for `decided_at`;
- a closed review, or a decision that needed none -> its review report, made for the close
  (or `decided_at`); a review asked for later makes the stored one stale, and it is made again;
- an inspection recorded -> a post-loan report for each loan of the borrower open on the
  inspection day, as of that day; a later inspection makes it again.

The insert tolerates a concurrent maker: the key (kind, ref, lang) is unique, a second
insert of it is ignored, and a stale report is only replaced by one for a later event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import Engine, and_, or_, select, update

from purecredit.core.settings import Settings
from purecredit.decide import store
from purecredit.lend.tables import loans
from purecredit.monitor.tables import create_tables as create_monitor_tables
from purecredit.monitor.tables import inspections
from purecredit.report.render import html_of, sha256
from purecredit.report.tables import create_tables, reports
from purecredit.store.ledger import as_utc, insert_ignore

log = logging.getLogger(__name__)
AUTO_LANGS: tuple[str, ...] = ("zh",)  # made automatically; English on demand


@dataclass(frozen=True)
class Pending:
    kind: str
    ref: str
    lang: str
    event_at: datetime
    day: date | None = None  # the post-loan report's as-of day


def ensure_tables(engine: Engine) -> None:
    """The reports table, and the tables the events are read from (an empty ledger has
    none yet)."""
    store.create_tables(engine)
    create_monitor_tables(engine)
    create_tables(engine)


def _events(engine: Engine) -> list[Pending]:
    """Every event a report is made for, with its time."""
    found: list[Pending] = []
    d, r = store.DECISIONS, store.REVIEWS
    with engine.connect() as connection:
        rows = connection.execute(
            select(d.c.decision_id, d.c.decided_at, r.c.decision_id.label("reviewed"),
                   r.c.closed_at)
            .outerjoin(r, r.c.decision_id == d.c.decision_id)
            .order_by(d.c.decided_at, d.c.decision_id)
        ).all()  # fmt: skip
        seen = connection.execute(
            select(inspections.c.subject, inspections.c.inspected_on).order_by(
                inspections.c.inspected_on
            )
        ).all()
        lent = connection.execute(
            select(loans.c.loan_id, loans.c.subject, loans.c.start, loans.c.closed_on)
        ).all()
    for lang in AUTO_LANGS:
        for row in rows:
            decided = as_utc(row.decided_at)
            found.append(Pending("pre-loan", row.decision_id, lang, decided))
            if row.reviewed is None:
                found.append(Pending("review", row.decision_id, lang, decided))
            elif row.closed_at is not None:
                found.append(Pending("review", row.decision_id, lang, as_utc(row.closed_at)))
        latest: dict[str, Pending] = {}
        for subject, day in seen:
            for loan in lent:
                open_then = loan.start <= day and (loan.closed_on is None or loan.closed_on >= day)
                if loan.subject == subject and open_then:
                    at = datetime.combine(day, time.min, tzinfo=UTC)
                    latest[loan.loan_id] = Pending("post-loan", loan.loan_id, lang, at, day)
        found.extend(latest.values())
    return found


def pending(engine: Engine) -> list[Pending]:
    """Events with no stored report, or whose stored report was made for an earlier event."""
    ensure_tables(engine)
    with engine.connect() as connection:
        made = {
            (k, ref, lang): as_utc(at)
            for k, ref, lang, at in connection.execute(
                select(reports.c.kind, reports.c.ref, reports.c.lang, reports.c.event_at)
            )
        }
    return [
        p for p in _events(engine) if (made.get((p.kind, p.ref, p.lang)) or _EPOCH) < p.event_at
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def put(engine: Engine, item: Pending, html: str, event_at: datetime) -> bool:
    """Store a report; False when another maker stored it (or a later one) first."""
    values = {"kind": item.kind, "ref": item.ref, "lang": item.lang, "html": html,
              "sha256": sha256(html), "event_at": event_at,
              "made_at": datetime.now(UTC)}  # fmt: skip
    with engine.begin() as connection:
        if insert_ignore(connection, reports, values):
            return True
        key = and_(reports.c.kind == item.kind, reports.c.ref == item.ref,
                   reports.c.lang == item.lang)  # fmt: skip
        stale = or_(reports.c.event_at < event_at)
        replaced = connection.execute(update(reports).where(key, stale).values(**values))
        return bool(replaced.rowcount)


def make_pending(
    engine: Engine,
    settings: Settings,
    limit: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Render and store up to `limit` pending reports (all when None); how many it stored.
    A report that fails to render is logged and left pending, never stops the others.
    `stopping` is asked before each report, so a server shutting down waits for one report,
    not a whole round."""
    made = 0
    for item in pending(engine)[:limit]:
        if stopping():
            break
        try:
            html, event_at = html_of(engine, settings, item.kind, item.ref, item.lang, item.day)
        except Exception:
            log.exception("report %s %s could not be made", item.kind, item.ref)
            continue
        made += put(engine, item, html, event_at)
    return made


_ensured: set[str] = set()


def stored_html(engine: Engine, kind: str, ref: str, lang: str) -> str | None:
    """The stored report's HTML, if any: one indexed read on the serving path (the tables
    are checked once per ledger and process, not on every read)."""
    if str(engine.url) not in _ensured:
        ensure_tables(engine)
        _ensured.add(str(engine.url))
    key = and_(reports.c.kind == kind, reports.c.ref == ref, reports.c.lang == lang)
    with engine.connect() as connection:
        html = connection.execute(select(reports.c.html).where(key)).scalar()
    return None if html is None else str(html)


def stored(engine: Engine, kind: str, ref: str, lang: str) -> dict[str, object] | None:
    """The stored report's row, if any."""
    ensure_tables(engine)
    key = and_(reports.c.kind == kind, reports.c.ref == ref, reports.c.lang == lang)
    with engine.connect() as connection:
        row = connection.execute(select(reports).where(key)).mappings().first()
    return None if row is None else dict(row)
