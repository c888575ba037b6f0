"""Repayment schedules for the four methods, every amount traceable to the rule that made it.

Common to all methods: instalment k covers the days from the previous due date (or the
drawdown) to its due date, and its interest is `accrual.interest(opening principal, rate,
days)`: actual days at rate / 360, rounded to the fen once per period. Principal always sums
exactly to the amount lent, because the last instalment takes whatever is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from purecredit.lend import seasonal
from purecredit.lend.accrual import MONTHS_IN_YEAR, interest
from purecredit.lend.dates import monthly_due_dates
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.money import ZERO, split_fen, to_fen


@dataclass(frozen=True, slots=True)
class Instalment:
    """One due date: what falls due, the balance it was computed on and the rule used."""

    number: int
    period_start: date
    due_date: date
    opening_principal: Decimal  # not-yet-due principal during the period; interest is on it
    principal: Decimal
    interest: Decimal
    method: RepaymentMethod
    rule: str

    @property
    def days(self) -> int:
        return (self.due_date - self.period_start).days

    @property
    def payment(self) -> Decimal:
        return self.principal + self.interest


Schedule = tuple[Instalment, ...]


def build_schedule(drawdown: Drawdown) -> Schedule:
    """The full schedule of a drawdown, from its first due date to maturity."""
    grid = monthly_due_dates(drawdown.start, drawdown.term_months)
    dates = _dates(drawdown, grid)
    return plan(drawdown, balance=drawdown.amount, since=drawdown.start, dates=dates, first=1)


def plan(
    drawdown: Drawdown, *, balance: Decimal, since: date, dates: tuple[date, ...], first: int
) -> Schedule:
    """Instalments repaying `balance` on `dates`, interest running from `since`.

    Used for a new schedule and, with the remaining dates, to rebuild one after a partial
    prepayment (`prepay.reschedule`), so both follow exactly the same rules.
    """
    shares = _principal(drawdown, balance, since, dates)
    rows: list[Instalment] = []
    start, open_balance = since, balance
    for k, (due, (principal, rule)) in enumerate(zip(dates, shares, strict=True)):
        days = (due - start).days
        rows.append(
            Instalment(
                number=first + k,
                period_start=start,
                due_date=due,
                opening_principal=open_balance,
                principal=principal,
                interest=interest(open_balance, drawdown.annual_rate, days),
                method=drawdown.method,
                rule=rule,
            )
        )
        start, open_balance = due, open_balance - principal
    return tuple(rows)


def remaining_dates(drawdown: Drawdown, after: date) -> tuple[date, ...]:
    """The drawdown's instalment dates strictly after `after` (same grid as its schedule)."""
    grid = monthly_due_dates(drawdown.start, drawdown.term_months)
    return tuple(d for d in _dates(drawdown, grid) if d > after)


def _dates(drawdown: Drawdown, grid: tuple[date, ...]) -> tuple[date, ...]:
    if drawdown.method is RepaymentMethod.SEASONAL:
        return seasonal.instalment_dates(grid, drawdown.harvest_months)
    return grid


def _principal(
    drawdown: Drawdown, balance: Decimal, since: date, dates: tuple[date, ...]
) -> list[tuple[Decimal, str]]:
    method = drawdown.method
    if method is RepaymentMethod.EQUAL_INSTALMENTS:
        return list(_annuity(drawdown.annual_rate, balance, since, dates))
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        shares = split_fen(balance, len(dates))
        last = "equal principal: balance / periods, rounded down; last takes the remainder"
        return [(s, "equal principal: balance / periods, rounded down") for s in shares[:-1]] + [
            (shares[-1], last)
        ]
    if method is RepaymentMethod.INTEREST_ONLY:
        rows = [(ZERO, "monthly interest only")] * (len(dates) - 1)
        return [*rows, (balance, "all principal at maturity")]
    return _seasonal(drawdown, balance, dates)


def annuity_payment(balance: Decimal, annual_rate: Decimal, periods: int) -> Decimal:
    """The level monthly payment of 等额本息: B x i(1+i)^n / ((1+i)^n - 1), i = rate / 12.

    The monthly rate is annual / 12 (the banks' convention for the payment); each period's
    interest is then charged on its actual days at annual / 360.
    """
    if annual_rate == 0:
        return to_fen(balance / periods)
    with localcontext() as ctx:
        ctx.prec = 50
        i = annual_rate / MONTHS_IN_YEAR
        growth = (1 + i) ** periods
        return to_fen(balance * i * growth / (growth - 1))


def _annuity(
    annual_rate: Decimal, balance: Decimal, since: date, dates: tuple[date, ...]
) -> Iterator[tuple[Decimal, str]]:
    """Principal = level payment - the period's interest; the last clears the balance.

    With actual/360 interest a 31-day month leaves less for principal than a 28-day one; the
    last instalment takes whatever principal is left, absorbing rounding and day counts.
    """
    payment = annuity_payment(balance, annual_rate, len(dates))
    left, start = balance, since
    for k, due in enumerate(dates, start=1):
        if k == len(dates):
            yield left, f"等额本息: last instalment clears the balance (payment {payment} before)"
            return
        owed = interest(left, annual_rate, (due - start).days)
        principal = min(max(payment - owed, ZERO), left)
        yield principal, f"等额本息: level payment {payment} - interest {owed}"
        left, start = left - principal, due


def _seasonal(
    drawdown: Drawdown, balance: Decimal, dates: tuple[date, ...]
) -> list[tuple[Decimal, str]]:
    """Principal split equally (rounded down) over the harvest dates, the remainder at maturity."""
    grid = monthly_due_dates(drawdown.start, drawdown.term_months)
    harvest = [d for d in seasonal.principal_dates(grid, drawdown.harvest_months) if d in dates]
    share = split_fen(balance, len(harvest))[0] if harvest else ZERO
    remainder = balance - share * len(harvest)
    rows: list[tuple[Decimal, str]] = []
    for due in dates:
        principal, rules = ZERO, ["interest to date"]
        if due in harvest:
            principal, rules = share, [f"after-harvest share 1/{len(harvest)}"]
        if due == dates[-1]:
            principal += remainder
            rules.append("remainder at maturity")
        rows.append((principal, "按季付息收获后还本: " + ", ".join(rules)))
    return rows
