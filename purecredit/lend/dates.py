"""Due dates: monthly on the drawdown's day of the month, clamped to the month's end."""

from __future__ import annotations

import calendar
from datetime import date


def add_months(anchor: date, months: int) -> date:
    """The date `months` after `anchor` on the anchor's day, or the month's last day.

    Always counted from the anchor, never chained month to month, so a loan drawn on
    Jan 31 falls due on Feb 28 (29 in a leap year) and then Mar 31 again, not Mar 28.
    """
    years, month0 = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + years, month0 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def monthly_due_dates(start: date, term_months: int) -> tuple[date, ...]:
    """The contract's monthly grid: one date per month of the term, the last is maturity."""
    return tuple(add_months(start, k) for k in range(1, term_months + 1))


def month_before(day: date) -> int:
    """The calendar month (1-12) before the month of `day`."""
    return 12 if day.month == 1 else day.month - 1
