"""The book played forward with its monitoring: each month the county's later delivery is
ingested, the profiles rebuilt and the day's monitoring batch run, while the book lives
through `lend.play` day by day. What the warnings are then worth is measured on this book
(`monitor.evaluate`).

The timing a bank has: month m's delivery (`synth later` writes `<county>/later/YYYY-MM/`)
arrives on day `DELIVERY_DAY` of month m+1, after that day's end of day: the copies are taken
as known that day (monthly feeds by their own lags, `ingest`), profiles are rebuilt as of it,
and the batch runs for it. New applications from the next day on are decided on the new
profiles, as they would be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from purecredit.core.errors import Invalid
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.lend.play import Day, Play, PlayConfig
from purecredit.lend.play_report import month_of
from purecredit.monitor.evaluate import evaluate
from purecredit.monitor.run import RunResult, run_monitor
from purecredit.profile.build import build_profiles
from purecredit.store.lake import Lake
from purecredit.synth.manifest import read_manifest

log = logging.getLogger(__name__)
DELIVERY_DAY = 5


def _previous_month(label: str) -> str:
    year, month = (int(part) for part in label.split("-"))
    year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return f"{year:04d}-{month:02d}"


class MonitoredPlay:
    """A `lend.play.Play` with a delivery, a profile build and a monitoring batch each month."""

    def __init__(self, counter: Counter, county: Path, config: PlayConfig) -> None:
        self.counter = counter
        self.settings = counter.settings
        self.county = county
        self.play = Play(counter, county, config)
        self.lake = Lake(self.settings.home / "lake")
        self.catalog = load_catalog()
        self.protector = Protector.from_settings(self.settings, counter.engine)
        self.runs: list[RunResult] = []
        # Months up to the study date came with the county itself.
        self.study_month = month_of(read_manifest(county / "manifest.json").study_date)

    def span(self) -> tuple[date, date]:
        return self.play.span()

    def deliveries(self) -> list[str]:
        """The months whose delivery the play needs, in order; refused when one is missing."""
        start, end = self.play.span()
        months, day = [], start
        while day <= end:
            month = _previous_month(month_of(day))
            if day.day == DELIVERY_DAY and month > self.study_month:
                months.append(month)
            day = day.fromordinal(day.toordinal() + 1)
        missing = [m for m in months if not (self.county / "later" / m).is_dir()]
        if missing:
            raise Invalid(
                f"the county has no delivery for {', '.join(missing)}: run "
                f"`purecredit synth later {self.county} --months N` first",
                field="county",
            )
        return months

    def run(self, on_day: Callable[[Day], None] | None = None) -> dict[str, Any]:
        self.deliveries()

        def each(done: Day) -> None:
            if done.day.day == DELIVERY_DAY:
                self._deliver(done)
            if on_day is not None:
                on_day(done)

        report = self.play.run(each)
        report["monitoring"] = {
            "runs": [r.to_dict() for r in self.runs],
            "evaluation": evaluate(self.counter.engine),
        }
        return report

    def _deliver(self, done: Day) -> None:
        month = _previous_month(month_of(done.day))
        if month <= self.study_month:
            return
        folder = self.county / "later" / month
        ingest_directory(
            folder,
            catalog=self.catalog,
            lake=self.lake,
            protector=self.protector,
            observed_at=datetime.combine(done.day, time()),
        )
        build_profiles(
            self.lake, self.catalog, self.counter.engine, done.day,
            memory=self.settings.duckdb_memory,
        )  # fmt: skip
        result = run_monitor(self.settings, self.counter.engine, done.day)
        self.runs.append(result)
        log.info("delivery %s on %s: %s", month, done.day, result.to_dict())
