"""A drawdown (用信): the terms one loan is repaid by, validated once at the edge.

Everything downstream (schedules, accrual, allocation) trusts a `Drawdown`, so every rule
about its fields lives in `__post_init__` and names the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from purecredit.core.errors import Invalid
from purecredit.lend.money import annual_rate, money

MAX_TERM_MONTHS = 360
HARVEST = "harvest_months"


class RepaymentMethod(StrEnum):
    """How principal is repaid; the values are the product policy's names (decide.policy)."""

    EQUAL_INSTALMENTS = "等额本息"  # annuity: equal payments of principal plus interest
    EQUAL_PRINCIPAL = "等额本金"  # equal principal each month plus interest on the balance
    INTEREST_ONLY = "按月付息到期还本"  # monthly interest, all principal at maturity
    SEASONAL = "按季付息收获后还本"  # quarterly interest, principal after each harvest


@dataclass(frozen=True, slots=True)
class Drawdown:
    """One use of a credit line: amount, first day, term, contract rate and method.

    `annual_rate` is a fraction (Decimal("0.0435") for 4.35%). `harvest_months` (1-12) are
    the months the borrower's crop is dug or picked and sold; they are required for the
    seasonal method and refused for the others, so a schedule never silently ignores them.
    """

    amount: Decimal
    start: date
    term_months: int
    annual_rate: Decimal
    method: RepaymentMethod
    harvest_months: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        money(self.amount, "amount", positive=True)
        annual_rate(self.annual_rate, "annual_rate")
        if not isinstance(self.start, date):
            raise Invalid("must be a date", field="start")
        term = self.term_months
        if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_MONTHS:
            raise Invalid(
                f"must be a whole number of months, 1-{MAX_TERM_MONTHS}", field="term_months"
            )
        if not isinstance(self.method, RepaymentMethod):
            raise Invalid("must be a RepaymentMethod", field="method")
        self._check_harvest()

    def _check_harvest(self) -> None:
        months = self.harvest_months
        if self.method is not RepaymentMethod.SEASONAL:
            if months:
                raise Invalid("only the seasonal method takes harvest months", field=HARVEST)
            return
        if not months:
            raise Invalid("the seasonal method needs the crop's harvest months", field=HARVEST)
        if any(isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 12 for m in months):
            raise Invalid("harvest months must be whole numbers 1-12", field=HARVEST)
        if len(set(months)) != len(months):
            raise Invalid("harvest months must not repeat", field=HARVEST)
