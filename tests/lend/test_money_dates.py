from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purecredit.core.errors import Invalid
from purecredit.lend.dates import add_months, monthly_due_dates
from purecredit.lend.money import annual_rate, money, split_fen, to_fen


def test_to_fen_rounds_ties_up_not_to_even() -> None:
    assert to_fen(Decimal("0.125")) == Decimal("0.13")  # half-even would give 0.12
    assert to_fen(Decimal("0.135")) == Decimal("0.14")
    assert to_fen(Decimal("0.1249")) == Decimal("0.12")


@settings(max_examples=200)
@given(st.integers(0, 10**12), st.integers(1, 400))
def test_split_fen_is_exact_and_never_negative(fen: int, parts: int) -> None:
    amount = Decimal(fen).scaleb(-2)
    shares = split_fen(amount, parts)
    assert len(shares) == parts and sum(shares) == amount
    assert all(s >= 0 for s in shares)
    assert 0 <= shares[-1] - shares[0] < Decimal(parts) / 100


@pytest.mark.parametrize(
    ("value", "field"),
    [(0.1, "amount"), (Decimal("1.001"), "amount"), (Decimal(-1), "amount"), (Decimal("NaN"), "x")],
)
def test_money_refuses_bad_amounts_naming_the_field(value: object, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        money(value, field)
    assert caught.value.field == field


def test_rates_must_be_decimal_fractions() -> None:
    assert annual_rate(Decimal("0.0435"), "rate") == Decimal("0.0435")
    for bad in (0.0435, Decimal("-0.01"), Decimal("1.5")):
        with pytest.raises(Invalid):
            annual_rate(bad, "rate")


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 1, 31), 2, date(2025, 3, 31)),  # from the anchor, not from Feb 28
        (date(2025, 1, 31), 3, date(2025, 4, 30)),
        (date(2025, 8, 30), 6, date(2026, 2, 28)),
        (date(2025, 11, 15), 2, date(2026, 1, 15)),  # across the year end
        (date(2025, 5, 31), 12, date(2026, 5, 31)),
    ],
)
def test_due_dates_clamp_to_month_end(start: date, months: int, due: date) -> None:
    assert add_months(start, months) == due


def test_month_end_grid_returns_to_the_31st() -> None:
    grid = monthly_due_dates(date(2025, 1, 31), 4)
    assert grid == (date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31))
