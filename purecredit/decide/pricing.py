"""Risk-based pricing: the annual rate a product charges for a PD, with every component.

    raw  = funding_cost + PD x LGD + operating_cost + capital_cost + margin - discounts
    rate = raw clamped to [product rate_floor, min(product rate_cap, 4 x 1-year LPR)]

Interest above 4 x the 1-year LPR at signing is not protected by the courts, so that ceiling
wins even over the product's floor (a policy whose floor were above it could not lend
lawfully at the floor). The LPR is passed in (the caller reads it from settings), so pricing
stays pure. Discounts apply when all their conditions hold (see `purecredit.decide.rules` on
missing values: a missing feature earns no discount). The rate is rounded to 0.0001 (one
basis point).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from purecredit.core.errors import Invalid
from purecredit.decide.policy import Policy
from purecredit.decide.rules import all_hold

LEGAL_LPR_MULTIPLE = 4
Clamp = Literal["floor", "cap", "legal_cap"]


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    code: str
    zh: str
    en: str
    amount: float

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "zh": self.zh, "en": self.en, "amount": self.amount}


@dataclass(frozen=True, slots=True)
class PriceResult:
    product: str
    pd: float
    funding_cost: float
    lgd: float
    expected_loss: float  # pd x lgd
    operating_cost: float
    capital_cost: float
    margin: float
    discounts: tuple[AppliedDiscount, ...]
    discount_total: float
    raw_rate: float  # the sum before clamping
    floor: float
    cap: float
    legal_cap: float  # 4 x the 1-year LPR
    lpr_1y: float
    clamped: Clamp | None  # which bound set the rate, if any
    rate: float  # final annual rate, rounded to 0.0001

    def to_dict(self) -> dict[str, object]:
        """`dataclasses.asdict` (the discounts as a tuple of dicts), without its deep copy of
        every field: the rest are plain immutable values, and the copying cost more than the
        pricing."""
        out: dict[str, object] = {name: getattr(self, name) for name in _PRICE_FIELDS}
        out["discounts"] = tuple(d.to_dict() for d in self.discounts)
        return out


_PRICE_FIELDS = tuple(f.name for f in fields(PriceResult))


def price(
    policy: Policy, product: str, pd: float, features: Mapping[str, object], lpr_1y: float
) -> PriceResult:
    """The product's rate for a borrower of this PD and profile (see the module note)."""
    if not 0.0 <= pd <= 1.0:
        raise Invalid(f"PD must be in [0, 1], not {pd!r}", field="pd")
    if not 0.0 < lpr_1y < 1.0:
        raise Invalid(f"the 1-year LPR must be an annual fraction, not {lpr_1y!r}", field="lpr")
    comp = policy.pricing_for(product)
    prod = policy.product(product)
    applied = tuple(
        AppliedDiscount(d.code, d.zh, d.en, d.amount)
        for d in comp.discounts
        if all_hold(d.when, features)
    )
    discount_total = sum(d.amount for d in applied)
    expected_loss = pd * comp.lgd
    raw = (
        comp.funding_cost
        + expected_loss
        + comp.operating_cost
        + comp.capital_cost
        + comp.margin
        - discount_total
    )
    legal_cap = LEGAL_LPR_MULTIPLE * lpr_1y
    clamped: Clamp | None = None
    rate = raw
    if rate < prod.rate_floor:
        rate, clamped = prod.rate_floor, "floor"
    if rate > prod.rate_cap:
        rate, clamped = prod.rate_cap, "cap"
    if rate > legal_cap:
        rate, clamped = legal_cap, "legal_cap"
    rate = round(rate, 4)
    if rate > legal_cap:  # rounding must never cross the legal ceiling
        rate = int(legal_cap * 10000) / 10000
    return PriceResult(
        product=product,
        pd=pd,
        funding_cost=comp.funding_cost,
        lgd=comp.lgd,
        expected_loss=expected_loss,
        operating_cost=comp.operating_cost,
        capital_cost=comp.capital_cost,
        margin=comp.margin,
        discounts=applied,
        discount_total=discount_total,
        raw_rate=raw,
        floor=prod.rate_floor,
        cap=prod.rate_cap,
        legal_cap=legal_cap,
        lpr_1y=lpr_1y,
        clamped=clamped,
        rate=rate,
    )
