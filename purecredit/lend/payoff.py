"""Paying a loan off in full, and writing one off: pure sums over a loan's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from purecredit.lend.accrual import interest
from purecredit.lend.allocation import Dues
from purecredit.lend.money import ZERO
from purecredit.lend.state import LoanState, dues


@dataclass(frozen=True, slots=True)
class Payoff:
    """Everything owed to close the loan during day `on`."""

    on: date
    dues: Dues  # penalty, overdue and current buckets, as the waterfall sees them
    principal_not_due: Decimal
    interest_accrued: Decimal  # current period's interest from its start to `on` (not `on`)

    @property
    def total(self) -> Decimal:
        return self.dues.total + self.principal_not_due + self.interest_accrued


@dataclass(frozen=True, slots=True)
class WriteOff:
    """The amounts taken off the books when a loan is written off (核销).

    Principal is every unpaid yuan lent; interest is contract interest owed or accrued; the
    penalty is kept apart because banks track it off the balance sheet for recovery.
    """

    on: date
    principal: Decimal
    interest: Decimal
    penalty_interest: Decimal


def payoff(state: LoanState, on: date) -> Payoff:
    """The payoff amount during day `on`: all dues, the principal not yet due, and the
    current period's interest for the days elapsed (head-not-tail, so none for `on`)."""
    owed = dues(state, on)
    ahead = [k for k, row in enumerate(state.schedule) if row.due_date > on]
    not_due = sum((state.unpaid_principal(k) for k in ahead), ZERO)
    accrued = ZERO
    if ahead:
        row = state.schedule[ahead[0]]
        days = (on - row.period_start).days
        accrued = interest(row.opening_principal, state.drawdown.annual_rate, days)
    return Payoff(on, owed, not_due, accrued)


def write_off(state: LoanState, on: date) -> WriteOff:
    """The principal, interest and penalty interest written off during day `on`."""
    settle = payoff(state, on)
    owed = settle.dues
    return WriteOff(
        on=on,
        principal=owed.overdue_principal + owed.current_principal + settle.principal_not_due,
        interest=owed.overdue_interest + owed.current_interest + settle.interest_accrued,
        penalty_interest=owed.penalty_interest,
    )
