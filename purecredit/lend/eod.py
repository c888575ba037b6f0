"""End of day (日终): advance every active loan by one day, classify by debtor, post the day's
accruals as one journal entry and write the book's figures for the day.

The contract:

- Dates run one after another. The first end of day may be any date on or after the earliest
  loan's start; after that only the day after the last one done. Running a date already done
  changes nothing and says so (`EodResult.already_done`); an unfinished date must be run
  again (resumed) before anything else: drawdowns, repayments and other dates are refused.
- A run is (1) a `book_days` row marking the date started, (2) chunks of whole debtors, each
  in its own transaction, then (3) one last transaction. A chunk steps each of the debtors'
  loans pending for the date (`as_of` before it) through `state.advance` (one `state.step`,
  or more for a loan's first day when the first end of day came after its start), applies
  the 10% debtor rule (`classify.classify_debtor`) over the debtor's loans, and writes back,
  per loan and in the same transaction: `as_of`, the 积数 of overdue principal, DPD,
  category, outstanding principal, the date's accruals (`accrual_on`, `interest_accrual`,
  `penalty_accrual`) and the running totals the journal ties to. The last transaction sums
  the accruals of the loans whose `accrual_on` is the date into ONE journal entry
  (``eod:<date>``), totals the book by category and marks the `book_days` row done.
- Restart after a crash (even kill -9): a chunk either committed (its loans' `as_of` is the
  date, their accruals persisted beside it) or left no trace. A rerun finds the date started
  but not done, selects only loans still pending and carries on; the journal entry and the
  day's figures are computed from the persisted per-loan rows only at the end, so they are
  exactly those of an uninterrupted run. The entry's id is the date, so it can never post
  twice.
- A debtor's loans are always in one chunk, so the 10% rule sees all of them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from purecredit.core.errors import Conflict, Invalid
from purecredit.lend import records
from purecredit.lend.classify import (
    SUBSTANDARD_FROM,
    Category,
    Exposure,
    classify_debtor,
    npl_ratio,
)
from purecredit.lend.journal import Account, Kind, Line, entry, post
from purecredit.lend.money import ZERO
from purecredit.lend.state import ONE_DAY, LoanState, advance
from purecredit.lend.tables import ACTIVE, book_days, dec, fen_sum, loans, yuan
from purecredit.store.ledger import run_locked, snapshot

log = logging.getLogger(__name__)

CHUNK = 5_000  # debtors per transaction
RATIO = Decimal("1e-10")  # book_days.npl_ratio's scale
CATEGORIES = tuple(records.category_name(c) for c in Category)


@dataclass(frozen=True, slots=True)
class EodResult:
    """The book at the end of `day`: active loans, outstanding principal by category, NPL
    ratio and the day's accruals; `already_done` when the date had been run before."""

    day: date
    loans: int
    outstanding: Decimal
    by_category: dict[str, Decimal]
    npl_ratio: Decimal
    interest_accrued: Decimal
    penalty_accrued: Decimal
    already_done: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "loans": self.loans,
            "outstanding": str(self.outstanding),
            "npl_ratio": f"{self.npl_ratio:.10f}",  # fixed point: "0E-10" is no ratio to read
            "by_category": {name: str(amount) for name, amount in self.by_category.items()},
            "interest_accrued": str(self.interest_accrued),
            "penalty_accrued": str(self.penalty_accrued),
            "already_done": self.already_done,
        }


def _pending(day: date) -> Any:
    return and_(loans.c.status == ACTIVE, loans.c.as_of < day, loans.c.start <= day)


def pending(engine: Engine, day: date) -> int:
    """How many loans the end of day of `day` has still to step (for a progress bar)."""
    with snapshot(engine) as connection:
        return int(connection.execute(select(func.count()).where(_pending(day))).scalar_one())


