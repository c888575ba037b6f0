"""Partial early repayment (提前还款): the same term, lower instalments.

The borrower pays, on day `on`, the interest accrued so far in the current period plus the
principal they prepay; the instalments still to come keep their dates and are rebuilt by
the drawdown's own method on the lower balance, interest running from `on`. Instalments due
on or before `on` are taken as settled: clear arrears (`state.pay`) before prepaying.

`reschedule` is the schedule arithmetic; `prepay` applies it to a loan's state. The current
period's accrual then continues as `state.carry` sets it out: the current instalment runs
from `on` on the new balance (the end of day accrues exactly its rebuilt interest by its due
date) and carries, already paid, the principal and interest to date paid ahead, so what it
still owes is the rebuilt instalment and the accrued-unpaid interest keeps tying to
interest_receivable. A prepayment smaller than the interest to date only pays that
interest: nothing is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from purecredit.core.errors import Invalid
from purecredit.lend.accrual import interest
from purecredit.lend.drawdown import Drawdown
from purecredit.lend.money import money
from purecredit.lend.schedule import Instalment, Schedule, plan, remaining_dates
from purecredit.lend.state import LoanState, carry, current, dues, interest_to_date


@dataclass(frozen=True, slots=True)
class Rescheduled:
    """What is paid on the prepayment day and the schedule that replaces the old one."""

    on: date
    principal_prepaid: Decimal
    interest_to_date: Decimal  # current period's interest from its start to `on`, old balance
    schedule: Schedule  # settled instalments unchanged, then the rebuilt ones


def reschedule(
    drawdown: Drawdown, schedule: Schedule, *, on: date, prepayment: Decimal
) -> Rescheduled:
    """Rebuild the instalments due after `on` on the balance left after `prepayment`.

    Refuses a prepayment of the whole balance (that is a payoff, `payoff.payoff`) and a day
    outside the term.
    """
    money(prepayment, "prepayment", positive=True)
    settled = tuple(row for row in schedule if row.due_date <= on)
    ahead = [row for row in schedule if row.due_date > on]
    if on < drawdown.start or not ahead:
        raise Invalid("must fall within the term, before maturity", field="on")
    current: Instalment = ahead[0]
    balance = current.opening_principal
    if prepayment >= balance:
        raise Invalid("prepaying the whole balance is a payoff", field="prepayment")
    accrued = interest(balance, drawdown.annual_rate, (on - current.period_start).days)
    rebuilt = plan(
        drawdown,
        balance=balance - prepayment,
        since=on,
        dates=remaining_dates(drawdown, on),
        first=current.number,
    )
    return Rescheduled(on, prepayment, accrued, settled + rebuilt)


@dataclass(frozen=True, slots=True)
class Prepayment:
    """What an early repayment during day `on` paid: interest to date, then principal."""

    on: date
    interest_to_date: Decimal  # of the current instalment, accrued and unpaid (`state`)
    interest_owed: Decimal  # how much of it there was
    principal: Decimal
    balance_before: Decimal  # principal not yet due before the prepayment


def prepay(state: LoanState, on: date, amount: Decimal) -> tuple[LoanState, Prepayment]:
    """Apply `amount` paid during day `on` ahead of its dues: the current instalment's
    interest to date first, then principal, rebuilding the instalments due after `on` on
    the lower balance (`reschedule`, `state.carry`).

    Everything due must be cleared first (`state.pay`); an amount covering the whole balance
    is a payoff (`payoff.close`) and is refused here, as is a day from maturity on.
    """
    money(amount, "amount", positive=True)
    if dues(state, on).total:
        raise Invalid("clear what is due (state.pay) before prepaying", field="amount")
    k = current(state, on)
    if k is None:
        raise Invalid("must fall within the term, before maturity", field="on")
    owed = interest_to_date(state, on)
    to_interest = min(amount, owed)
    principal = amount - to_interest
    balance = state.schedule[k].opening_principal
    done = Prepayment(on, to_interest, owed, principal, balance)
    if principal == 0:
        paid = list(state.interest_paid)
        paid[k] += to_interest
        return replace(state, interest_paid=tuple(paid)), done
    new = reschedule(state.drawdown, state.schedule, on=on, prepayment=principal)
    rule = f"prepaid on {on}"
    after = carry(
        state, on, new.schedule[k:], principal=principal, interest_paid=to_interest, rule=rule
    )
    return after, done
