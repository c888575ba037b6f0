"""Paying a loan off in full, writing one off, and taking a whole payment: pure sums over a
loan's state.

A payment during day `on` (`repay`) first meets what is due by the waterfall (`state.pay`).
What is left then pays the loan off when it covers the payoff amount (`payoff`: the
principal not yet due and the interest accrued to date; only the excess is unapplied), and
otherwise is an early repayment (`prepay.prepay`). Each part beyond the dues is an
`allocation.Allocated` of a `Prepaid` bucket, with the rule that gave it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from purecredit.core.errors import Invalid
from purecredit.lend.allocation import Allocated, Allocation, Bucket, Dues, Prepaid
from purecredit.lend.money import ZERO
from purecredit.lend.prepay import prepay
from purecredit.lend.state import LoanState, carry, current, dues, interest_to_date, pay


@dataclass(frozen=True, slots=True)
class Payoff:
    """Everything owed to close the loan during day `on`."""

    on: date
    dues: Dues  # penalty, overdue and current buckets, as the waterfall sees them
    principal_not_due: Decimal
    interest_accrued: Decimal  # current period's interest accrued to `on` (not `on`), unpaid

    @property
    def total(self) -> Decimal:
        return self.dues.total + self.principal_not_due + self.interest_accrued

    def to_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "dues": {bucket.value: str(self.dues.of(bucket)) for bucket in Bucket},
            "principal_not_due": str(self.principal_not_due),
            "interest_accrued": str(self.interest_accrued),
            "total": str(self.total),
        }


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
    current period's interest accrued and unpaid (head-not-tail, so none for `on`)."""
    owed = dues(state, on)
    k = current(state, on)
    ahead = range(len(state.schedule) if k is None else k, len(state.schedule))
    not_due = sum((state.unpaid_principal(j) for j in ahead), ZERO)
    return Payoff(on, owed, not_due, interest_to_date(state, on))


def close(state: LoanState, on: date) -> LoanState:
    """Pay off, during day `on`, a loan whose dues are cleared: the instalments due after
    `on` fall to nothing but the current one, which carries the principal not yet due and
    the interest to date, paid (`state.carry`). Nothing is left to accrue or to pay."""
    quote = payoff(state, on)
    if quote.dues.total:
        raise Invalid("clear what is due (state.pay) before paying off", field="state")
    k = current(state, on)
    if k is None:
        return state
    gone = f"paid off on {on}"
    rows = tuple(
        replace(
            row,
            period_start=on if j == k else row.period_start,
            opening_principal=ZERO,
            principal=ZERO,
            interest=ZERO,
            rule="" if j == k else f"{gone}: nothing falls due",
        )
        for j, row in enumerate(state.schedule)
        if j >= k
    )
    return carry(
        state,
        on,
        rows,
        principal=quote.principal_not_due,
        interest_paid=quote.interest_accrued,
        rule=gone,
    )


def repay(state: LoanState, on: date, amount: Decimal) -> tuple[LoanState, Allocation]:
    """The whole of a payment during day `on` (see the module docstring): the waterfall,
    then a payoff or an early repayment; the allocation's `unapplied` is what is left."""
    paid, allocation = pay(state, on, amount)
    left = allocation.unapplied
    quote = payoff(paid, on)
    if left == 0 or quote.total == 0:
        return paid, allocation
    if left >= quote.total:
        interest = Allocated(
            Prepaid.INTEREST,
            quote.interest_accrued,
            f"payoff 1/2: interest accrued to date (owed {quote.interest_accrued})",
        )
        principal = Allocated(
            Prepaid.PRINCIPAL,
            quote.principal_not_due,
            f"payoff 2/2: principal not yet due (owed {quote.principal_not_due})",
        )
        return close(paid, on), allocation.with_prepayment(interest, principal)
    after, done = prepay(paid, on, left)
    interest = Allocated(
        Prepaid.INTEREST,
        done.interest_to_date,
        f"prepayment 1/2: interest accrued to date (owed {done.interest_owed})",
    )
    principal = Allocated(
        Prepaid.PRINCIPAL,
        done.principal,
        f"prepayment 2/2: principal, later instalments rebuilt (balance {done.balance_before})",
    )
    return after, allocation.with_prepayment(interest, principal)


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