def run_eod(
    engine: Engine,
    day: date,
    *,
    chunk: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> EodResult:
    """Run (or resume, or confirm) the end of `day`; see the module docstring. `on_chunk` is
    called with the number of loans each committed chunk stepped."""
    if chunk < 1:
        raise Invalid("must be at least 1", field="chunk")
    done = run_locked(engine, lambda connection: _begin(connection, day))
    if done is not None:
        return done
    after = ""
    while True:
        stepped = run_locked(engine, partial(_chunk, day=day, after=after, size=chunk))
        if stepped is None:
            break
        after, count = stepped
        if on_chunk is not None:
            on_chunk(count)
    return run_locked(engine, lambda connection: _finish(connection, day))


def _begin(connection: Connection, day: date) -> EodResult | None:
    """Check the date may run; mark it started. The stored result if it is done already."""
    last = connection.execute(
        select(book_days.c.day, book_days.c.done_at).order_by(book_days.c.day.desc()).limit(1)
    ).first()
    if last is None:
        earliest = connection.execute(select(func.min(loans.c.start))).scalar()
        if earliest is not None and day < earliest:
            raise Invalid(
                f"the first end of day must be on or after the earliest loan start {earliest}",
                field="date",
            )
    elif day <= last.day:
        row = connection.execute(select(book_days).where(book_days.c.day == day)).first()
        if row is None:
            raise Invalid(f"{day} is before the first end of day", field="date")
        return _stored(row) if row.done_at is not None else None  # resume the unfinished
    elif last.done_at is None:
        raise Conflict(f"the end of day of {last.day} is unfinished: run it again first")
    elif day != last.day + ONE_DAY:
        raise Conflict(
            f"the next end of day is {last.day + ONE_DAY}: dates cannot be skipped", field="date"
        )
    connection.execute(insert(book_days).values(day=day, started_at=datetime.now(UTC)))
    log.info("end of day %s started", day)
    return None


def _chunk(connection: Connection, day: date, after: str, size: int) -> tuple[str, int] | None:
    """Step the loans of the next `size` debtors after `after` with loans pending; None when
    there are none left."""
    subjects = list(
        connection.execute(
            select(loans.c.subject)
            .where(_pending(day), loans.c.subject > after)
            .group_by(loans.c.subject)
            .order_by(loans.c.subject)
            .limit(size)
        ).scalars()
    )
    if not subjects:
        return None
    found = records.load(
        connection,
        and_(
            loans.c.subject.in_(bindparam("subjects", value=subjects, expanding=True)),
            loans.c.status == ACTIVE,
            loans.c.start <= day,
        ),
        lock=True,
    )
    # A loan already at `day` (drawn while a chunk ran) keeps its figures but still counts
    # for its debtor's share of non-performing debt.
    done_already = connection.execute(
        select(loans.c.subject, loans.c.loan_id, loans.c.principal_outstanding, loans.c.dpd).where(
            loans.c.subject.in_(bindparam("subjects", value=subjects, expanding=True)),
            loans.c.status == ACTIVE,
            loans.c.as_of >= day,
            loans.c.start <= day,
        )
    ).all()
    writes = [_step(row, state, day) for row, state in found if state.as_of < day]
    _classify(writes, done_already)
    if writes:
        connection.execute(_UPDATE, writes)
    return subjects[-1], len(writes)


def _step(row: Any, state: LoanState, day: date) -> dict[str, Any]:
    """One loan through `day`: the values to write back (its category is the debtor's)."""
    after, reports = advance(state, day)
    last = reports[-1]
    interest = sum((r.interest_accrued for r in reports), ZERO)
    penalty = sum((r.penalty_accrued for r in reports), ZERO)
    return {
        "b_loan": row.loan_id,
        "subject": row.subject,
        "as_of": day,
        "overdue_principal_days": after.overdue_principal_days,
        "principal_outstanding": after.outstanding_principal,
        "dpd": last.dpd,
        "category": last.category,
        "accrual_on": day,
        "interest_accrual": interest,
        "penalty_accrual": penalty,
        "interest_accrued": row.interest_accrued + interest,
        "penalty_accrued": after.penalty_accrued,
        "defaulted_on": row.defaulted_on
        or next((r.day for r in reports if r.dpd >= SUBSTANDARD_FROM), None),
    }


def _classify(writes: list[dict[str, Any]], done_already: Sequence[Any]) -> None:
    """Set each loan's category by its debtor's loans (the 10% rule), stored by name."""
    by_debtor: dict[str, list[Exposure]] = {}
    for w in writes:
        exposure = Exposure(w["b_loan"], w["principal_outstanding"], w["dpd"])
        by_debtor.setdefault(w["subject"], []).append(exposure)
    for row in done_already:
        if row.subject in by_debtor:
            own = Exposure(row.loan_id, dec(row.principal_outstanding), row.dpd)
            by_debtor[row.subject].append(own)
    final: dict[str, Category] = {}
    for exposures in by_debtor.values():
        final.update(classify_debtor(exposures).loans)
    for w in writes:
        w["category"] = records.category_name(final[w["b_loan"]])


_UPDATE = (
    update(loans)
    .where(loans.c.loan_id == bindparam("b_loan"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "as_of",
                "overdue_principal_days",
                "principal_outstanding",
                "dpd",
                "category",
                "accrual_on",
                "interest_accrual",
                "penalty_accrual",
                "interest_accrued",
                "penalty_accrued",
                "defaulted_on",
            )
        }
    )
)


