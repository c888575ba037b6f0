"""The decision: admission, rating, limit, price and authority as one pure function.

`decide(application, profile, model, policy, standing, lpr_1y)` reads nothing but its
arguments and returns a `Decision` that says everything it did: the outcome (approve, refer or
decline), every rule that fired, the model's PD, grade and reason codes, the limit's working,
the price's components, the authority that applies, and the versions and content hashes of
the policy and the model. Stored with its inputs, it can be replayed exactly
(`decide.store`).

The chain, in order; each step may decline or refer, and the strongest wins (decline, then
refer, then approve), while every reason is kept:

1. the product lends to this kind of subject and segment;
2. admission rules (`rules.evaluate`);
3. the model: PD, master-scale grade, reason codes; grade cut-offs;
4. the limit (`limits.limit`): the customer's unified limit, of which the group's other
   lines are already taken (`Standing`); a customer with a line for this product is answered
   from it (an increase up to the line asked for, never a second line);
5. the price (`pricing.price`);
6. approval authority for the branch (`authority.authority`): beyond the automatic authority,
   refer to the level that can approve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol

import numpy as np

from purecredit.core.errors import Invalid
from purecredit.decide.authority import authority
from purecredit.decide.limits import limit
from purecredit.decide.policy import Policy, Product, features_used, grade_number
from purecredit.decide.pricing import price
from purecredit.decide.rules import evaluate
from purecredit.score.reasons import Reason
from purecredit.score.sample import SEGMENT_FEATURES, segment_of

Outcome = Literal["approve", "refer", "decline"]
Kind = Literal["person", "enterprise"]
REASONS_FROM_MODEL = 4


class Model(Protocol):
    """What the decision needs of a registered model (`score.registry.RegisteredModel`)."""

    @property
    def segment(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def features(self) -> list[str]: ...

    def pd_one(self, record: Mapping[str, object]) -> float: ...

    def grade_of(self, pd_bad: float) -> str: ...

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]: ...


@dataclass(frozen=True)
class Application:
    """What an applicant gives: identity (as the lake's key), consent, product, amount and
    branch. Everything else comes from data."""

    application_id: str
    subject: str  # a person's lake key (`id:...`) or a firm's USCC
    kind: Kind
    product: str
    amount: int  # yuan: the line asked for
    branch: str
    branch_level: str
    consent_id: str
    received_at: str  # ISO timestamp
    term_months: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`, without its deep copy of plain immutable values."""
        return {name: getattr(self, name) for name in _APPLICATION_FIELDS}


@dataclass(frozen=True)
class Standing:
    """The customer's group in the unified-limit ledger when the decision is made: the total
    of its active lines, and this subject's line for the product if it has one."""

    group_granted: float = 0.0
    line: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"group_granted": self.group_granted, "line": self.line}


_APPLICATION_FIELDS = tuple(f.name for f in fields(Application))


@dataclass(frozen=True)
class Said:
    """One reason given with a decision, from the model, a rule, the limit or authority."""

    source: Literal["model", "rule", "product", "grade", "limit", "authority"]
    code: str
    zh: str
    en: str
    action: Outcome | None = None  # what it did to the outcome, None: explains only
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    application_id: str
    outcome: Outcome
    product: str
    segment: str
    pd: float | None
    grade: str | None
    unified_limit: int  # the customer's total limit across products and branches
    line: int  # the line for this product after the decision (0 if none)
    increase: int  # what the decision adds to the line (0: the existing line answers)
    rate: float | None
    term_months: int | None
    repayment_method: str | None
    refer_to: str | None
    reasons: tuple[Said, ...]
    working: dict[str, Any]
    versions: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _worst(a: Outcome, b: Outcome) -> Outcome:
    order = ("approve", "refer", "decline")
    return a if order.index(a) >= order.index(b) else b


def profile_inputs(
    policy: Policy, product: str, model: Model, profile: Mapping[str, Any]
) -> dict[str, Any]:
    """The part of a profile a decision reads (policy features, model features and the
    segment's): what is stored with it for replay."""
    names = dict.fromkeys([*features_used(policy, product), *model.features, *SEGMENT_FEATURES])
    return {name: _plain(profile.get(name)) for name in names}


