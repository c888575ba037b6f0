"""Play loans forward in a built county: how each borrower pays each instalment after the
study date, according to the latent risk the county was simulated with.

Later stages grant loans at some date and need to know, month by month, whether the borrower
pays; they call ``Forward(county_dir).instalments(...)`` with their own schedule. The answer
comes from ``truth/`` (default, cure and lateness events), through the same rule that made the
bank's history (``behaviour.instalment_outcomes``), so a policy's realised default rate can be
measured, not only predicted.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.synth.behaviour import NEVER, instalment_outcomes
from purecredit.synth.calendar import Calendar
from purecredit.synth.manifest import read_manifest


class Forward:
    """Repayment behaviour of a county's borrowers, past and future."""

    def __init__(self, county: Path) -> None:
        manifest = read_manifest(county / "manifest.json")
        horizon = int(manifest.extra["horizon_months"])  # type: ignore[call-overload]
        self.calendar = Calendar(manifest.study_date, manifest.months, horizon)
        self.seed = manifest.seed
        self._defaults = self._events(county / manifest.truth["default_events"])
        self._lates = self._events(county / manifest.truth["late_events"])

    def _events(self, path: Path) -> pd.DataFrame:
        frame = pd.read_parquet(path)
        months = np.array(
            [self.calendar.month_of(d) for d in pd.to_datetime(frame["month"]).dt.date]
        )
        return frame.assign(key=frame["entity_key"], month=months)

    def last_day(self) -> date:
        """The last day the county's world is simulated to."""
        return self.calendar.month_end(self.calendar.total - 1)

    def instalments(
        self, *, keys: np.ndarray, start_dates: np.ndarray, due_dates: np.ndarray
    ) -> pd.DataFrame:
        """For each instalment: ``paid`` (by the end of the simulated world), ``paid_date``
        and ``days_late`` (-1 when never paid)."""
        start = self._months(start_dates)
        due_days = pd.to_datetime(due_dates)
        due = self._months(due_dates)
        if due.size and due.max() >= self.calendar.total:
            raise Invalid(
                f"instalment due after the county's last simulated day {self.last_day()}",
                field="due_date",
            )
        paid_month, days_late = instalment_outcomes(
            keys=np.asarray(keys, dtype=str),
            start_month=start,
            due_month=due,
            defaults=self._defaults,
            lates=self._lates,
            seed=self.seed,
        )
        paid = paid_month != NEVER
        paid_date = due_days + pd.to_timedelta(np.where(paid, days_late, 0), unit="D")
        return pd.DataFrame(
            {
                "paid": paid,
                "paid_date": paid_date.where(paid),
                "days_late": np.where(paid, days_late, NEVER),
            }
        )

    def _months(self, days: np.ndarray) -> np.ndarray:
        stamps = pd.to_datetime(days)
        return np.asarray(
            stamps.year * 12
            + stamps.month
            - 1
            - (self.calendar.month_start(0).year * 12 + self.calendar.month_start(0).month - 1),
            dtype=np.int64,
        )
