from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purecredit.core.errors import Invalid
from purecredit.lend.classify import Category
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.payoff import payoff, write_off
from purecredit.lend.state import LoanState, advance, dpd, dues, open_loan, pay, step
from tests.lend.strategies import amounts, rates, starts

DAY = timedelta(days=1)
RATE = Decimal("0.036")
EQUAL_PRINCIPAL = Drawdown(
    Decimal("36000.00"), date(2025, 1, 15), 3, RATE, RepaymentMethod.EQUAL_PRINCIPAL
)


def test_day_accruals_add_up_to_the_period_interest() -> None:
    state, reports = advance(open_loan(EQUAL_PRINCIPAL), date(2025, 2, 14))
    assert len(reports) == 31  # Jan 15 .. Feb 14: head counted, due day not
    assert sum(r.interest_accrued for r in reports) == Decimal("111.60")  # 36,000 x 3.6%/360 x 31
    assert all(r.dpd == 0 and r.category is Category.NORMAL for r in reports)
    assert state.schedule[0].interest == Decimal("111.60")


def test_unpaid_instalment_runs_days_past_due_and_penalty() -> None:
    state, reports = advance(open_loan(EQUAL_PRINCIPAL), date(2025, 2, 24))
    assert reports[-1].overdue_principal == Decimal("12000.00")
    assert dpd(state, date(2025, 2, 25)) == 10
    owed = dues(state, date(2025, 2, 25))
    # 12,000 overdue x 3.6% x 1.5 / 360 x 10 days (Feb 15 .. Feb 24)
    assert owed.penalty_interest == Decimal("18.00")
    assert (owed.overdue_interest, owed.overdue_principal) == (Decimal("111.60"), Decimal(12000))
    assert owed.current_interest == owed.current_principal == 0
    paid, allocation = pay(state, date(2025, 2, 25), Decimal("12129.60"))
    assert allocation.unapplied == 0 and dues(paid, date(2025, 2, 25)).total == 0
    after, report = step(paid, date(2025, 2, 25))
    assert report.dpd == 0 and report.penalty_accrued == 0
    assert after.outstanding_principal == Decimal("24000.00")


def test_partial_payment_settles_penalty_then_interest_and_keeps_dpd() -> None:
    state, _ = advance(open_loan(EQUAL_PRINCIPAL), date(2025, 2, 24))
    paid, allocation = pay(state, date(2025, 2, 25), Decimal("100.00"))
    assert [p.amount for p in allocation.parts][:3] == [Decimal(18), Decimal(82), Decimal(0)]
    assert paid.interest_paid[0] == Decimal("82.00")
    assert dpd(paid, date(2025, 2, 25)) == 10


def test_steps_must_be_consecutive_days() -> None:
    state = open_loan(EQUAL_PRINCIPAL)
    with pytest.raises(Invalid):
        step(state, date(2025, 1, 16))
    with pytest.raises(Invalid):
        dues(state, date(2025, 3, 1))


def test_payoff_mid_period_charges_interest_for_elapsed_days() -> None:
    state, _ = advance(open_loan(EQUAL_PRINCIPAL), date(2025, 2, 19))
    paid, _ = pay(state, date(2025, 2, 20), Decimal(0))
    settle = payoff(paid, date(2025, 2, 20))
    assert settle.principal_not_due == Decimal("24000.00")
    assert settle.interest_accrued == Decimal("12.00")  # 24,000 x 3.6% / 360 x 5 days
    assert settle.dues.penalty_interest == Decimal("9.00")  # 12,000 x 5.4% / 360 x 5
    assert settle.total == Decimal("9.00") + Decimal("111.60") + 12000 + 24000 + 12
    _, allocation = pay(paid, date(2025, 2, 20), settle.total)
    assert allocation.unapplied == settle.total - settle.dues.total  # the rest is a payoff


def test_write_off_after_a_year_in_arrears() -> None:
    state, reports = advance(open_loan(EQUAL_PRINCIPAL), date(2026, 2, 14))
    assert reports[-1].category is Category.LOSS  # 364 days past Feb 15, 2025
    gone = write_off(state, date(2026, 2, 15))
    assert gone.principal == Decimal("36000.00")
    assert gone.interest == sum(r.interest for r in state.schedule)
    assert gone.penalty_interest == state.penalty_accrued > 0


def pay_on_schedule(state: LoanState, until: date) -> LoanState:
    while state.as_of < until:
        today = state.as_of + DAY
        owed = dues(state, today)
        state, allocation = pay(state, today, owed.total)
        assert allocation.unapplied == 0
        state, report = step(state, today)
        assert report.dpd == 0 and report.penalty_accrued == 0
    return state


short_loans = st.builds(
    Drawdown,
    amounts,
    starts,
    st.integers(1, 6),
    rates,
    st.sampled_from([m for m in RepaymentMethod if m is not RepaymentMethod.SEASONAL]),
)


@settings(max_examples=25, deadline=None)
@given(short_loans)
def test_paying_every_due_on_time_repays_exactly_with_no_arrears(d: Drawdown) -> None:
    state = pay_on_schedule(open_loan(d), d.start + timedelta(days=190))
    assert state.outstanding_principal == 0
    assert sum(state.interest_paid) == sum(r.interest for r in state.schedule)


@settings(max_examples=25, deadline=None)
@given(short_loans, st.lists(st.tuples(st.integers(0, 250), amounts), max_size=6))
def test_random_payments_never_overpay_and_accruals_add_up(
    d: Drawdown, payments: list[tuple[int, Decimal]]
) -> None:
    state, reports, on = open_loan(d), [], dict(payments)
    end = d.start + timedelta(days=250)
    while state.as_of < end:
        today = state.as_of + DAY
        offset = (today - d.start).days
        if offset in on:
            before = dues(state, today)
            state, allocation = pay(state, today, on[offset])
            assert sum(p.amount for p in allocation.parts) + allocation.unapplied == on[offset]
            assert dues(state, today).total == before.total - (on[offset] - allocation.unapplied)
        state, report = step(state, today)
        reports.append(report)
    assert 0 <= state.outstanding_principal <= d.amount
    for k, row in enumerate(state.schedule):
        assert 0 <= state.principal_paid[k] <= row.principal
        assert 0 <= state.interest_paid[k] <= row.interest
    assert sum(r.penalty_accrued for r in reports) == state.penalty_accrued
    assert all(r.penalty_accrued >= 0 and r.interest_accrued >= 0 for r in reports)
    assert sum(r.interest_accrued for r in reports) == sum(r.interest for r in state.schedule)
    for a, b in itertools.pairwise(reports):
        if (b.day - d.start).days in on:
            assert b.dpd <= a.dpd + 1  # a payment may lower DPD, never jump it
        elif a.dpd > 0:
            assert b.dpd == a.dpd + 1  # without a payment arrears age by a day
        else:
            assert b.dpd in (0, 1)


def test_penalty_mark_up_is_a_policy_parameter() -> None:
    state, _ = advance(open_loan(EQUAL_PRINCIPAL, markup=Decimal("0.3")), date(2025, 2, 24))
    # 12,000 x 3.6% x 1.3 / 360 x 10 days
    assert dues(state, date(2025, 2, 25)).penalty_interest == Decimal("15.60")
