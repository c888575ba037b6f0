from __future__ import annotations

import itertools
import typing
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings

from purecredit.core.errors import Invalid
from purecredit.decide import policy
from purecredit.lend.dates import add_months, monthly_due_dates
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.schedule import Schedule, annuity_payment, build_schedule
from tests.lend.strategies import drawdowns

M = RepaymentMethod
RATE = Decimal("0.0435")
START = date(2025, 1, 31)


def fen(value: Fraction) -> Decimal:
    """Independent rounding: an exact rational to the fen, half up."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_interest(principal: Decimal, rate: Decimal, days: int) -> Decimal:
    return fen(Fraction(principal) * Fraction(rate) * days / 360)


def loan(
    method: RepaymentMethod = M.EQUAL_INSTALMENTS, harvest: tuple[int, ...] = (), **kw: object
) -> Drawdown:
    terms: dict[str, typing.Any] = {
        "amount": Decimal("100000.00"),
        "start": START,
        "term_months": 12,
        "annual_rate": RATE,
        "method": method,
        "harvest_months": harvest,
    }
    return Drawdown(**(terms | kw))


def test_method_names_are_the_product_policy_names() -> None:
    assert typing.get_args(policy.RepaymentMethod) == tuple(m.value for m in M)


# ----------------------------------------------------------------------------- worked examples


def test_equal_instalments_100k_12_months_at_4_35() -> None:
    i = Fraction(RATE) / 12
    growth = (1 + i) ** 12
    payment = fen(100_000 * i * growth / (growth - 1))
    assert payment == Decimal("8530.99")  # the figure every Chinese loan calculator shows
    rows = build_schedule(loan(M.EQUAL_INSTALMENTS))
    assert all(r.payment == payment for r in rows[:-1])
    assert rows[0].interest == Decimal("338.33")  # 100,000 x 4.35% / 360 x 28 days (Feb)
    assert rows[0].principal == Decimal("8192.66")
    assert sum(r.principal for r in rows) == Decimal("100000.00")


def test_equal_principal_100k_12_months() -> None:
    rows = build_schedule(loan(M.EQUAL_PRINCIPAL))
    assert [r.principal for r in rows] == [Decimal("8333.33")] * 11 + [Decimal("8333.37")]
    # Month 2: 91,666.67 outstanding for the 31 days Feb 28 - Mar 31.
    assert rows[1].interest == Decimal("343.37")


def test_interest_only_pays_principal_at_maturity() -> None:
    rows = build_schedule(loan(M.INTEREST_ONLY))
    assert [r.principal for r in rows[:-1]] == [Decimal(0)] * 11
    assert rows[-1].principal == Decimal("100000.00")
    assert rows[1].interest == Decimal("374.58")  # 100,000 x 4.35% / 360 x 31


def test_seasonal_principal_after_autumn_harvest() -> None:
    rows = build_schedule(loan(M.SEASONAL, (10, 11)))
    dues = [r.due_date for r in rows]
    assert dues == [
        date(2025, 4, 30),
        date(2025, 7, 31),
        date(2025, 10, 31),
        date(2025, 12, 31),  # first due date after November, the season's last month
        date(2026, 1, 31),
    ]
    assert [r.principal for r in rows] == [0, 0, 0, Decimal("100000.00"), 0]
    assert rows[0].interest == expected_interest(Decimal(100_000), RATE, 89)


def test_seasonal_two_seasons_a_year_split_equally_remainder_at_maturity() -> None:
    d = loan(M.SEASONAL, (3, 4, 9, 10), amount=Decimal("100000.03"), term_months=24)
    d = Drawdown(d.amount, date(2025, 1, 15), 24, RATE, M.SEASONAL, d.harvest_months)
    rows = build_schedule(d)
    paying = {r.due_date: r.principal for r in rows if r.principal}
    assert paying == {
        date(2025, 5, 15): Decimal("25000.00"),
        date(2025, 11, 15): Decimal("25000.00"),
        date(2026, 5, 15): Decimal("25000.00"),
        date(2026, 11, 15): Decimal("25000.00"),
        date(2027, 1, 15): Decimal("0.03"),
    }


def test_seasonal_harvest_wrapping_the_year_end_ends_in_january() -> None:
    d = Drawdown(Decimal(9000), date(2025, 3, 10), 12, RATE, M.SEASONAL, (11, 12, 1))
    paying = [r.due_date for r in build_schedule(d) if r.principal]
    assert paying == [date(2026, 2, 10)]  # the month after January; no remainder to add


def test_seasonal_without_a_harvest_in_the_term_repays_at_maturity() -> None:
    d = Drawdown(Decimal(5000), date(2025, 1, 15), 3, RATE, M.SEASONAL, (9,))
    rows = build_schedule(d)
    assert [(r.due_date, r.principal) for r in rows] == [(date(2025, 4, 15), Decimal(5000))]


def test_seasonal_harvest_under_way_at_drawdown_does_not_count() -> None:
    # Lent in November, mid-harvest: that crop is not what the loan funds; next year's
    # November harvest would be repaid in December 2026, after the term.
    d = Drawdown(Decimal(5000), date(2025, 11, 10), 12, RATE, M.SEASONAL, (11,))
    rows = build_schedule(d)
    assert [r.principal for r in rows][-1] == Decimal(5000)
    assert all(r.principal == 0 for r in rows[:-1])


# ----------------------------------------------------------------------------- properties


def check_common(d: Drawdown, rows: Schedule) -> None:
    assert sum(r.principal for r in rows) == d.amount
    assert all(r.principal >= 0 and r.interest >= 0 for r in rows)
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    assert rows[-1].due_date == add_months(d.start, d.term_months)
    assert set(r.due_date for r in rows) <= set(monthly_due_dates(d.start, d.term_months))
    start, balance = d.start, d.amount
    for r in rows:
        assert (r.period_start, r.opening_principal) == (start, balance)
        assert r.due_date > r.period_start
        assert r.interest == expected_interest(balance, d.annual_rate, (r.due_date - start).days)
        assert r.method is d.method and r.rule
        start, balance = r.due_date, balance - r.principal
    assert balance == 0


@settings(max_examples=200, deadline=None)
@given(drawdowns())
def test_every_schedule_repays_exactly_with_the_stated_interest(d: Drawdown) -> None:
    check_common(d, build_schedule(d))


@settings(max_examples=200, deadline=None)
@given(drawdowns(M.EQUAL_INSTALMENTS))
def test_equal_instalments_are_level_until_the_last(d: Drawdown) -> None:
    rows = build_schedule(d)
    if d.amount >= 100:  # below that, a payment rounded to the fen can clear it early
        level = annuity_payment(d.amount, d.annual_rate, d.term_months)
        assert all(r.payment == level for r in rows[:-1])
        assert rows[-1].principal > 0


@settings(max_examples=200, deadline=None)
@given(drawdowns(M.EQUAL_PRINCIPAL))
def test_equal_principal_shares_differ_by_less_than_a_fen_per_period(d: Drawdown) -> None:
    shares = [r.principal for r in build_schedule(d)]
    assert len(set(shares[:-1])) <= 1
    assert 0 <= shares[-1] - shares[0] < Decimal(len(shares)) / 100


@settings(max_examples=200, deadline=None)
@given(drawdowns(M.SEASONAL))
def test_seasonal_pays_interest_at_least_quarterly(d: Drawdown) -> None:
    rows = build_schedule(d)
    grid = monthly_due_dates(d.start, d.term_months)
    months = [0] + [grid.index(r.due_date) + 1 for r in rows]  # month of the term
    assert all(0 < b - a <= 3 for a, b in itertools.pairwise(months))
    shares = {r.principal for r in rows[:-1] if r.principal}
    assert len(shares) <= 1  # equal shares; only maturity adds the remainder


def test_annuity_payment_independent_of_code_at_zero_rate() -> None:
    assert annuity_payment(Decimal("100.00"), Decimal(0), 3) == Decimal("33.33")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 100000.0}, "amount"),
        ({"amount": Decimal(0)}, "amount"),
        ({"term_months": 0}, "term_months"),
        ({"annual_rate": 0.0435}, "annual_rate"),
        ({"method": "等额本息"}, "method"),
        ({"harvest_months": (10,)}, "harvest_months"),
        ({"method": M.SEASONAL}, "harvest_months"),
        ({"method": M.SEASONAL, "harvest_months": (13,)}, "harvest_months"),
        ({"method": M.SEASONAL, "harvest_months": (9, 9)}, "harvest_months"),
    ],
)
def test_bad_drawdowns_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        loan(**change)  # type: ignore[arg-type]
    assert caught.value.field == field
