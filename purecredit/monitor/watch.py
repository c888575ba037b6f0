"""Who monitoring watches on a day: every borrower with a live line or an active loan, the
branch that answers for them, since when their facts are news, and the parties related to
them within two hops (the current graph, `profile_edges`), whose facts reach them too.

"Since": what the bank knew when it granted a borrower's first live line was part of that
decision, so only facts known after that day are events for the borrower.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, func, inspect, select

from purecredit.decide.exposure import LIVE, credit_lines
from purecredit.decide.store import DECISIONS
from purecredit.lend.tables import ACTIVE, loans
from purecredit.profile.graph import EDGE_TABLE, edges_table
from purecredit.store.duck import arrow
from purecredit.store.ledger import snapshot


def borrowers(engine: Engine, day: date) -> dict[str, tuple[str, date]]:
    """Each borrower on `day`: (branch of their latest line, the day of their first one).

    A borrower is a subject with a live line decided by the end of `day`, or an active loan
    drawn by then (a loan outlives an expired or closed line). Days are business days: the
    decision's `decided_at` and the loan's `start`, not when a row was written."""
    decided = func.coalesce(DECISIONS.c.decided_at, credit_lines.c.created_at)
    lines = (
        select(credit_lines.c.subject, credit_lines.c.branch, decided)
        .select_from(credit_lines)
        .outerjoin(DECISIONS, DECISIONS.c.decision_id == credit_lines.c.decision_id)
        .where(credit_lines.c.status.in_(LIVE))
    )
    lent = (
        select(credit_lines.c.subject, credit_lines.c.branch, loans.c.start)
        .join(loans, loans.c.line_id == credit_lines.c.line_id)
        .where(loans.c.status == ACTIVE)
    )
    found: list[tuple[str, str, date]] = []
    with snapshot(engine) as connection:
        for subject, branch, when in [*connection.execute(lines), *connection.execute(lent)]:
            day_of = when.date() if isinstance(when, datetime) else when
            found.append((str(subject), str(branch), day_of))
    out: dict[str, tuple[str, date]] = {}
    for subject, branch, when in sorted(found, key=lambda r: (r[0], r[2])):
        if when > day:
            continue
        first = out[subject][1] if subject in out else when
        out[subject] = (branch, min(first, when))
    return out


def watch_table(
    engine: Engine, con: duckdb.DuckDBPyConnection, watched: dict[str, tuple[str, date]]
) -> pa.Table:
    """subject, party, hops, relation, since: each borrower itself (hops 0, "self") and every
    party within two hops of it in the ledger's graph (relation: the path's first edge).
    The walk is one join over all borrowers in DuckDB, the same two steps as
    `profile.graph.related_sql`, not a query per borrower."""
    con.register(
        "borrowers_in",
        pa.table(
            {
                "subject": pa.array(list(watched), pa.string()),
                "since": pa.array([first for _, first in watched.values()], pa.date32()),
            }
        ),
    )
    con.register("edges_in", _edges(engine))
    try:
        return arrow(
            con.sql("""WITH one AS (
  SELECT b.subject, e.dst AS party, 1 AS hops, e.kind AS relation, b.since
  FROM borrowers_in b JOIN edges_in e ON e.src = b.subject WHERE e.dst <> b.subject),
two AS (
  SELECT o.subject, e.dst AS party, 2 AS hops, o.relation, o.since
  FROM one o JOIN edges_in e ON e.src = o.party WHERE e.dst <> o.subject)
SELECT subject, subject AS party, 0 AS hops, 'self' AS relation, since FROM borrowers_in
UNION ALL SELECT * FROM one
UNION ALL SELECT * FROM two""")
        )
    finally:
        con.unregister("borrowers_in")
        con.unregister("edges_in")


def _edges(engine: Engine) -> pa.Table:
    """src, dst, kind of the ledger's graph (empty before the first profile build)."""
    names = ("src", "dst", "kind")
    if not inspect(engine).has_table(EDGE_TABLE):
        return pa.table({name: pa.array([], pa.string()) for name in names})
    table = edges_table()
    with snapshot(engine) as connection:
        rows = connection.execute(select(table.c.src, table.c.dst, table.c.kind)).all()
    return pa.table(
        {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)}
    )
