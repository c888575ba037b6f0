"""Partial early repayment (提前还款): the same term, lower instalments.

The borrower pays, on day `on`, the interest accrued so far in the current period plus the
principal they prepay; the instalments still to come keep their dates and are rebuilt by
the drawdown's own method on the lower balance, interest running from `on`. Instalments due
on or before `on` are taken as settled: clear arrears (`state.pay`) before prepaying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from purecredit.core.errors import Invalid
from purecredit.lend.accrual import interest
from purecredit.lend.drawdown import Drawdown
from purecredit.lend.money import money
from purecredit.lend.schedule import Instalment, Schedule, plan, remaining_dates


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
