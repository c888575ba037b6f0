"""The book, played forward: the synthetic county lives month after month through the bank's
real code paths, and the book it leaves is reported.

Each day of the play, in this order (a drawdown or repayment dated D happens during day D,
before its end of day; `lend.book`):

1. the day's walk-in applications (`decide.applications.month_of_walk_ins`, one batch a
   month) go through `Counter.apply`; an approved, granted line is drawn on within a week;
2. drawdowns due that day (`book.draw`, terms by `play_borrowers.Borrowers.terms`), in one
   transaction; each new loan's instalments are played in the county's world
   (`Borrowers.plans`, `synth.play.Forward`);
3. repayments the world makes that day (`book.repay`, in one transaction): on the day an
   instalment is paid, the borrower pays it, with every earlier one paid by then and the
   penalty owed;
4. the end of day (`eod.run_eod`), every day;
5. at a month end, a snapshot of every loan (`play_report.Snapshots`).

On the first day of each month a line with room (at least a tenth of its limit) whose
borrower has no loan in arrears is drawn on again with probability `REDRAW_CHANCE`, on a
day of the month fixed by a stable hash (repeat borrowers).

The play writes into the ledger it is given (the home's): it starts at the profiles' date
on an empty book, or continues the day after the book's last end of day (loans it finds are
played in the world too; those of subjects the county does not know are never paid, and
counted). With `fresh`, a book that already holds a loan or an end of day is refused.
The play ends on the last day of its last month, which must be within the county's world.

Reproducible: applications are drawn with the seed, every choice of the borrowers is a
stable hash, and outcomes come from the world. One caveat, outside this module:
`Counter.apply` draws each application id at random and the champion/challenger arm is a
hash of it, so about one application in ten goes to the challenger, a different tenth in
each play; two plays with one seed agree exactly only where both arms decide alike.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, bindparam, func, select

from purecredit.core.errors import Conflict, Invalid, PurecreditError
from purecredit.decide import exposure, store
from purecredit.decide.applications import Ask, month_of_walk_ins, outlets_of
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.lend import book, records
from purecredit.lend.drawdown import Drawdown
from purecredit.lend.eod import EodResult, run_eod
from purecredit.lend.play_borrowers import Borrowers, owed, uniform
from purecredit.lend.play_report import Snapshots, book_figures, month_of
from purecredit.lend.tables import ACTIVE, create_tables, dec, loans
from purecredit.store.lake import Lake
from purecredit.store.ledger import run_locked, snapshot

log = logging.getLogger(__name__)

APPLICANT_SHARE = 0.04  # of the county's residents apply in a month, by default
FIRST_DRAW_WITHIN = 7  # days after the approval
DRAW_SHARE = (0.5, 1.0)  # of the line's limit drawn at once (no more than is available)
REDRAW_CHANCE = 0.25  # a month, for a line with room and its borrower in no arrears
ROOM = Decimal("0.1")  # of the limit: a line with less available is not drawn on again
THOUSAND = Decimal(1000)  # drawdowns are in whole thousands of yuan
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class PlayConfig:
    months: int
    applicants_per_month: int | None = None  # None: APPLICANT_SHARE of the residents
    seed: int = 0
    fresh: bool = False

    def __post_init__(self) -> None:
        if self.months < 1:
            raise Invalid("must be at least 1", field="months")
        if self.applicants_per_month is not None and self.applicants_per_month < 0:
            raise Invalid("cannot be negative", field="applicants_per_month")


@dataclass(frozen=True, slots=True)
class Day:
    """One day played: what happened and the end of day's figures."""

    day: date
    applications: int
    drawn: int
    repaid: int
    eod: EodResult


@dataclass
class Timing:
    """Seconds spent in each part of the play (for the benchmark)."""

    applications: float = 0.0
    drawdowns: float = 0.0
    repayments: float = 0.0
    eod: float = 0.0
    snapshots: float = 0.0
    days: int = 0
    months: int = 0


