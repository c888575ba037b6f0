"""The credit limit a product grants on a profile and grade, with its working shown.

    income    = the largest available income source (feature x times [x scale_by])
    by_income = income x income_multiple
    by_dsr    = income x max_dsr / service_per_yuan - debt      (when max_dsr is set)
    base      = min(by_income, by_dsr), not below 0
    graded    = base x grade multiplier
    rounded   = graded rounded DOWN to round_to (never round a customer above the formula)
    amount    = min(rounded, cap), cap = the formula's cap or the product's amount_max;
                0 when below the product's amount_min (a decline reason)

`service_per_yuan` is the yearly repayment per yuan of debt (interest plus principal), applied
alike to existing debt and the new line, so ``income x max_dsr`` is the yearly debt service
the borrower can carry and ``/ service_per_yuan`` the debt it supports. Debt features that are
missing count as 0 (`debt_known` says whether any was present). No income source gives a
limit of 0 with reason "no_income".

Pure: a mapping of feature values in, a `LimitResult` out. The customer-wide unified limit
(across products and branches) is applied after this, by the exposure ledger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from purecredit.decide.policy import Policy
from purecredit.decide.rules import is_missing

LimitReason = Literal["no_income", "below_minimum"]

REASONS: dict[LimitReason, tuple[str, str]] = {
    "no_income": (
        "无可核实的收入或销售数据，无法测算额度",
        "No verifiable income or sales to size a limit",
    ),
    "below_minimum": (
        "测算额度低于产品最低额度",
        "The limit the formula allows is below the product's minimum",
    ),
}


@dataclass(frozen=True, slots=True)
class LimitResult:
    product: str
    grade: str
    income: float  # yearly income base, yuan (0 when none)
    income_feature: str | None  # the source that gave it
    income_multiple: float
    by_income: float
    debt: float
    debt_known: bool
    max_dsr: float | None
    service_per_yuan: float
    by_dsr: float | None
    base: float
    grade_multiplier: float
    graded: float
    round_to: int
    rounded: int
    cap: int
    amount_min: int
    amount: int  # the final limit, yuan; 0 = nothing can be granted
    reason: LimitReason | None

    @property
    def reason_zh(self) -> str | None:
        return REASONS[self.reason][0] if self.reason else None

    @property
    def reason_en(self) -> str | None:
        return REASONS[self.reason][1] if self.reason else None

    def to_dict(self) -> dict[str, object]:
        """`dataclasses.asdict`, without its deep copy of every field: they are all plain
        immutable values, and the copying was a tenth of a decision's time."""
        return {name: getattr(self, name) for name in _LIMIT_FIELDS}


_LIMIT_FIELDS = tuple(f.name for f in fields(LimitResult))


def _number(features: Mapping[str, object], name: str) -> float | None:
    value = features.get(name)
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def income_base(
    policy: Policy, product: str, features: Mapping[str, object]
) -> tuple[float, str | None]:
    """(yearly income, the feature it came from): the largest available source, or (0, None)."""
    best: tuple[float, str | None] = (0.0, None)
    for source in policy.limit_formula(product).income:
        value = _number(features, source.feature)
        if value is None:
            continue
        value *= source.times
        if source.scale_by is not None:
            scale = _number(features, source.scale_by)
            if scale is None:
                continue
            value *= scale
        if best[1] is None or value > best[0]:
            best = (max(value, 0.0), source.feature)
    return best


def limit(policy: Policy, product: str, features: Mapping[str, object], grade: str) -> LimitResult:
    """The product's limit for this profile and master-scale grade (see the module note)."""
    formula = policy.limit_formula(product)
    prod = policy.product(product)
    income, source = income_base(policy, product, features)
    debts = [_number(features, f) for f in formula.debt_features]
    debt = sum(d for d in debts if d is not None)
    by_income = income * formula.income_multiple
    by_dsr = None
    if formula.max_dsr is not None:
        by_dsr = income * formula.max_dsr / formula.service_per_yuan - debt
    base = max(0.0, min(by_income, by_dsr) if by_dsr is not None else by_income)
    multiplier = formula.grade_multipliers.get(str(grade), 0.0)
    graded = base * multiplier
    # a hair of tolerance so that e.g. 0.7 x 100000 (69999.99999) rounds to 70000
    rounded = math.floor(graded / formula.round_to + 1e-9) * formula.round_to
    cap = formula.cap if formula.cap is not None else prod.amount_max
    amount = min(rounded, cap)
    reason: LimitReason | None = None
    if source is None:
        reason, amount = "no_income", 0
    elif amount < prod.amount_min:
        reason, amount = "below_minimum", 0
    return LimitResult(
        product=product,
        grade=str(grade),
        income=income,
        income_feature=source,
        income_multiple=formula.income_multiple,
        by_income=by_income,
        debt=debt,
        debt_known=any(d is not None for d in debts),
        max_dsr=formula.max_dsr,
        service_per_yuan=formula.service_per_yuan,
        by_dsr=by_dsr,
        base=base,
        grade_multiplier=multiplier,
        graded=graded,
        round_to=formula.round_to,
        rounded=rounded,
        cap=cap,
        amount_min=prod.amount_min,
        amount=amount,
        reason=reason,
    )
