"""Interest by the day: annual rate / 360, rounded to the fen once per period.

Day count: Chinese banks compute a daily rate as the annual rate / 360 (and a monthly rate
as the annual rate / 12), on the actual days elapsed (actual/360; see `data/bozhou.yaml`,
`banking.day_count`). Days are counted head-not-tail (算头不算尾): a period from the
drawdown to the first due date earns interest for the drawdown day and not the due day.

Rounding point: interest is rounded to the fen once per instalment period (or once per
penalty total), never per day, so the schedule's figure is reproducible from its inputs:
interest = to_fen(principal x rate / 360 x days). A daily accrual is the difference of two
such roundings, so the days of a period always add up to exactly the period's interest.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from purecredit.lend.money import ZERO, to_fen

DAYS_IN_YEAR = 360  # actual/360, the Chinese banks' day-count basis
MONTHS_IN_YEAR = 12
# Penalty interest (罚息) on overdue principal: contract rate x (1 + mark-up). The PBoC's
# rules allow a mark-up of 30%-50%; 50% is what most Chinese lenders write into contracts.
DEFAULT_PENALTY_MARKUP = Decimal("0.5")
_PRECISION = 50  # digits for the exact product before the single rounding to fen


def interest(principal: Decimal, annual_rate: Decimal, days: int) -> Decimal:
    """Interest on `principal` for `days` days: to_fen(principal x rate / 360 x days)."""
    if days <= 0 or principal == 0:
        return ZERO
    return basis_interest(principal * days, annual_rate)


def basis_interest(principal_days: Decimal, annual_rate: Decimal) -> Decimal:
    """Interest on an accumulated balance (积数, principal x days): to_fen(积数 x rate / 360).

    The accumulated-balance method (积数计息法) is how banks charge interest on a balance that
    changes from day to day: add each day's balance, apply the daily rate once.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return to_fen(principal_days * annual_rate / DAYS_IN_YEAR)


def day_interest(principal: Decimal, annual_rate: Decimal, day_of_period: int) -> Decimal:
    """The accrual for the `day_of_period`-th day (1-based) of a period on a fixed balance.

    The difference between interest to the end of this day and to the end of the day before,
    so summing days 1..n gives exactly `interest(principal, annual_rate, n)`.
    """
    return interest(principal, annual_rate, day_of_period) - interest(
        principal, annual_rate, day_of_period - 1
    )


def penalty_rate(annual_rate: Decimal, markup: Decimal = DEFAULT_PENALTY_MARKUP) -> Decimal:
    """The penalty annual rate on overdue principal: contract rate x (1 + mark-up)."""
    return annual_rate * (1 + markup)
