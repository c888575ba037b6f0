"""The post-loan inspection report's content (贷后检查报告), for one loan on one day.

Everything is as of the day, from dated ledger rows only, so the report for a day reads the
same when made again later: DPD is rebuilt from the schedule and the payments made by then
(`monitor.drift.month_end_dpd`'s rule: days since the oldest due date the payments do not
cover, payments meeting instalments oldest first), the five-category class is the loan's
floor for that DPD (`lend.classify.classify_loan`; the debtor-wide 10% rule is the end of
day's, and not rebuilt here), events and warnings come from `monitor_events`/`warnings`,
case actions from `case_steps`, rescored PDs from `monitor_scores`.

The recommendation, first match wins (docs/reports.md):
1. recover: the loan is non-performing (substandard, doubtful or loss: DPD > 90);
2. restrict: special mention (any DPD), a red warning in the period, or the grade 3 or more
   grades worse than at the grant;
3. watch: any warning in the period, or the grade worse than at the grant;
4. maintain: otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from purecredit.core.errors import NotFound
from purecredit.lend.classify import Category, classify_loan
from purecredit.lend.tables import book_days, loan_instalments, loans, repayments
from purecredit.monitor.kinds import KINDS
from purecredit.monitor.tables import (
    case_steps,
    cases,
    inspections,
    monitor_events,
    monitor_scores,
    warnings,
)
from purecredit.report import charts
from purecredit.report.labels import LABELS
from purecredit.store.ledger import snapshot

RESTRICT_NOTCHES = 3


def loan_row(connection: Connection, loan_id: str) -> Any:
    row = connection.execute(select(loans).where(loans.c.loan_id == loan_id)).first()
    if row is None:
        raise NotFound(f"no loan {loan_id!r}", field="loan_id")
    return row


def latest_book_day(connection: Connection) -> date | None:
    query = select(book_days.c.day).where(book_days.c.done_at.is_not(None))
    found = connection.execute(query.order_by(book_days.c.day.desc()).limit(1)).scalar()
    return found


def default_day(engine: Engine, loan_id: str) -> date:
    """The latest finished book day; before the first, the loan's own last day."""
    with snapshot(engine) as connection:
        loan = loan_row(connection, loan_id)
        return latest_book_day(connection) or loan.as_of


def post_loan(engine: Engine, loan_id: str, day: date, lang: str) -> dict[str, Any]:
    """What the template shows for the loan as of `day`."""
    with snapshot(engine) as connection:
        loan = loan_row(connection, loan_id)
        due = connection.execute(
            select(loan_instalments).where(loan_instalments.c.loan_id == loan_id)
            .order_by(loan_instalments.c.number)
        ).all()  # fmt: skip
        paid = connection.execute(
            select(repayments).where(repayments.c.loan_id == loan_id, repayments.c.paid_on <= day)
            .order_by(repayments.c.paid_on, repayments.c.repayment_id)
        ).all()  # fmt: skip
        done = connection.execute(
            select(inspections).where(inspections.c.subject == loan.subject,
                                      inspections.c.inspected_on <= day)
            .order_by(inspections.c.inspected_on, inspections.c.inspection_id)
        ).all()  # fmt: skip
        since = done[-2].inspected_on if len(done) > 1 else loan.start
        events = _events(connection, loan.subject, since, day)
        raised = connection.execute(
            select(warnings).where(warnings.c.subject == loan.subject,
                                   warnings.c.raised_on > since, warnings.c.raised_on <= day)
            .order_by(warnings.c.raised_on, warnings.c.warning_id)
        ).all()  # fmt: skip
        steps = connection.execute(
            select(case_steps, cases.c.cause)
            .join(cases, cases.c.case_id == case_steps.c.case_id)
            .where(cases.c.subject == loan.subject, case_steps.c.on_day > since,
                   case_steps.c.on_day <= day)
            .order_by(case_steps.c.on_day, case_steps.c.case_id, case_steps.c.n)
        ).all()  # fmt: skip
        scores = connection.execute(
            select(monitor_scores).where(monitor_scores.c.subject == loan.subject,
                                         monitor_scores.c.day <= day)
            .order_by(monitor_scores.c.day)
        ).all()  # fmt: skip
    dpd = _dpd(due, paid, day, loan)
    category = classify_loan(dpd)
    months = _by_month(due, paid, day)
    migration = _migration(scores)
    red = any(w.severity == "red" for w in raised)
    advice, because = recommend(category, red, len(raised), migration)
    repaid = sum((_principal(p) for p in paid), Decimal(0))
    return {
        "loan": loan,
        "day": day,
        "dpd": dpd,
        "category": category.zh if lang == "zh" else category.en,
        "outstanding": max(Decimal(loan.amount) - repaid, Decimal(0)),
        "months": months,
        "since": since,
        "events": events,
        "warnings": raised,
        "steps": steps,
        "inspections": done,
        "scores": scores,
        "migration": migration,
        "advice": advice,
        "because": because,
        "history_svg": charts.repayment_chart(
            [m["month"] for m in months],
            [m["due"] for m in months],
            [m["paid"] for m in months],
            (LABELS[lang]["due"], LABELS[lang]["paid"], ""),
        )
        if months
        else "",
        "pd_svg": charts.pd_chart(
            [s.day.isoformat() for s in scores], [float(s.pd) for s in scores], ""
        )
        if scores
        else "",
    }