def _month_days(start: date, months: int) -> list[tuple[str, list[date]]]:
    """The play's months (YYYY-MM) with their days, the first from `start`."""
    out = []
    first = start.replace(day=1)
    for i in range(months):
        month = (pd.Timestamp(first) + pd.DateOffset(months=i)).date()
        last = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
        begin = max(month, start)
        out.append(
            (month_of(month), [begin + timedelta(days=d) for d in range((last - begin).days + 1)])
        )
    return out


@dataclass
class Play:
    """A play over one ledger (the counter's) and one county: `run` it once."""

    counter: Counter
    county: Path
    config: PlayConfig
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        self.engine = self.counter.engine
        create_tables(self.engine)
        self.borrowers = Borrowers(
            self.county,
            self.counter.settings,
            self.counter.profiles["person"],
            self.counter.policy,
        )
        self.snapshots = Snapshots()
        self.plans: dict[str, dict[date, date | None]] = {}
        self._pay_days: dict[date, set[str]] = {}
        self._draws: dict[date, list[str]] = {}
        self._pending: set[str] = set()
        self.applications: Tally[str] = Tally()
        self.outside = 0

    # ------------------------------------------------------------------ the run

    def run(self, on_day: Callable[[Day], None] | None = None) -> dict[str, Any]:
        """Play every day (see the module docstring); the book's report at the end."""
        start, self.end = self.span()
        months = _month_days(start, self.config.months)
        outlets = self._outlets()
        per_month = self._per_month()
        self._plan_existing()
        last: EodResult | None = None
        for i, (month, days) in enumerate(months):
            asks = self._asks(month, outlets, per_month, start, i)
            self._schedule_redraws(month, days)
            for day in days:
                last = self._day(day, asks.get(day, []), on_day)
            self.timing.months += 1
            assert last is not None
            log.info("played %s: %s loans, NPL ratio %s", month, last.loans, last.npl_ratio)
        assert last is not None  # every month has a day
        return self.report(start, per_month, last)

    def span(self) -> tuple[date, date]:
        """The play's first and last days (see the module docstring); refused when the
        book cannot be played (`fresh` and not empty, an end of day unfinished, no
        profiles) or the county's world ends before the last day."""
        start = self._start()
        end = _month_days(start, self.config.months)[-1][1][-1]
        if end > self.borrowers.forward.last_day():
            raise Invalid(
                f"the play would end on {end}, after the county's world ends on "
                f"{self.borrowers.forward.last_day()}: play fewer months",
                field="months",
            )
        return start, end

    def _day(self, day: date, asks: list[Ask], on_day: Callable[[Day], None] | None) -> EodResult:
        clock = time.perf_counter()
        for ask in asks:
            self._apply(ask)
        clock = self._tick("applications", clock)
        drawn = self._draw(day)
        clock = self._tick("drawdowns", clock)
        repaid = self._repay(day)
        clock = self._tick("repayments", clock)
        result = run_eod(self.engine, day)
        clock = self._tick("eod", clock)
        if (day + ONE_DAY).day == 1 or day == self.end:
            self.snapshots.take(self.engine, day)
            self._tick("snapshots", clock)
        self.timing.days += 1
        if on_day is not None:
            on_day(Day(day, len(asks), drawn, repaid, result))
        return result

    def _tick(self, part: str, since: float) -> float:
        now = time.perf_counter()
        setattr(self.timing, part, getattr(self.timing, part) + now - since)
        return now

    # ------------------------------------------------------------------ setting out

    def _start(self) -> date:
        """The profiles' date on an empty book, else the day after its last end of day."""
        with snapshot(self.engine) as connection:
            last = book.last_book_day(connection)
            held = connection.execute(select(func.count()).select_from(loans)).scalar_one()
        if self.config.fresh and (last is not None or held):
            raise Conflict(
                f"the book is not empty ({held} loans, end of day through "
                f"{None if last is None else last.day}): --fresh plays only an empty book",
                field="fresh",
            )
        if last is not None:
            if last.done_at is None:
                raise Conflict(f"the end of day of {last.day} is unfinished: run it first")
            next_day: date = last.day + ONE_DAY
            return next_day
        profiles = self.counter.profiles["person"].as_of()
        if profiles is None:
            raise Invalid("the home has no profiles: build them first", field="home")
        return profiles

    def _outlets(self) -> list[str]:
        if not store.branches(self.engine):
            home = self.counter.settings.home
            store.sync_branches(self.engine, Lake(home / "lake"), load_catalog())
        return outlets_of(self.counter)

    def _per_month(self) -> int:
        if self.config.applicants_per_month is not None:
            return self.config.applicants_per_month
        register = self.county / "sources" / "population_register" / "population_register.parquet"
        people = pd.read_parquet(register, columns=["公民身份号码"]).shape[0]
        return round(people * APPLICANT_SHARE)

    def _asks(
        self, month: str, outlets: list[str], count: int, start: date, i: int
    ) -> dict[date, list[Ask]]:
        if count == 0:
            return {}
        seed = self.config.seed * 1000 + i
        asks = month_of_walk_ins(
            self.county, outlets, month, count=count, from_day=start, seed=seed
        )
        by_day: dict[date, list[Ask]] = {}
        for ask in asks:
            by_day.setdefault(ask.received_at.date(), []).append(ask)
        return by_day

    def _plan_existing(self) -> None:
        """Play the book's active loans in the world (a continued play)."""
        with snapshot(self.engine) as connection:
            found = records.load(connection, loans.c.status == ACTIVE)
        self._plan([(row.loan_id, row.subject, state.drawdown) for row, state in found])

    def _plan(self, opened: list[tuple[str, str, Drawdown]]) -> None:
        plans = self.borrowers.plans(opened, self.end)
        self.outside += len(opened) - len(plans)
        for loan_id, plan in plans.items():
            self.plans[loan_id] = plan
            for paid in set(plan.values()):
                if paid is not None and paid <= self.end:
                    self._pay_days.setdefault(paid, set()).add(loan_id)

    # ------------------------------------------------------------------ applications

    def _apply(self, ask: Ask) -> None:
        try:
            applied = self.counter.apply(
                ask.identifier,
                product=ask.product,
                amount=ask.amount,
                branch=ask.branch,
                officer="play",
                now=ask.received_at,
            )
        except PurecreditError:
            self.applications["error"] += 1
            return
        self.applications[applied.summary()["decision"]] += 1
        line_id = (applied.grant or {}).get("line_id")
        if applied.granted and line_id and line_id not in self._pending:
            self.borrowers.decided(line_id, applied.decision.to_dict())
            day = ask.received_at.date()
            lag = int(
                uniform(self.config.seed, "first", ask.identifier, ask.product, day)
                * FIRST_DRAW_WITHIN
            )
            self._schedule(line_id, day + timedelta(days=lag))

    def _schedule(self, line_id: str, day: date) -> None:
        self._pending.add(line_id)
        self._draws.setdefault(day, []).append(line_id)

    def _schedule_redraws(self, month: str, days: list[date]) -> None:
        """Lines with room whose borrowers are in no arrears draw again this month, some."""
        lines = exposure.credit_lines
        behind = select(loans.c.line_id).where(loans.c.status == ACTIVE, loans.c.dpd > 0)
        query = select(lines.c.line_id, lines.c.subject, lines.c.product).where(
            lines.c.status == exposure.ACTIVE,
            lines.c.limit - lines.c.drawn >= lines.c.limit * ROOM,
            lines.c.limit - lines.c.drawn >= THOUSAND,
            lines.c.line_id.not_in(behind),
        )
        with snapshot(self.engine) as connection:
            rows = connection.execute(query).all()
        for row in sorted(rows, key=lambda r: (r.subject, r.product)):
            if row.line_id in self._pending or row.subject not in self.borrowers.keys:
                continue
            if uniform(self.config.seed, "redraw", row.subject, row.product, month) < REDRAW_CHANCE:
                at = uniform(self.config.seed, "redraw-day", row.subject, row.product, month)
                self._schedule(row.line_id, days[int(at * len(days))])

    # ------------------------------------------------------------------ drawdowns

    def _draw(self, day: date) -> int:
        todays = self._draws.pop(day, [])
        if not todays:
            return 0
        opened = run_locked(self.engine, lambda connection: self._open(connection, todays, day))
        self._pending.difference_update(todays)
        self._plan(opened)
        return len(opened)

    def _open(
        self, connection: Connection, line_ids: list[str], day: date
    ) -> list[tuple[str, str, Drawdown]]:
        lines = exposure.credit_lines
        opened = []
        for line_id in line_ids:
            line = connection.execute(select(lines).where(lines.c.line_id == line_id)).one()
            if line.status != exposure.ACTIVE:
                continue
            limit, available = dec(line.limit), dec(line.limit) - dec(line.drawn)
            low, high = DRAW_SHARE
            share = low + (high - low) * uniform(
                self.config.seed, "share", line.subject, line.product, day
            )
            wanted = min(available, limit * Decimal(str(round(share, 4))))
            amount = (wanted / THOUSAND).to_integral_value(ROUND_DOWN) * THOUSAND
            if amount < THOUSAND:
                continue
            terms = self.borrowers.terms(connection, line)
            if terms is None:
                continue
            done = book.draw(
                connection,
                line_id=line_id,
                amount=amount,
                branch=line.branch,
                term_months=terms.term_months,
                method=terms.method,
                annual_rate=terms.annual_rate,
                harvest_months=terms.harvest_months,
                on=day,
            )
            if done.loan_id is not None:
                drawdown = Drawdown(
                    amount,
                    day,
                    terms.term_months,
                    terms.annual_rate,
                    terms.method,
                    terms.harvest_months,
                )
                opened.append((done.loan_id, str(line.subject), drawdown))
        return opened

    # ------------------------------------------------------------------ repayments

    def _repay(self, day: date) -> int:
        todays = sorted(self._pay_days.pop(day, set()))
        if not todays:
            return 0
        return run_locked(self.engine, lambda connection: self._pay(connection, todays, day))

    def _pay(self, connection: Connection, loan_ids: list[str], day: date) -> int:
        found = records.load(
            connection,
            and_(
                loans.c.loan_id.in_(bindparam("paying", value=loan_ids, expanding=True)),
                loans.c.status == ACTIVE,
            ),
        )
        paid = 0
        for row, state in found:
            amount = owed(state, self.plans[row.loan_id], day)
            if amount > 0:
                book.repay(connection, loan_id=row.loan_id, amount=amount, on=day)
                paid += 1
        return paid

    # ------------------------------------------------------------------ the end

    def behind(self, day: date) -> set[str]:
        """The loans the world has behind on `day`: an instalment due before it not yet
        paid (for checking the book against the world)."""
        return {
            loan_id
            for loan_id, plan in self.plans.items()
            if any(due < day and (paid is None or paid > day) for due, paid in plan.items())
        }

    def report(self, start: date, per_month: int, last: EodResult) -> dict[str, Any]:
        return {
            "start": start.isoformat(),
            "end": self.end.isoformat(),
            "months": self.config.months,
            "seed": self.config.seed,
            "applicants_per_month": per_month,
            "applications": dict(sorted(self.applications.items())),
            **book_figures(self.engine, last),
            "world": {
                "loans_behind": len(self.behind(self.end)),
                "loans_outside_county": self.outside,
            },
            "vintages": self.snapshots.vintages(),
            "roll_rates": self.snapshots.roll_rates(),
        }


def play(
    counter: Counter, county: Path, config: PlayConfig, on_day: Callable[[Day], None] | None = None
) -> dict[str, Any]:
    """Play the county's book forward (see the module docstring); the report."""
    return Play(counter, county, config).run(on_day)