def _finish(connection: Connection, day: date) -> EodResult:
    """Post the day's accruals as one entry and write the day's figures (last, at once)."""
    row = connection.execute(select(book_days).where(book_days.c.day == day)).one()
    if row.done_at is not None:
        return _stored(row)  # a concurrent run finished it
    sums = connection.execute(
        select(fen_sum(loans.c.interest_accrual), fen_sum(loans.c.penalty_accrual)).where(
            loans.c.accrual_on == day
        )
    ).one()
    interest, penalty = yuan(sums[0]), yuan(sums[1])
    post_accruals(connection, day, interest, penalty)
    rows = connection.execute(
        select(loans.c.category, func.count(), fen_sum(loans.c.principal_outstanding))
        .where(loans.c.status == ACTIVE, loans.c.as_of >= day, loans.c.start <= day)
        .group_by(loans.c.category)
    ).all()
    by_category = dict.fromkeys(CATEGORIES, ZERO) | {r[0]: yuan(r[2]) for r in rows}
    outstanding = sum(by_category.values(), ZERO)
    ratio = npl_ratio([(by_category[records.category_name(c)], c) for c in Category])
    figures = {
        "loans": sum(int(r[1]) for r in rows),
        "outstanding": outstanding,
        **by_category,
        "npl_ratio": ratio.quantize(RATIO),
        "interest_accrued": interest,
        "penalty_accrued": penalty,
        "done_at": datetime.now(UTC),
    }
    connection.execute(update(book_days).where(book_days.c.day == day).values(**figures))
    log.info("end of day %s done: %s loans", day, figures["loans"])
    return _stored(connection.execute(select(book_days).where(book_days.c.day == day)).one(), False)


def post_accruals(connection: Connection, day: date, interest: Decimal, penalty: Decimal) -> None:
    """The day's one accrual entry: Dr receivable / Cr income, for interest and penalty."""
    if interest == 0 and penalty == 0:
        return
    post(
        connection,
        entry(
            f"eod:{day.isoformat()}",
            day,
            Kind.ACCRUAL,
            day.isoformat(),
            Line(Account.INTEREST_RECEIVABLE, debit=interest),
            Line(Account.INTEREST_INCOME, credit=interest),
            Line(Account.PENALTY_RECEIVABLE, debit=penalty),
            Line(Account.PENALTY_INCOME, credit=penalty),
        ),
    )


def _stored(row: Any, already_done: bool = True) -> EodResult:
    return EodResult(
        day=row.day,
        loans=int(row.loans),
        outstanding=dec(row.outstanding),
        by_category={name: dec(getattr(row, name)) for name in CATEGORIES},
        npl_ratio=Decimal(row.npl_ratio).quantize(RATIO),
        interest_accrued=dec(row.interest_accrued),
        penalty_accrued=dec(row.penalty_accrued),
        already_done=already_done,
    )
