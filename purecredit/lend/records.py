"""A loan's rows and its `state.LoanState`, both ways: what the book and the end of day load
and write back. No arithmetic here: figures come from the state's own properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from purecredit.lend.classify import Category
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.money import ZERO
from purecredit.lend.schedule import Instalment
from purecredit.lend.state import LoanState
from purecredit.lend.tables import ACTIVE, loan_instalments, loans

# The columns a state needs, and the instalment columns without the (long) rule text.
STATE_COLUMNS = (
    loans.c.loan_id,
    loans.c.subject,
    loans.c.amount,
    loans.c.start,
    loans.c.term_months,
    loans.c.annual_rate,
    loans.c.method,
    loans.c.harvest_months,
    loans.c.penalty_markup,
    loans.c.as_of,
    loans.c.overdue_principal_days,
    loans.c.penalty_paid,
    loans.c.interest_accrued,
    loans.c.defaulted_on,
)
_INSTALMENT_COLUMNS = (
    loan_instalments.c.loan_id,
    loan_instalments.c.number,
    loan_instalments.c.period_start,
    loan_instalments.c.due_date,
    loan_instalments.c.opening_principal,
    loan_instalments.c.principal,
    loan_instalments.c.interest,
    loan_instalments.c.principal_paid,
    loan_instalments.c.interest_paid,
)


def category_name(category: Category) -> str:
    """How a category is stored and shown: "normal", "special_mention", ... "loss"."""
    return category.name.lower()


def harvest_text(months: Sequence[int]) -> str:
    return ",".join(str(m) for m in months)


def drawdown_of(row: Any) -> Drawdown:
    months = tuple(int(m) for m in row.harvest_months.split(",") if m)
    return Drawdown(
        row.amount, row.start, row.term_months, row.annual_rate, RepaymentMethod(row.method), months
    )


def state_of(row: Any, instalments: Sequence[Sequence[Any]]) -> LoanState:
    """The state of the loan in `row` (with `STATE_COLUMNS`) and its instalment rows in
    number order, as tuples in `_INSTALMENT_COLUMNS` order, the rule text last if read."""
    drawdown = drawdown_of(row)
    method = drawdown.method
    schedule = tuple(
        Instalment(r[1], r[2], r[3], r[4], r[5], r[6], method, r[9] if len(r) > 9 else "")
        for r in instalments
    )
    return LoanState(
        drawdown=drawdown,
        schedule=schedule,
        as_of=row.as_of,
        principal_paid=tuple(r[7] for r in instalments),
        interest_paid=tuple(r[8] for r in instalments),
        overdue_principal_days=row.overdue_principal_days,
        penalty_paid=row.penalty_paid,
        penalty_markup=row.penalty_markup,
    )


def load(
    connection: Connection, where: Any, *, lock: bool = False, rules: bool = False
) -> list[tuple[Any, LoanState]]:
    """The loans matching `where` (a clause on `loans`) with their states, by loan id. With
    `lock`, the loan rows are locked for update (PostgreSQL; SQLite's writer holds the DB)."""
    query = select(*STATE_COLUMNS).where(where).order_by(loans.c.loan_id)
    if lock:
        query = query.with_for_update()
    rows = connection.execute(query).all()
    if not rows:
        return []
    columns = _INSTALMENT_COLUMNS + ((loan_instalments.c.rule,) if rules else ())
    ids = [row.loan_id for row in rows]
    by_loan: dict[str, list[Any]] = {loan_id: [] for loan_id in ids}
    found = connection.execute(
        select(*columns)
        .where(loan_instalments.c.loan_id.in_(bindparam("ids", expanding=True)))
        .order_by(loan_instalments.c.loan_id, loan_instalments.c.number),
        {"ids": ids},
    ).all()
    for instalment in found:
        by_loan[instalment[0]].append(instalment)
    return [(row, state_of(row, by_loan[row.loan_id])) for row in rows]


def instalment_rows(loan_id: str, state: LoanState) -> list[dict[str, Any]]:
    """The schedule of a new loan, as rows to insert."""
    return [
        {
            "loan_id": loan_id,
            "number": row.number,
            **_terms(row),
            "principal_paid": state.principal_paid[k],
            "interest_paid": state.interest_paid[k],
        }
        for k, row in enumerate(state.schedule)
    ]


def save_instalments(
    connection: Connection, loan_id: str, before: LoanState, after: LoanState
) -> None:
    """Write back what a payment changed: the amounts paid of the instalments it paid, and
    the whole row (terms, rule, amounts paid) of the instalments it rebuilt (an early
    repayment or a payoff, `state.carry`). The schedule keeps its length."""
    rebuilt, paid = [], []
    for k, row in enumerate(after.schedule):
        values = {
            "b_loan": loan_id,
            "b_number": row.number,
            "principal_paid": after.principal_paid[k],
            "interest_paid": after.interest_paid[k],
        }
        if row != before.schedule[k]:
            rebuilt.append(values | _terms(row))
        elif (before.principal_paid[k], before.interest_paid[k]) != (
            after.principal_paid[k],
            after.interest_paid[k],
        ):
            paid.append(values)
    for changed, names in ((paid, _PAID), (rebuilt, _PAID + _TERMS)):
        if changed:
            connection.execute(
                update(loan_instalments)
                .where(
                    loan_instalments.c.loan_id == bindparam("b_loan"),
                    loan_instalments.c.number == bindparam("b_number"),
                )
                .values({name: bindparam(name) for name in names}),
                changed,
            )


_PAID = ("principal_paid", "interest_paid")
_TERMS = ("period_start", "due_date", "opening_principal", "principal", "interest", "rule")


def _terms(row: Instalment) -> dict[str, Any]:
    return {
        "period_start": row.period_start,
        "due_date": row.due_date,
        "opening_principal": row.opening_principal,
        "principal": row.principal,
        "interest": row.interest,
        "rule": row.rule[:200],
    }


def settled(state: LoanState) -> bool:
    """Nothing at all left to pay: every instalment and all penalty interest."""
    return (
        all(
            state.unpaid_principal(k) == 0 and state.unpaid_interest(k) == 0
            for k in range(len(state.schedule))
        )
        and state.penalty_accrued == state.penalty_paid
    )


def loan_row(
    state: LoanState,
    *,
    loan_id: str,
    line_id: str,
    drawdown_id: str,
    subject: str,
    product: str,
    branch: str,
    now: datetime,
) -> dict[str, Any]:
    """The `loans` row of a loan just opened (`state.open_loan`)."""
    d = state.drawdown
    return {
        "loan_id": loan_id,
        "line_id": line_id,
        "drawdown_id": drawdown_id,
        "subject": subject,
        "branch": branch,
        "product": product,
        "amount": d.amount,
        "start": d.start,
        "term_months": d.term_months,
        "annual_rate": d.annual_rate,
        "method": d.method.value,
        "harvest_months": harvest_text(d.harvest_months),
        "penalty_markup": state.penalty_markup,
        "status": ACTIVE,
        "as_of": state.as_of,
        "overdue_principal_days": state.overdue_principal_days,
        "penalty_paid": state.penalty_paid,
        "principal_outstanding": state.outstanding_principal,
        "dpd": 0,
        "category": category_name(Category.NORMAL),
        "accrual_on": None,
        "interest_accrual": ZERO,
        "penalty_accrual": ZERO,
        "interest_accrued": ZERO,
        "penalty_accrued": ZERO,
        "closed_on": None,
        "created_at": now,
    }
