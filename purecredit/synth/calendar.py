"""Month arithmetic for the simulation: month ``t`` runs from 0 (first month of history).

The study month is ``months - 1``; months after it are the future the truth and the
play-forward use. Dates are month ends, since sources report monthly figures at month end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np


@dataclass(frozen=True)
class Calendar:
    study_date: date
    history_months: int
    horizon_months: int

    @property
    def total(self) -> int:
        return self.history_months + self.horizon_months

    @property
    def study_month(self) -> int:
        """Index of the month that ends on the study date."""
        return self.history_months - 1

    def month_start(self, t: int) -> date:
        y, m = divmod(self._study_index() - self.study_month + t, 12)
        return date(y, m + 1, 1)

    def month_end(self, t: int) -> date:
        nxt = self.month_start(t + 1)
        return date.fromordinal(nxt.toordinal() - 1)

    def month_of(self, day: date) -> int:
        """Month index of a calendar date (may be negative or past the horizon)."""
        return day.year * 12 + day.month - 1 - (self._study_index() - self.study_month)

    def month_label(self, t: int) -> str:
        start = self.month_start(t)
        return f"{start.year:04d}-{start.month:02d}"

    def starts(self) -> np.ndarray:
        """Month starts of every simulated month, as datetime64[D]."""
        return np.array([self.month_start(t) for t in range(self.total)], dtype="datetime64[D]")

    def calendar_months(self) -> np.ndarray:
        """Calendar month (1-12) of every simulated month."""
        first = self.month_start(0).month - 1
        return (first + np.arange(self.total)) % 12 + 1

    def _study_index(self) -> int:
        return self.study_date.year * 12 + self.study_date.month - 1
