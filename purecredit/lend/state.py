"""A loan's running state and the end-of-day step an accrual job calls once per loan per day.

Days follow the head-not-tail rule (算头不算尾). `LoanState.as_of` is the last day whose
end-of-day run is done; a payment made during day D (`pay`) meets what was owed after the
run of D - 1: instalments due before D are overdue, those due on D are current. The run of
day D (`step`) then accrues that day's contract interest and, on principal still unpaid at
the end of a due date or later, that day's penalty interest. So an instalment due on D and
paid on D + n has n days past due (DPD) and n days of penalty interest.

Penalty interest uses the accumulated-balance method (积数): the state adds each day's
overdue principal, and the penalty owed is to_fen(积数 x penalty rate / 360), rounded once.

Paid ahead of its due date (`carry`): an early repayment or a payoff during day D replaces
the instalments due after D. The current one (the first due after D) then runs from D on
the new balance, and it carries, already paid, the principal and the interest to date paid
ahead in its period (its `principal` and `interest` include them; `principal_paid` and
`interest_paid` hold them). So what it still owes is exactly the rebuilt instalment; the
schedule's principal still sums to the amount lent; `step` accrues from D on the new
`opening_principal`, exactly the rebuilt interest by its due date; and the sub-ledger's sums
of amounts paid keep tying to the journal (`journal.check`). The interest the current
instalment has accrued and not been paid by the end of D - 1 is `interest_to_date`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from purecredit.core.errors import Invalid
from purecredit.lend.accrual import (
    DEFAULT_PENALTY_MARKUP,
    basis_interest,
    day_interest,
    interest,
    penalty_rate,
)
from purecredit.lend.allocation import Allocation, Bucket, Dues, allocate
from purecredit.lend.classify import Category, classify_loan
from purecredit.lend.drawdown import Drawdown
from purecredit.lend.money import ZERO, annual_rate
from purecredit.lend.schedule import Schedule, build_schedule

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class LoanState:
    """Everything needed to know what a loan owes: its schedule and what has been paid."""

    drawdown: Drawdown
    schedule: Schedule
    as_of: date  # last day whose end-of-day run is done
    principal_paid: tuple[Decimal, ...]  # per instalment, in schedule order
    interest_paid: tuple[Decimal, ...]
    overdue_principal_days: Decimal  # 积数: the sum over days of principal overdue that day
    penalty_paid: Decimal
    penalty_markup: Decimal

    @property
    def outstanding_principal(self) -> Decimal:
        return self.drawdown.amount - sum(self.principal_paid, ZERO)

    @property
    def penalty_accrued(self) -> Decimal:
        rate = penalty_rate(self.drawdown.annual_rate, self.penalty_markup)
        return basis_interest(self.overdue_principal_days, rate)

    def unpaid_principal(self, k: int) -> Decimal:
        return self.schedule[k].principal - self.principal_paid[k]

    def unpaid_interest(self, k: int) -> Decimal:
        return self.schedule[k].interest - self.interest_paid[k]


@dataclass(frozen=True, slots=True)
class DayReport:
    """The end-of-day figures of one loan: arrears, DPD, category and the day's accruals."""

    day: date
    dpd: int
    category: Category
    outstanding_principal: Decimal
    overdue_principal: Decimal  # unpaid principal due on or before `day`
    overdue_interest: Decimal
    penalty_owed: Decimal
    interest_accrued: Decimal  # the day's contract interest on the not-yet-due balance
    penalty_accrued: Decimal  # the day's penalty interest on overdue principal


def open_loan(
    drawdown: Drawdown,
    *,
    schedule: Schedule | None = None,
    markup: Decimal = DEFAULT_PENALTY_MARKUP,
) -> LoanState:
    """A new loan on its drawdown day, nothing paid and nothing yet accrued."""
    annual_rate(markup, "markup")
    rows = build_schedule(drawdown) if schedule is None else schedule
    nothing = (ZERO,) * len(rows)
    day_before = drawdown.start - ONE_DAY
    return LoanState(drawdown, rows, day_before, nothing, nothing, ZERO, ZERO, markup)


def dpd(state: LoanState, on: date) -> int:
    """Days past due on `on`: days since the oldest due date still unpaid, 0 if none."""
    for k, row in enumerate(state.schedule):
        if row.due_date >= on:
            break
        if state.unpaid_principal(k) > 0 or state.unpaid_interest(k) > 0:
            return (on - row.due_date).days
    return 0


def dues(state: LoanState, on: date) -> Dues:
    """What a payment during day `on` meets (the run of the day before must be done)."""
    _check_next_day(state, on)
    buckets = dict.fromkeys(Bucket, ZERO)
    buckets[Bucket.PENALTY_INTEREST] = state.penalty_accrued - state.penalty_paid
    for k, row in enumerate(state.schedule):
        if row.due_date > on:
            break
        late = row.due_date < on
        interest = Bucket.OVERDUE_INTEREST if late else Bucket.CURRENT_INTEREST
        principal = Bucket.OVERDUE_PRINCIPAL if late else Bucket.CURRENT_PRINCIPAL
        buckets[interest] += state.unpaid_interest(k)
        buckets[principal] += state.unpaid_principal(k)
    return Dues(**{b.value: amount for b, amount in buckets.items()})


