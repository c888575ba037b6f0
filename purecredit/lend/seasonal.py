"""The seasonal plan's dates (按季付息收获后还本), for herb farmers and traders.

A grower earns once or twice a year, when the crop is dug and sold, so principal is due
just after each harvest and only interest is paid in between. The exact rules:

- A harvest season is a run of consecutive harvest months, wrapping the year end
  ((11, 12, 1) is one season ending in January); all twelve months count as one season
  ending in December. Only a season's last month matters: that is when the crop is sold.
- A principal date is the first monthly due date after a season's last month, i.e. the due
  date in the following month, provided that last month falls after the drawdown's month
  (a harvest already under way when the money is lent cannot have been funded by it) and
  the date falls within the term.
- Interest is due quarterly (every third monthly due date), on every principal date (so each
  interest period has a single balance) and at maturity.
"""

from __future__ import annotations

from datetime import date

from purecredit.lend.dates import month_before

QUARTER = 3


def season_ends(harvest_months: tuple[int, ...]) -> frozenset[int]:
    """The last month of each harvest season (a month whose next month is not a harvest)."""
    months = set(harvest_months)
    if len(months) == 12:
        return frozenset({12})
    return frozenset(m for m in months if m % 12 + 1 not in months)


def principal_dates(grid: tuple[date, ...], harvest_months: tuple[int, ...]) -> tuple[date, ...]:
    """The due dates of the monthly grid on which a share of principal falls due.

    The first grid date is in the month after the drawdown, so a date qualifies when it is
    not the first and the month before it ends a harvest season.
    """
    ends = season_ends(harvest_months)
    return tuple(day for k, day in enumerate(grid) if k > 0 and month_before(day) in ends)


def instalment_dates(grid: tuple[date, ...], harvest_months: tuple[int, ...]) -> tuple[date, ...]:
    """Quarterly interest dates, principal dates and maturity, in order, without repeats."""
    quarterly = {day for k, day in enumerate(grid, start=1) if k % QUARTER == 0}
    return tuple(sorted(quarterly | set(principal_dates(grid, harvest_months)) | {grid[-1]}))
