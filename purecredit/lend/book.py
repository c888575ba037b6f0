"""The loan book's operations: open a loan on a drawdown, take a repayment (by the
waterfall, then an early repayment or a payoff: `payoff.repay`), quote the payoff amount,
write a loan off, and read a loan back. Each runs inside the caller's write transaction
(`run_locked`), so the loan, its journal entry and the credit line change together or not
at all.

Dates: a drawdown, repayment or write-off dated `on` happens during day `on`, after the end
of day of `on - 1` and before that of `on` (`state`): it is refused once the end of day of
`on` (or a later one) has started, and a payment needs the loan's end of day through
`on - 1`. A credit line's `drawn` falls by the principal repaid or written off, so the line's
available amount is its limit less the principal still outstanding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from purecredit.core.errors import Conflict, Invalid, NotFound
from purecredit.decide import exposure
from purecredit.decide.exposure import DrawResult
from purecredit.lend import payoff, records
from purecredit.lend.accrual import DEFAULT_PENALTY_MARKUP
from purecredit.lend.allocation import Allocation, Bucket, Prepaid
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.journal import Account, Kind, Line, entry, post
from purecredit.lend.money import ZERO, money
from purecredit.lend.state import ONE_DAY, LoanState, advance, open_loan
from purecredit.lend.tables import (
    ACTIVE,
    SETTLED,
    WRITTEN_OFF,
    book_days,
    loan_instalments,
    loans,
    repayments,
)
from purecredit.store.ledger import snapshot


@dataclass(frozen=True, slots=True)
class Opened:
    """A drawdown's answer: the line's (`exposure.DrawResult`) and the loan it opened."""

    draw: DrawResult
    loan_id: str | None  # None when the drawdown was refused (nothing was written)


@dataclass(frozen=True, slots=True)
class Repaid:
    """A payment's answer: its split (waterfall buckets, then any `Prepaid` parts; the rest
    is `allocation.unapplied`) and the loan after it."""

    repayment_id: str
    loan_id: str
    allocation: Allocation
    status: str  # the loan's status after the payment: active or settled
    principal_outstanding: Decimal  # after the payment


@dataclass(frozen=True, slots=True)
class WrittenOff:
    loan_id: str
    write_off: payoff.WriteOff


def draw(
    connection: Connection,
    *,
    line_id: str,
    amount: Decimal,
    branch: str,
    term_months: int,
    method: RepaymentMethod | str,
    annual_rate: Decimal,
    harvest_months: tuple[int, ...] = (),
    on: date,
    markup: Decimal = DEFAULT_PENALTY_MARKUP,
) -> Opened:
    """Draw on a credit line (`exposure.draw_on`) and open the loan with its schedule, in
    the caller's transaction; posts Dr loans_receivable / Cr cash_settlement. A refused
    drawdown (line closed or limit exceeded) writes nothing and returns `loan_id` None."""
    try:
        chosen = RepaymentMethod(method)
    except ValueError as exc:
        raise Invalid("unknown repayment method", field="method") from exc
    drawdown = Drawdown(amount, on, term_months, annual_rate, chosen, tuple(harvest_months))
    _check_open_day(connection, on)
    result = exposure.draw_on(connection, line_id=line_id, amount=amount, branch=branch)
    if not result.drawn or result.drawdown_id is None:
        return Opened(result, None)
    line = connection.execute(
        select(exposure.credit_lines.c.subject, exposure.credit_lines.c.product).where(
            exposure.credit_lines.c.line_id == line_id
        )
    ).one()
    state = open_loan(drawdown, markup=markup)
    loan_id = f"N{uuid.uuid4().hex}"
    row = records.loan_row(
        state,
        loan_id=loan_id,
        line_id=line_id,
        drawdown_id=result.drawdown_id,
        subject=line.subject,
        product=line.product,
        branch=branch,
        now=datetime.now(UTC),
    )
    connection.execute(insert(loans).values(**row))
    connection.execute(insert(loan_instalments), records.instalment_rows(loan_id, state))
    post(
        connection,
        entry(
            f"draw:{result.drawdown_id}",
            on,
            Kind.DRAWDOWN,
            loan_id,
            Line(Account.LOANS_RECEIVABLE, debit=drawdown.amount, loan_id=loan_id),
            Line(Account.CASH_SETTLEMENT, credit=drawdown.amount, loan_id=loan_id),
        ),
    )
    return Opened(result, loan_id)


def repay(connection: Connection, *, loan_id: str, amount: Decimal, on: date) -> Repaid:
    """Apply a payment made during day `on` (`payoff.repay`): the waterfall over what is due;
    the rest pays the loan off when it covers the payoff amount (the loan is settled, only
    the excess is held in unapplied_payments), and otherwise prepays interest to date and
    principal, the later instalments rebuilt on the lower balance. Records and posts it and
    frees the line by all the principal repaid. A loan with nothing left to pay is settled."""
    amount = money(amount, "amount", positive=True)
    row, state = _active(connection, loan_id, on)
    after, allocation = payoff.repay(state, on, amount)
    principal = sum((allocation.of(part) for part in _PRINCIPAL), ZERO)
    interest = sum((allocation.of(part) for part in _INTEREST), ZERO)
    penalty = allocation.of(Bucket.PENALTY_INTEREST)
    status = SETTLED if records.settled(after) else ACTIVE
    records.save_instalments(connection, loan_id, state, after)
    connection.execute(
        update(loans)
        .where(loans.c.loan_id == loan_id)
        .values(
            penalty_paid=after.penalty_paid,
            principal_outstanding=after.outstanding_principal,
            status=status,
            closed_on=on if status == SETTLED else None,
        )
    )
    repayment_id = f"R{uuid.uuid4().hex}"
    connection.execute(
        insert(repayments).values(
            repayment_id=repayment_id,
            loan_id=loan_id,
            paid_on=on,
            amount=amount,
            unapplied=allocation.unapplied,
            created_at=datetime.now(UTC),
            **{part.value: allocation.of(part) for part in (*Bucket, *Prepaid)},
        )
    )
    post(
        connection,
        entry(
            f"repay:{repayment_id}",
            on,
            Kind.REPAYMENT,
            loan_id,
            Line(Account.CASH_SETTLEMENT, debit=amount, loan_id=loan_id),
            Line(Account.PENALTY_RECEIVABLE, credit=penalty, loan_id=loan_id),
            Line(Account.INTEREST_RECEIVABLE, credit=interest, loan_id=loan_id),
            Line(Account.LOANS_RECEIVABLE, credit=principal, loan_id=loan_id),
            Line(Account.UNAPPLIED_PAYMENTS, credit=allocation.unapplied, loan_id=loan_id),
        ),
    )
    _free_line(connection, row.line_id, principal)
    return Repaid(repayment_id, loan_id, allocation, status, after.outstanding_principal)


_PRINCIPAL: tuple[Bucket | Prepaid, ...] = (
    Bucket.OVERDUE_PRINCIPAL,
    Bucket.CURRENT_PRINCIPAL,
    Prepaid.PRINCIPAL,
)
_INTEREST: tuple[Bucket | Prepaid, ...] = (
    Bucket.OVERDUE_INTEREST,
    Bucket.CURRENT_INTEREST,
    Prepaid.INTEREST,
)


def payoff_quote(engine: Engine, loan_id: str, on: date) -> payoff.Payoff:
    """What a payment during day `on` must be to pay the loan off (`payoff.payoff`; JSON by
    `to_dict`). For a day after the next one the loan is run forward with no payment in
    between, so the quote holds only if nothing is paid before. `NotFound` for an unknown
    loan; `Conflict` for a loan not active or a day whose end of day is done for it."""
    with snapshot(engine) as connection:
        found = records.load(connection, loans.c.loan_id == loan_id)
        if not found:
            raise NotFound("no such loan", record=loan_id)
        status = connection.execute(
            select(loans.c.status).where(loans.c.loan_id == loan_id)
        ).scalar_one()
    if status != ACTIVE:
        raise Conflict(f"the loan is {status}", record=loan_id, field="status")
    state = found[0][1]
    if on <= state.as_of:
        raise Conflict(
            f"the loan's end of day is done through {state.as_of}: quote a later day",
            record=loan_id,
            field="on",
        )
    ahead, _ = advance(state, on - ONE_DAY)
    return payoff.payoff(ahead, on)


def write_off(connection: Connection, *, loan_id: str, on: date) -> WrittenOff:
    """Write a loan off during day `on` (核销; whether it qualifies is the caller's policy):
    Dr write_off / Cr the receivables by `payoff.write_off`; the loan leaves the book and
    its line is freed by the principal written off."""
    row, state = _active(connection, loan_id, on)
    gone = payoff.write_off(state, on)
    connection.execute(
        update(loans)
        .where(loans.c.loan_id == loan_id)
        .values(status=WRITTEN_OFF, closed_on=on, principal_outstanding=ZERO)
    )
    total = gone.principal + gone.interest + gone.penalty_interest
    post(
        connection,
        entry(
            f"writeoff:{loan_id}",
            on,
            Kind.WRITE_OFF,
            loan_id,
            Line(Account.WRITE_OFF, debit=total, loan_id=loan_id),
            Line(Account.LOANS_RECEIVABLE, credit=gone.principal, loan_id=loan_id),
            Line(Account.INTEREST_RECEIVABLE, credit=gone.interest, loan_id=loan_id),
            Line(Account.PENALTY_RECEIVABLE, credit=gone.penalty_interest, loan_id=loan_id),
        ),
    )
    _free_line(connection, row.line_id, gone.principal)
    return WrittenOff(loan_id, gone)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class LoanView:
    """A loan as stored: its row's fields and its state (schedule with amounts paid)."""

    fields: dict[str, Any]
    state: LoanState

    def to_dict(self) -> dict[str, Any]:
        shown = {k: _json(v) for k, v in self.fields.items() if k != "created_at"}
        shown["schedule"] = [
            {
                "number": row.number,
                "period_start": row.period_start.isoformat(),
                "due_date": row.due_date.isoformat(),
                "principal": str(row.principal),
                "interest": str(row.interest),
                "principal_paid": str(self.state.principal_paid[k]),
                "interest_paid": str(self.state.interest_paid[k]),
                "rule": row.rule,
            }
            for k, row in enumerate(self.state.schedule)
        ]
        return shown


def loan(engine: Engine, loan_id: str) -> LoanView:
    """A loan with its schedule, read in one snapshot; `NotFound` for an unknown id."""
    with snapshot(engine) as connection:
        found = records.load(connection, loans.c.loan_id == loan_id, rules=True)
        if not found:
            raise NotFound("no such loan", record=loan_id)
        row = connection.execute(select(loans).where(loans.c.loan_id == loan_id)).one()
    return LoanView(dict(row._mapping), found[0][1])


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# ----------------------------------------------------------------------------- helpers


def last_book_day(connection: Connection) -> Any:
    """The latest `book_days` row (day, done_at), done or not; None before the first."""
    return connection.execute(
        select(book_days.c.day, book_days.c.done_at).order_by(book_days.c.day.desc()).limit(1)
    ).first()


def _check_open_day(connection: Connection, on: date) -> None:
    """Events wait while an end of day is unfinished and never go back into a day run."""
    last = last_book_day(connection)
    if last is None:
        return
    if last.done_at is None:
        raise Conflict(f"the end of day of {last.day} is unfinished: run it first", field="on")
    if on <= last.day:
        raise Conflict(f"the end of day of {last.day} is done: date it after that", field="on")


def _active(connection: Connection, loan_id: str, on: date) -> tuple[Any, LoanState]:
    """The loan's row and state, locked, checked to be active and to take events on `on`."""
    found = records.load(connection, loans.c.loan_id == loan_id, lock=True)
    if not found:
        raise NotFound("no such loan", record=loan_id)
    _check_open_day(connection, on)
    status = connection.execute(
        select(loans.c.status, loans.c.line_id).where(loans.c.loan_id == loan_id)
    ).one()
    if status.status != ACTIVE:
        raise Conflict(f"the loan is {status.status}", record=loan_id, field="status")
    state = found[0][1]
    if state.as_of != on - ONE_DAY:
        raise Conflict(
            f"the loan's end of day is done through {state.as_of}; an event on {on} needs "
            f"it through {on - ONE_DAY}",
            record=loan_id,
            field="on",
        )
    return status, state


def _free_line(connection: Connection, line_id: str, principal: Decimal) -> None:
    """Lower the line's drawn amount by `principal` (available = limit - outstanding)."""
    exposure.release_on(connection, line_id=line_id, amount=principal)
