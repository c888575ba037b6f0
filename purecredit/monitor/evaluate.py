"""How good the warnings are, measured on the book they watched (`purecredit monitor evaluate`).

Definitions (all from the ledger; nothing from the synthetic county's truth):

- A borrower *defaults* on the first day any of their loans is more than 90 days past due
  (`loans.defaulted_on`: non-performing by days, the 2023 rules' substandard).
- *At risk* on a day: a borrower with a loan drawn by then, not closed before it, who has not
  defaulted yet. Warnings and the base rate are both counted over borrowers at risk, so the
  lift compares like with like.
- `precision_6m`: of the warnings raised on a borrower at risk, with six months of book after
  them, the share whose borrower defaulted within those six months.
- `base_default_rate_6m`: of the borrowers at risk on each monitoring day with six months of
  book after it, the share that defaulted within six months (pooled over those days).
- `recall_6m`: of the defaults that happened after monitoring began, the share a warning
  preceded by at most six months; `median_lead_days`: for those, days from the first such
  warning to the default.
- `protected_amount`: what cases protected (undrawn limit frozen, limit cut, principal
  recalled or recovered) before the borrower defaulted, for borrowers who then defaulted;
  `protected_total` counts every case.

What if the rules had been others? Every event is recorded whether or not a rule raised it,
so `evaluate(engine, rules=...)` replays the batches' matching over the recorded events
(first matching rule, one warning per borrower and rule while its case is open) and measures
those warnings instead. Two simplifications, said in the answer: cases are taken to stay open
(true of a played book, where nobody works them), and the replayed rules' own freezes are not
replayed into the book.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select

from purecredit.core.errors import Invalid
from purecredit.decide.exposure import money_of
from purecredit.lend.tables import book_days, loans
from purecredit.monitor.rules import Rules
from purecredit.monitor.tables import case_steps, cases, monitor_events, monitor_runs, warnings
from purecredit.store.ledger import snapshot

WINDOW = timedelta(days=182)  # six months


@dataclass(frozen=True)
class Loan:
    subject: str
    start: date
    closed_on: date | None


@dataclass(frozen=True)
class Book:
    """What the evaluation reads, once."""

    end: date
    loans: list[Loan]
    defaults: dict[str, date]  # borrower: first default day
    warnings: list[tuple[str, str, date]]  # (subject, rule, raised_on)
    run_days: list[date]
    protected: list[tuple[str, date, Decimal]]  # (subject, step day, amount)

    def at_risk(self, subject: str, day: date) -> bool:
        fell = self.defaults.get(subject)
        if fell is not None and fell <= day:
            return False
        return any(
            loan.subject == subject
            and loan.start <= day
            and (loan.closed_on is None or loan.closed_on > day)
            for loan in self._by_subject.get(subject, ())
        )

    @property
    def _by_subject(self) -> dict[str, list[Loan]]:
        cached: dict[str, list[Loan]] | None = getattr(self, "_cache", None)
        if cached is None:
            cached = {}
            for loan in self.loans:
                cached.setdefault(loan.subject, []).append(loan)
            object.__setattr__(self, "_cache", cached)
        return cached


def read_book(engine: Engine) -> Book:
    with snapshot(engine) as connection:
        end = connection.execute(
            select(func.max(book_days.c.day)).where(book_days.c.done_at.is_not(None))
        ).scalar()
        if end is None:
            raise Invalid("no end of day has run: there is no book to evaluate", field="book")
        rows = connection.execute(
            select(loans.c.subject, loans.c.start, loans.c.closed_on, loans.c.defaulted_on)
        ).all()
        defaults: dict[str, date] = {}
        for subject, _, _, fell in rows:
            if fell is not None and (subject not in defaults or fell < defaults[subject]):
                defaults[subject] = fell
        warned = connection.execute(
            select(warnings.c.subject, warnings.c.rule, warnings.c.raised_on)
        ).all()
        days = connection.execute(
            select(monitor_runs.c.day).where(monitor_runs.c.done_at.is_not(None))
        ).scalars()
        protected = connection.execute(
            select(cases.c.subject, case_steps.c.on_day, case_steps.c.amount)
            .join(cases, cases.c.case_id == case_steps.c.case_id)
            .where(case_steps.c.amount.is_not(None))
        ).all()
    return Book(
        end=end,
        loans=[Loan(r[0], r[1], r[2]) for r in rows],
        defaults=defaults,
        warnings=sorted((str(s), str(r), d) for s, r, d in warned),
        run_days=sorted(days),
        protected=[(str(s), d, money_of(a)) for s, d, a in protected],
    )


def replay(engine: Engine, rules: Rules) -> list[tuple[str, str, date]]:
    """The warnings `rules` would have raised from the recorded events, in the batches' order
    (`run._new_events`), each (borrower, rule) once."""
    query = select(
        monitor_events.c.subject,
        monitor_events.c.kind,
        monitor_events.c.hops,
        monitor_events.c.detected_on,
        monitor_events.c.known_at,
        monitor_events.c.event_key,
    )
    with snapshot(engine) as connection:
        events = sorted(
            connection.execute(query).all(), key=lambda e: (e[3], e[0], e[4], e[1], e[5])
        )
    held: set[tuple[str, str]] = set()
    out = []
    for subject, kind, hops, day, _, _ in events:
        rule = rules.first_match(kind, hops)
        if rule is None or (subject, rule.id) in held:
            continue
        held.add((subject, rule.id))
        out.append((str(subject), rule.id, day))
    return sorted(out)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 6) if total else None


def _measure(book: Book, warned: list[tuple[str, str, date]]) -> dict[str, Any]:
    """Precision, recall and lead of one set of warnings."""
    scored = [(s, d) for s, _, d in warned if d + WINDOW <= book.end and book.at_risk(s, d)]
    hits = sum(1 for s, d in scored if (f := book.defaults.get(s)) is not None and f <= d + WINDOW)
    first_run = book.run_days[0] if book.run_days else book.end
    defaults = {s: f for s, f in book.defaults.items() if f > first_run}
    leads = []
    for subject, fell in defaults.items():
        before = [d for s, _, d in warned if s == subject and fell - WINDOW <= d < fell]
        if before:
            leads.append((fell - min(before)).days)
    return {
        "warnings": len(warned),
        "warnings_scored": len(scored),
        "precision_6m": _rate(hits, len(scored)),
        "defaults": len(defaults),
        "recall_6m": _rate(len(leads), len(defaults)),
        "median_lead_days": statistics.median(leads) if leads else None,
    }


def base_rate(book: Book) -> tuple[float | None, int]:
    """Pooled six-month default rate of the borrowers at risk on each monitoring day."""
    subjects = sorted({loan.subject for loan in book.loans})
    at_risk = hits = 0
    for day in book.run_days:
        if day + WINDOW > book.end:
            continue
        for subject in subjects:
            if book.at_risk(subject, day):
                at_risk += 1
                fell = book.defaults.get(subject)
                hits += fell is not None and fell <= day + WINDOW
    return _rate(hits, at_risk), at_risk


def evaluate(engine: Engine, rules: Rules | None = None) -> dict[str, Any]:
    """The figures of the module docstring, overall and by rule: of the warnings raised, or
    of those `rules` would have raised (`replay`)."""
    book = read_book(engine)
    if rules is not None:
        book = replace(book, warnings=replay(engine, rules))
    base, exposures = base_rate(book)
    overall = _measure(book, book.warnings)
    ids = sorted({rule for _, rule, _ in book.warnings})
    by_rule = {rule: _measure(book, [w for w in book.warnings if w[1] == rule]) for rule in ids}
    for figures in (overall, *by_rule.values()):
        precision = figures["precision_6m"]
        figures["lift"] = round(precision / base, 3) if precision is not None and base else None
    before_default = sum(
        (amount for s, d, amount in book.protected if s in book.defaults and d < book.defaults[s]),
        Decimal(0),
    )
    return {
        "rules": "as raised" if rules is None else f"replayed: {rules.version}",
        "book_end": book.end.isoformat(),
        "monitoring_days": len(book.run_days),
        "base_default_rate_6m": base,
        "borrower_days_at_risk": exposures,
        **overall,
        "protected_amount": f"{before_default:.2f}",
        "protected_total": f"{sum((a for _, _, a in book.protected), Decimal(0)):.2f}",
        "by_rule": by_rule,
    }