def _plain(value: Any) -> Any:
    """JSON-safe scalars: numpy numbers to Python, NaN to None, dates to ISO text."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def check_application(product: Product, kind: str, amount: int, term_months: int | None) -> int:
    """What makes an application an error rather than a decision: a product for the other
    kind of subject, an amount outside its range, a term it does not offer. Returns the term
    (the product's first when none is asked for)."""
    if product.subject != kind:
        raise Invalid(f"product {product.code} lends to a {product.subject}, not a {kind}",
                      field="product")  # fmt: skip
    if not product.amount_min <= amount <= product.amount_max:
        raise Invalid(
            f"amount {amount} is outside {product.code}'s range "
            f"{product.amount_min}-{product.amount_max} yuan",
            field="amount",
        )
    term = term_months or product.terms_months[0]
    if term not in product.terms_months:
        raise Invalid(
            f"term {term} months is not one of {product.code}'s {list(product.terms_months)}",
            field="term_months",
        )
    return term


def decide(
    application: Application,
    profile: Mapping[str, Any],
    model: Model,
    policy: Policy,
    standing: Standing,
    lpr_1y: float,
    *,
    arm: str = "champion",
) -> Decision:
    """Decide one application (see the module docstring). Raises `Invalid` only for what is
    an error rather than a decision: a product for the other kind of subject, an amount
    outside the product's range, a term the product does not offer."""
    product = policy.product(application.product)
    term = check_application(product, application.kind, application.amount, application.term_months)
    said: list[Said] = []
    outcome: Outcome = "approve"
    segment = segment_of(profile) if application.kind == "person" else "enterprise"
    if segment not in product.eligible_segments:
        outcome = "decline"
        said.append(
            Said(
                "product",
                "P01",
                "不属于该产品的适用客群",
                f"not among the borrowers {product.code} serves ({segment})",
                "decline",
            )
        )

    for fired in evaluate(policy.rules, product.code, profile):
        outcome = _worst(outcome, fired.action)
        said.append(Said("rule", fired.code, fired.zh, fired.en, fired.action, fired.to_dict()))

    # One applicant: the compiled models' single-row paths (no pandas, no batch set-up).
    pd_bad = float(model.pd_one(profile))
    grade = model.grade_of(pd_bad)
    for reason in model.reasons_one(profile, top=REASONS_FROM_MODEL):
        said.append(
            Said(
                "model",
                reason.code,
                reason.zh,
                reason.en,
                None,
                {"feature": reason.feature, "impact": reason.impact},
            )
        )
    cutoffs = policy.cutoffs(product.code)
    if grade_number(grade) > grade_number(cutoffs.refer_max_grade):
        outcome = "decline"
        said.append(
            Said(
                "grade",
                "G02",
                f"信用等级{grade}低于准入标准",
                f"grade {grade} is below what the product accepts",
                "decline",
            )
        )
    elif grade_number(grade) > grade_number(cutoffs.approve_max_grade):
        outcome = _worst(outcome, "refer")
        said.append(
            Said(
                "grade",
                "G01",
                f"信用等级{grade}需人工审批",
                f"grade {grade} needs a reviewer",
                "refer",
            )
        )

    worked = limit(policy, product.code, profile, grade)
    unified = int(worked.amount)
    existing = int(standing.line or 0)
    others = max(0.0, standing.group_granted - existing)  # the group's other lines
    room = max(0, int(unified - others))  # the most this product's line may be
    # A line is never cut by a new application: asking for less than the line held keeps it.
    line = max(existing, min(application.amount, room)) if unified > 0 else 0
    increase = max(0, line - existing)
    if unified == 0:
        outcome = "decline"
        said.append(
            Said(
                "limit",
                "L01",
                worked.reason_zh or "额度不足",
                worked.reason_en or "no limit can be granted",
                "decline",
            )
        )
    elif line < product.amount_min:
        outcome = "decline"
        said.append(
            Said(
                "limit",
                "U01",
                "统一授信额度已用足",
                "the customer's unified limit is taken by other lines",
                "decline",
            )
        )
    elif line < application.amount:
        said.append(
            Said(
                "limit",
                "L02",
                "核定额度低于申请金额",
                f"the line granted is {line} yuan, less than asked",
                None,
            )
        )
    if existing and outcome != "decline":
        said.append(
            Said(
                "limit",
                "L03",
                "已有授信，按原额度调整",
                "answered from the customer's existing line",
                None,
                {"existing": existing},
            )
        )

    priced = price(policy, product.code, pd_bad, profile, lpr_1y)
    who = authority(policy, product.code, application.branch_level, max(line, 1), grade)
    refer_to: str | None = None
    if outcome != "decline" and not who.auto:
        if who.covered:
            outcome = _worst(outcome, "refer")
            refer_to = who.refer_to
            said.append(Said("authority", "H01", who.reason_zh, who.reason_en, "refer"))
        else:
            outcome = "decline"
            said.append(Said("authority", "H02", who.reason_zh, who.reason_en, "decline"))
    if outcome == "refer" and refer_to is None:
        refer_to = application.branch_level
    granted = outcome != "decline"
    return Decision(
        application_id=application.application_id,
        outcome=outcome,
        product=product.code,
        segment=segment,
        pd=pd_bad,
        grade=grade,
        unified_limit=unified,
        line=line if granted else existing,
        increase=increase if granted else 0,
        rate=priced.rate if granted else None,
        term_months=term if granted else None,
        repayment_method=product.repayment_methods[0] if granted else None,
        refer_to=refer_to if outcome == "refer" else None,
        reasons=tuple(said),
        working={
            "limit": worked.to_dict(),
            "price": priced.to_dict(),
            "authority": who.to_dict(),
            "standing": standing.to_dict(),
        },
        versions={
            "policy": policy.version,
            "policy_hash": policy.content_hash,
            "arm": arm,
            "model": {
                "segment": model.segment,
                "version": model.version,
                "kind": model.kind,
                "content_hash": model.content_hash,
            },
            "lpr_1y": lpr_1y,
        },
    )
