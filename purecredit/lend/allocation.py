"""The repayment waterfall: which debt a payment settles first.

Order: penalty interest, overdue interest, overdue principal, current interest, current
principal. Without an agreement the Civil Code (民法典 art. 561) has a short payment settle
costs, then interest, then principal; the loan contract fixes this finer order, oldest debt
first, so that arrears (and the penalty running on them) are cleared before anything new.

What is left once everything due is cleared goes beyond the waterfall (`Prepaid`): first the
interest accrued so far in the current period, then principal not yet due (an early
repayment, `prepay.prepay`, or a payoff, `payoff.close`); `Allocation.with_prepayment` adds
those parts, each with its rule, and only what is beyond them stays `unapplied`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum

from purecredit.core.errors import Invalid
from purecredit.lend.money import ZERO, money


class Bucket(StrEnum):
    """A kind of debt, in waterfall order (the enum's order is the order of settlement)."""

    PENALTY_INTEREST = "penalty_interest"
    OVERDUE_INTEREST = "overdue_interest"
    OVERDUE_PRINCIPAL = "overdue_principal"
    CURRENT_INTEREST = "current_interest"
    CURRENT_PRINCIPAL = "current_principal"


WATERFALL: tuple[Bucket, ...] = tuple(Bucket)


class Prepaid(StrEnum):
    """What a payment settles beyond the dues, in this order (`payoff.repay`)."""

    INTEREST = "prepaid_interest"  # the current period's interest accrued to date
    PRINCIPAL = "prepaid_principal"  # principal not yet due


@dataclass(frozen=True, slots=True)
class Dues:
    """What a loan owes as of a day, by bucket; every amount whole fen and >= 0."""

    penalty_interest: Decimal = ZERO
    overdue_interest: Decimal = ZERO
    overdue_principal: Decimal = ZERO
    current_interest: Decimal = ZERO
    current_principal: Decimal = ZERO

    def __post_init__(self) -> None:
        for field in fields(self):
            money(getattr(self, field.name), field.name)

    def of(self, bucket: Bucket) -> Decimal:
        amount: Decimal = getattr(self, bucket.value)
        return amount

    @property
    def total(self) -> Decimal:
        return sum((self.of(b) for b in WATERFALL), ZERO)


@dataclass(frozen=True, slots=True)
class Allocated:
    """One bucket's share of a payment and the rule that gave it."""

    bucket: Bucket | Prepaid
    amount: Decimal
    rule: str


@dataclass(frozen=True, slots=True)
class Allocation:
    """A payment split over the buckets; `unapplied` is the overpayment left over."""

    payment: Decimal
    parts: tuple[Allocated, ...]  # one per bucket in waterfall order, then any `Prepaid`
    unapplied: Decimal
    remaining: Dues  # the dues after this payment

    def of(self, bucket: Bucket | Prepaid) -> Decimal:
        """The amount that went to `bucket` (zero for a `Prepaid` part not reached)."""
        return next((p.amount for p in self.parts if p.bucket is bucket), ZERO)

    def with_prepayment(self, *parts: Allocated) -> Allocation:
        """This allocation with `parts` (beyond the dues) taken out of the unapplied rest."""
        used = sum((p.amount for p in parts), ZERO)
        if any(not isinstance(p.bucket, Prepaid) for p in parts) or used > self.unapplied:
            raise Invalid("prepaid parts must be Prepaid and within the rest", field="parts")
        return Allocation(self.payment, self.parts + parts, self.unapplied - used, self.remaining)


def allocate(dues: Dues, payment: Decimal) -> Allocation:
    """Settle `dues` with `payment` in waterfall order; nothing is ever paid past zero.

    allocated + unapplied == payment, and every remaining bucket is >= 0.
    """
    left = money(payment, "payment")
    parts: list[Allocated] = []
    remaining: dict[str, Decimal] = {}
    for step, bucket in enumerate(WATERFALL, start=1):
        owed = dues.of(bucket)
        paid = min(owed, left)
        rule = f"waterfall {step}/{len(WATERFALL)}: {bucket.value} (owed {owed})"
        parts.append(Allocated(bucket, paid, rule))
        remaining[bucket.value] = owed - paid
        left -= paid
    return Allocation(payment, tuple(parts), left, Dues(**remaining))