def pay(state: LoanState, on: date, amount: Decimal) -> tuple[LoanState, Allocation]:
    """Apply a payment made during day `on` by the waterfall, oldest instalment first."""
    allocation = allocate(dues(state, on), amount)
    principal, interest = list(state.principal_paid), list(state.interest_paid)
    budget = {b: allocation.of(b) for b in Bucket}
    for k, row in enumerate(state.schedule):
        if row.due_date > on:
            break
        late = row.due_date < on
        i_bucket = Bucket.OVERDUE_INTEREST if late else Bucket.CURRENT_INTEREST
        p_bucket = Bucket.OVERDUE_PRINCIPAL if late else Bucket.CURRENT_PRINCIPAL
        take = min(budget[i_bucket], state.unpaid_interest(k))
        interest[k], budget[i_bucket] = interest[k] + take, budget[i_bucket] - take
        take = min(budget[p_bucket], state.unpaid_principal(k))
        principal[k], budget[p_bucket] = principal[k] + take, budget[p_bucket] - take
    paid = replace(
        state,
        principal_paid=tuple(principal),
        interest_paid=tuple(interest),
        penalty_paid=state.penalty_paid + allocation.of(Bucket.PENALTY_INTEREST),
    )
    return paid, allocation


def current(state: LoanState, on: date) -> int | None:
    """The index of the instalment running during day `on` (the first due after it), or
    None from maturity on."""
    return next((k for k, row in enumerate(state.schedule) if row.due_date > on), None)


def interest_to_date(state: LoanState, on: date) -> Decimal:
    """The current instalment's interest accrued by the end of `on - 1` and not yet paid:
    what it carries paid ahead, plus its opening principal's interest from its period start
    to `on` (head-not-tail, none for `on`), less what has been paid of it."""
    k = current(state, on)
    if k is None:
        return ZERO
    row, rate = state.schedule[k], state.drawdown.annual_rate
    carried = row.interest - interest(row.opening_principal, rate, row.days)
    to_date = interest(row.opening_principal, rate, (on - row.period_start).days)
    return carried + to_date - state.interest_paid[k]


def carry(
    state: LoanState,
    on: date,
    rebuilt: Schedule,
    *,
    principal: Decimal,
    interest_paid: Decimal,
    rule: str,
) -> LoanState:
    """Replace the instalments due after `on` by `rebuilt` (as many, same dates, the first
    running from `on`); the first carries, paid, what was paid of the current instalment
    before plus `principal` and `interest_paid` paid ahead now (see the module docstring).
    `rule` names why, before the rebuilt row's own rule."""
    k = current(state, on)
    if k is None or len(rebuilt) != len(state.schedule) - k or rebuilt[0].period_start != on:
        raise Invalid("must replace the instalments due after the day, from it", field="rebuilt")
    if any(
        state.principal_paid[j] or state.interest_paid[j] for j in range(k + 1, len(state.schedule))
    ):
        raise Invalid("instalments after the current one must be unpaid", field="rebuilt")
    paid_p = state.principal_paid[k] + principal
    paid_i = state.interest_paid[k] + interest_paid
    head = rebuilt[0]
    why = f"{rule}: principal {paid_p}, interest {paid_i} paid ahead"
    first = replace(
        head,
        principal=head.principal + paid_p,
        interest=head.interest + paid_i,
        rule=f"{why}; then {head.rule}" if head.rule else why,
    )
    unpaid = (ZERO,) * (len(rebuilt) - 1)
    return replace(
        state,
        schedule=(*state.schedule[:k], first, *rebuilt[1:]),
        principal_paid=(*state.principal_paid[:k], paid_p, *unpaid),
        interest_paid=(*state.interest_paid[:k], paid_i, *unpaid),
    )


def step(state: LoanState, day: date) -> tuple[LoanState, DayReport]:
    """Run the end of `day` for one loan: accrue its interest and penalty, report arrears."""
    _check_next_day(state, day)
    overdue_p = overdue_i = accrued = ZERO
    for k, row in enumerate(state.schedule):
        if row.due_date <= day:
            overdue_p += state.unpaid_principal(k)
            overdue_i += state.unpaid_interest(k)
        elif row.period_start <= day:
            nth = (day - row.period_start).days + 1
            accrued = day_interest(row.opening_principal, state.drawdown.annual_rate, nth)
    after = replace(
        state, as_of=day, overdue_principal_days=state.overdue_principal_days + overdue_p
    )
    late = dpd(state, day)
    return after, DayReport(
        day=day,
        dpd=late,
        category=classify_loan(late),
        outstanding_principal=state.outstanding_principal,
        overdue_principal=overdue_p,
        overdue_interest=overdue_i,
        penalty_owed=after.penalty_accrued - after.penalty_paid,
        interest_accrued=accrued,
        penalty_accrued=after.penalty_accrued - state.penalty_accrued,
    )


def advance(state: LoanState, to: date) -> tuple[LoanState, tuple[DayReport, ...]]:
    """Run every end of day from the state's next day through `to`, with no payments."""
    reports: list[DayReport] = []
    while state.as_of < to:
        state, report = step(state, state.as_of + ONE_DAY)
        reports.append(report)
    return state, tuple(reports)


def _check_next_day(state: LoanState, day: date) -> None:
    if day != state.as_of + ONE_DAY:
        raise Invalid(f"must be the day after the last run ({state.as_of})", field="day")