def recommend(category: Category, red: bool, warned: int, migration: int | None) -> tuple[str, str]:
    """The recommendation and the rule that gave it (the module docstring's, in order)."""
    worse = migration or 0
    if category.npl:
        return "recover", f"category {category.en} (DPD > 90)"
    if category is Category.SPECIAL_MENTION:
        return "restrict", "special mention: past due"
    if red:
        return "restrict", "a red warning since the last inspection"
    if worse >= RESTRICT_NOTCHES:
        return "restrict", f"grade {worse} grades worse than at the grant"
    if warned:
        return "watch", f"{warned} warning(s) since the last inspection"
    if worse > 0:
        return "watch", f"grade {worse} grade(s) worse than at the grant"
    return "maintain", "performing, no warning, grade not worse"


def _principal(p: Any) -> Decimal:
    return (
        Decimal(p.overdue_principal) + Decimal(p.current_principal) + Decimal(p.prepaid_principal)
    )


def _scheduled(p: Any) -> Decimal:
    """What a payment paid of the schedule (penalty and the unapplied rest left out)."""
    parts = (p.overdue_interest, p.overdue_principal, p.current_interest,
             p.current_principal, p.prepaid_interest, p.prepaid_principal)  # fmt: skip
    return sum((Decimal(x) for x in parts), Decimal(0))


def _dpd(due: Sequence[Any], paid: Sequence[Any], day: date, loan: Any) -> int:
    """Days since the oldest due date whose running dues the payments by `day` do not cover
    (hand-rolled for one loan: `drift.month_end_dpd` does it for a book, with pandas)."""
    if loan.closed_on is not None and loan.closed_on <= day:
        return 0
    covered = sum((_scheduled(p) for p in paid), Decimal(0))
    running = Decimal(0)
    for row in due:
        running += Decimal(row.principal) + Decimal(row.interest)
        if running - covered > Decimal("0.005"):
            return max(int((day - row.due_date).days), 0)
    return 0


def _by_month(due: Sequence[Any], paid: Sequence[Any], day: date) -> list[dict[str, Any]]:
    """Due (instalments falling due by `day`) and paid (payments by `day`), by month."""
    owed: dict[str, float] = defaultdict(float)
    got: dict[str, float] = defaultdict(float)
    for row in due:
        if row.due_date <= day:
            owed[row.due_date.strftime("%Y-%m")] += float(row.principal) + float(row.interest)
    for p in paid:
        got[p.paid_on.strftime("%Y-%m")] += float(_scheduled(p))
    return [
        {"month": m, "due": round(owed[m], 2), "paid": round(got[m], 2)}
        for m in sorted(set(owed) | set(got))
    ]


def _events(connection: Connection, subject: str, since: date, day: date) -> list[dict[str, Any]]:
    query = (
        select(monitor_events)
        .where(monitor_events.c.subject == subject, monitor_events.c.detected_on > since,
               monitor_events.c.detected_on <= day)
        .order_by(monitor_events.c.detected_on, monitor_events.c.kind, monitor_events.c.event_key)
    )  # fmt: skip
    return [
        {"kind": r.kind, "zh": KINDS[r.kind][0], "en": KINDS[r.kind][1], "hops": r.hops,
         "relation": r.relation, "known_at": r.known_at, "detected_on": r.detected_on}
        for r in connection.execute(query)
    ]  # fmt: skip


def _migration(scores: Sequence[Any]) -> int | None:
    """Grades worse now than at the grant (negative: better); None without a score."""
    if not scores:
        return None
    last = scores[-1]
    if last.decision_grade is None:
        return None
    worse: int = int(last.grade) - int(last.decision_grade)
    return worse
