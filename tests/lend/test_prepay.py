from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purecredit.core.errors import Invalid
from purecredit.lend.accrual import interest
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.prepay import reschedule
from purecredit.lend.schedule import annuity_payment, build_schedule
from tests.lend.strategies import drawdowns

M = RepaymentMethod
LOAN = Drawdown(Decimal("100000.00"), date(2025, 1, 31), 12, Decimal("0.0435"), M.EQUAL_INSTALMENTS)


def test_prepaying_keeps_the_term_and_lowers_the_instalments() -> None:
    old = build_schedule(LOAN)
    on = date(2025, 5, 10)  # 10 days into the 4th period (Apr 30 - May 31)
    new = reschedule(LOAN, old, on=on, prepayment=Decimal("30000.00"))
    balance = old[3].opening_principal
    assert new.interest_to_date == interest(balance, LOAN.annual_rate, 10)
    assert [r.due_date for r in new.schedule] == [r.due_date for r in old]
    assert new.schedule[:3] == old[:3]
    rebuilt = new.schedule[3:]
    assert rebuilt[0].period_start == on and rebuilt[0].number == 4
    assert sum(r.principal for r in rebuilt) == balance - Decimal("30000.00")
    level = annuity_payment(balance - Decimal(30000), LOAN.annual_rate, 9)
    assert all(r.payment == level for r in rebuilt[:-1])
    assert all(n.payment < o.payment for n, o in zip(rebuilt, old[3:], strict=True))


def test_prepaying_everything_is_a_payoff_not_a_reschedule() -> None:
    old = build_schedule(LOAN)
    with pytest.raises(Invalid) as caught:
        reschedule(LOAN, old, on=date(2025, 5, 10), prepayment=old[3].opening_principal)
    assert caught.value.field == "prepayment"
    with pytest.raises(Invalid) as caught:
        reschedule(LOAN, old, on=date(2026, 2, 1), prepayment=Decimal(1))
    assert caught.value.field == "on"


@settings(max_examples=200, deadline=None)
@given(drawdowns(), st.floats(0, 1), st.floats(0, 1))
def test_rescheduled_principal_still_sums_to_the_amount(
    d: Drawdown, when: float, share: float
) -> None:
    old = build_schedule(d)
    on = d.start + timedelta(days=int(when * ((old[-1].due_date - d.start).days - 1)))
    balance = next(r.opening_principal for r in old if r.due_date > on)
    prepay = (balance * Decimal(share)).quantize(Decimal("0.01"))
    if not 0 < prepay < balance:
        return
    new = reschedule(d, old, on=on, prepayment=prepay)
    assert sum(r.principal for r in new.schedule) + prepay == d.amount
    assert all(r.principal >= 0 and r.interest >= 0 for r in new.schedule)
    assert [r.due_date for r in new.schedule] == [r.due_date for r in old]
    assert [r.number for r in new.schedule] == list(range(1, len(old) + 1))
