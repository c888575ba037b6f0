"""The bank's lending policy as versioned data: products, admission rules, grade cut-offs,
limit formulas, pricing components, approval authority and the champion/challenger split.

A policy is a YAML file (``policies/default.yaml`` beside this module is the packaged one),
validated strictly by the frozen pydantic models below. A policy that does not validate never
loads: `load_policy` and `policy_from_text` raise `Invalid` naming the file and the line of the
offending key, e.g. ``default.yaml line 42: rules[3].op: Input should be '>', ...``. Besides
each field's own type, these are validation errors too:

- duplicate keys anywhere in the YAML;
- a product whose ``amount_min`` exceeds ``amount_max`` or ``rate_floor`` exceeds ``rate_cap``,
  or whose subject or segments do not fit its code;
- a rule whose ``value`` does not fit its ``op`` (a list for ``in``/``not_in``, a number for
  ``<``..``>=``, nothing for ``missing``/``present``), duplicate rule codes, a rule naming a
  product the policy does not define;
- a feature (in a rule, a pricing discount or a limit formula) that is not a profile column of
  the subject kind of every product it applies to, or whose type does not fit the comparison:
  a misspelt feature would otherwise read as missing and silently never fire;
- grade cut-offs outside 1..12 or with approve worse than refer; a per-product section
  (cut-offs, limits, pricing, authority) missing for a product or naming an unknown one; a
  limit formula without a grade multiplier for every grade up to the refer cut-off;
- approval authority that shrinks going up the levels, or auto-approval above manual.

Everything here is import-light (pydantic and PyYAML, no pandas): deciding reads only the
frozen models.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date
from functools import cache, cached_property
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.yamldoc import At, validated_yaml

ProductCode = Literal["household", "enterprise", "supply-chain"]
Subject = Literal["person", "enterprise"]
RepaymentMethod = Literal["等额本息", "等额本金", "按月付息到期还本", "按季付息收获后还本"]
Segment = Literal["trader", "farmer", "salaried", "other", "enterprise"]
Op = Literal[">", ">=", "<", "<=", "==", "!=", "in", "not_in", "missing", "present"]
Action = Literal["decline", "refer"]
BranchLevel = Literal["outlet", "sub_branch", "head"]
Arm = Literal["champion", "challenger"]

GRADES: tuple[str, ...] = tuple(str(k) for k in range(1, 13))
LEVELS: tuple[BranchLevel, ...] = ("outlet", "sub_branch", "head")  # lowest first
PERSON_SEGMENTS = frozenset({"trader", "farmer", "salaried", "other"})
COMPARISONS = frozenset({">", ">=", "<", "<="})
Scalar = bool | int | float | str
DEFAULT_POLICY = "default"
T = TypeVar("T")


def _grade(value: object) -> str:
    """A master-scale grade "1".."12"; YAML may write it as a number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a grade is one of 1..12, not {value!r}")
    text = str(value).strip()
    if text not in GRADES:
        raise ValueError(f"a grade is one of 1..12, not {value!r}")
    return text


Grade = Annotated[str, BeforeValidator(_grade)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


_GRADE_NUMBERS = {g: int(g) for g in GRADES}


def grade_number(grade: str) -> int:
    """1 for the safest grade ... 12 for the worst; `Invalid` for anything else."""
    if isinstance(grade, str) and grade in _GRADE_NUMBERS:
        return _GRADE_NUMBERS[grade]  # a decision asks several times: skip the parsing
    try:
        return int(_grade(grade))
    except ValueError as exc:
        raise Invalid(str(exc), field="grade") from exc


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------- products


class Product(_Model):
    """A credit product: who may borrow, how much, for how long, at what rates."""

    code: ProductCode
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    subject: Subject
    kind: str = Field(min_length=1)
    amount_min: int = Field(ge=0)
    amount_max: int = Field(gt=0)
    terms_months: tuple[Annotated[int, Field(gt=0, le=120)], ...] = Field(min_length=1)
    repayment_methods: tuple[RepaymentMethod, ...] = Field(min_length=1)
    rate_floor: Fraction
    rate_cap: Fraction
    eligible_segments: tuple[Segment, ...] = Field(min_length=1)

    @field_validator("amount_max")
    @classmethod
    def _amounts(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("amount_min")
        if low is not None and low > value:
            raise At((), f"amount_min {low} is above amount_max {value}")
        return value

    @field_validator("rate_cap")
    @classmethod
    def _rates(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("rate_floor")
        if low is not None and low > value:
            raise At((), f"rate_floor {low} is above rate_cap {value}")
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str, info: ValidationInfo) -> str:
        code = info.data.get("code")
        want = "person" if code == "household" else "enterprise"
        if code is not None and value != want:
            raise At((), f"product {code} lends to subject {want!r}, not {value!r}")
        return value

    @field_validator("terms_months", "repayment_methods", "eligible_segments")
    @classmethod
    def _unique(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(set(value)) != len(value):
            raise ValueError("values must not repeat")
        return value

    @field_validator("eligible_segments")
    @classmethod
    def _segments(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        subject = info.data.get("subject")
        allowed = PERSON_SEGMENTS if subject == "person" else frozenset({"enterprise"})
        for i, segment in enumerate(value):
            if subject is not None and segment not in allowed:
                raise At((i,), f"segment {segment!r} is not one for subject {subject!r}")
        return value


# ---------------------------------------------------------------------------- conditions


def _rule_value(value: object) -> object:
    """A JSON scalar or a list of them (made a tuple: policies are frozen)."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, list | tuple) or _rule_value(item) is None:
                raise ValueError("a list value holds numbers, strings or booleans only")
        return tuple(value)
    raise ValueError(f"value must be a number, string, boolean or a list of them, not {value!r}")


class Condition(_Model):
    """`feature op value`: the test a rule or a pricing discount applies to a profile.

    ``missing`` holds when the feature has no value (None or NaN), ``present`` when it has
    one; every other op needs a value and never holds against a missing one."""

    feature: str = Field(min_length=1)
    op: Op
    value: Annotated[Any, BeforeValidator(_rule_value)] = Field(default=None, validate_default=True)

    @field_validator("value")
    @classmethod
    def _fits_op(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op is None:
            return value
        if op in ("missing", "present"):
            if value is not None:
                raise ValueError(f"op {op!r} takes no value")
        elif value is None:
            raise ValueError(f"op {op!r} needs a value")
        elif op in ("in", "not_in"):
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"op {op!r} needs a non-empty list")
        elif isinstance(value, tuple):
            raise ValueError(f"op {op!r} needs a single value, not a list")
        elif op in COMPARISONS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"op {op!r} needs a number")
        return value


class Rule(Condition):
    """An admission rule: when its condition holds, the application is declined or referred,
    with a plain reason in Chinese and English. ``products: null`` means every product."""

    code: str = Field(pattern=r"^[A-Z][0-9]{2,3}[a-z]?$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    action: Action
    products: tuple[ProductCode, ...] | None = Field(default=None, min_length=1)


# ---------------------------------------------------------------------------- rating


class GradeCutoffs(_Model):
    """Master-scale grades up to `approve_max_grade` may be approved, up to
    `refer_max_grade` are referred to a person, worse ones are declined."""

    approve_max_grade: Grade
    refer_max_grade: Grade

    @field_validator("refer_max_grade")
    @classmethod
    def _order(cls, value: str, info: ValidationInfo) -> str:
        approve = info.data.get("approve_max_grade")
        if approve is not None and int(approve) > int(value):
            raise At((), f"approve_max_grade {approve} is worse than refer_max_grade {value}")
        return value


# ---------------------------------------------------------------------------- limits


class IncomeSource(_Model):
    """One estimate of the yearly income base: ``feature x times`` (x ``scale_by`` when set,
    e.g. sales times the share going to the core firm). Missing when any feature is."""

    feature: str = Field(min_length=1)
    times: float = Field(default=1.0, gt=0.0)
    scale_by: str | None = None


class LimitFormula(_Model):
    """How a product's limit is sized (see `purecredit.decide.limits`):

    income = the largest of `income` sources; by_income = income x `income_multiple`;
    by_dsr = income x `max_dsr` / `service_per_yuan` - existing debt (the sum of
    `debt_features`, missing counting 0); base = min of the two; then x the grade multiplier,
    rounded down to `round_to`, capped at `cap` (or the product's amount_max), and 0 below the
    product's amount_min."""

    income: tuple[IncomeSource, ...] = Field(min_length=1)
    income_multiple: float = Field(gt=0.0, le=10.0)
    max_dsr: float | None = Field(default=None, gt=0.0, le=1.0)
    service_per_yuan: float = Field(default=0.36, gt=0.0, le=2.0)
    debt_features: tuple[str, ...] = ()
    grade_multipliers: dict[Grade, Annotated[float, Field(ge=0.0, le=1.5)]]
    round_to: int = Field(default=1000, gt=0)
    cap: int | None = Field(default=None, gt=0)


# ---------------------------------------------------------------------------- pricing


class Discount(_Model):
    """A relationship discount, subtracted from the rate when every condition holds."""

    code: str = Field(min_length=1)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    when: tuple[Condition, ...] = Field(min_length=1)
    amount: float = Field(gt=0.0, le=0.05)


class Pricing(_Model):
    """rate = funding_cost + PD x lgd + operating_cost + capital_cost + margin - discounts,
    clamped to the product's floor and cap and to 4 x the 1-year LPR (annual fractions)."""

    funding_cost: Fraction
    lgd: Fraction
    operating_cost: Fraction
    capital_cost: Fraction
    margin: Annotated[float, Field(ge=-0.05, le=0.2)]
    discounts: tuple[Discount, ...] = ()

    @field_validator("discounts")
    @classmethod
    def _unique_codes(cls, value: tuple[Discount, ...]) -> tuple[Discount, ...]:
        seen: set[str] = set()
        for i, d in enumerate(value):
            if d.code in seen:
                raise At((i, "code"), f"discount code {d.code!r} is used twice")
            seen.add(d.code)
        return value


# ---------------------------------------------------------------------------- authority


class LevelAuthority(_Model):
    """What one branch level may do for a product: approve automatically (no person) up to
    `auto_max_amount` at grades no worse than `auto_max_grade`; a reviewer at the level may
    approve up to `manual_max_amount` and `manual_max_grade`."""

    auto_max_amount: int = Field(ge=0)
    auto_max_grade: Grade
    manual_max_amount: int = Field(ge=0)
    manual_max_grade: Grade

    @model_validator(mode="after")
    def _auto_within_manual(self) -> LevelAuthority:
        if self.auto_max_amount > self.manual_max_amount:
            raise At(("auto_max_amount",), "auto-approval exceeds the level's manual authority")
        if int(self.auto_max_grade) > int(self.manual_max_grade):
            raise At(("auto_max_grade",), "auto-approval exceeds the level's manual authority")
        return self


class ProductAuthority(_Model):
    outlet: LevelAuthority
    sub_branch: LevelAuthority
    head: LevelAuthority

    @model_validator(mode="after")
    def _grows_upwards(self) -> ProductAuthority:
        for lower, upper in pairwise(LEVELS):
            a, b = getattr(self, lower), getattr(self, upper)
            if b.manual_max_amount < a.manual_max_amount:
                raise At((upper, "manual_max_amount"), f"{upper} may approve less than {lower}")
            if int(b.manual_max_grade) < int(a.manual_max_grade):
                raise At((upper, "manual_max_grade"), f"{upper} may approve less than {lower}")
        return self

    def level(self, name: BranchLevel) -> LevelAuthority:
        auth: LevelAuthority = getattr(self, name)
        return auth


# ---------------------------------------------------------------------------- split


class Split(_Model):
    """Champion/challenger traffic: `challenger_share` of applications (by a stable hash of
    the application id and `salt`) are decided by the `challenger` policy (a packaged policy
    name or a path)."""

    challenger_share: Fraction = 0.0
    challenger: str | None = None
    salt: str = Field(default="purecredit", min_length=1)

    @model_validator(mode="after")
    def _named(self) -> Split:
        if self.challenger_share > 0 and not self.challenger:
            raise At(("challenger",), "a challenger share above 0 needs a challenger policy")
        return self


# ---------------------------------------------------------------------------- policy


class Policy(_Model):
    version: str = Field(min_length=1)
    effective_from: date
    description: str = ""
    products: tuple[Product, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()
    grade_cutoffs: dict[ProductCode, GradeCutoffs]
    limits: dict[ProductCode, LimitFormula]
    pricing: dict[ProductCode, Pricing]
    authority: dict[ProductCode, ProductAuthority]
    split: Split = Split()

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        codes = [p.code for p in self.products]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                raise At(("products", i, "code"), f"product {code!r} is defined twice")
        known = set(codes)
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.code in seen:
                raise At(("rules", i, "code"), f"rule code {rule.code!r} is used twice")
            seen.add(rule.code)
            for j, product in enumerate(rule.products or ()):
                if product not in known:
                    raise At(("rules", i, "products", j), f"unknown product {product!r}")
        for section in ("grade_cutoffs", "limits", "pricing", "authority"):
            entries: dict[str, Any] = getattr(self, section)
            for name in entries:
                if name not in known:
                    raise At((section, name), f"unknown product {name!r}")
            for code in codes:
                if code not in entries:
                    raise At((section,), f"no entry for product {code!r}")
        for product in codes:
            formula = self.limits[product]
            worst = int(self.grade_cutoffs[product].refer_max_grade)
            for g in GRADES[:worst]:
                if g not in formula.grade_multipliers:
                    raise At(
                        ("limits", product, "grade_multipliers"),
                        f"no multiplier for grade {g} (grades up to {worst} may be granted)",
                    )
            cap = formula.cap
            if cap is not None and cap > self.product(product).amount_max:
                raise At(("limits", product, "cap"), "cap is above the product's amount_max")
        _check_features(self)
        return self

    def product(self, code: str) -> Product:
        for p in self.products:
            if p.code == code:
                return p
        raise NotFound(f"policy {self.version} has no product {code!r}", field="product")

    def rules_for(self, product: str) -> tuple[Rule, ...]:
        """The admission rules that apply to a product, in policy order."""
        return tuple(r for r in self.rules if r.products is None or product in r.products)

    def cutoffs(self, product: str) -> GradeCutoffs:
        return _entry(self.grade_cutoffs, product, self.version)

    def limit_formula(self, product: str) -> LimitFormula:
        return _entry(self.limits, product, self.version)

    def pricing_for(self, product: str) -> Pricing:
        return _entry(self.pricing, product, self.version)

    def authority_for(self, product: str) -> ProductAuthority:
        return _entry(self.authority, product, self.version)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the policy's canonical JSON: what a decision records to name exactly the
        policy it used (two files with the same content hash decide alike)."""
        return hashlib.sha256(canonical_json(self).encode("utf-8")).hexdigest()


def _entry(section: Mapping[Any, T], product: str, version: str) -> T:
    if product not in section:
        raise NotFound(f"policy {version} has no product {product!r}", field="product")
    return section[product]


def canonical_json(policy: Policy) -> str:
    return json.dumps(
        policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


# ---------------------------------------------------------------------------- features


@cache
def profile_columns(kind: str) -> dict[str, str]:
    """Name -> dtype of the profile columns of a subject kind ("person", "enterprise")."""
    from purecredit.profile.features import columns

    return dict(columns(kind))  # type: ignore[arg-type]


_NUMERIC = frozenset({"int", "float"})


def _value_fits(dtype: str, value: object) -> bool:
    if dtype in _NUMERIC:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "text":
        return isinstance(value, str)
    return False  # dates: only missing / present


def _condition_problem(cond: Condition, kind: str) -> tuple[str, str] | None:
    """(field, message) when the condition cannot apply to a `kind` profile."""
    dtype = profile_columns(kind).get(cond.feature)
    if dtype is None:
        return "feature", f"{cond.feature!r} is not a {kind} profile column"
    if cond.op in ("missing", "present"):
        return None
    if cond.op in COMPARISONS and dtype not in _NUMERIC:
        return "op", f"op {cond.op!r} needs a numeric feature; {cond.feature} is {dtype}"
    values = cond.value if isinstance(cond.value, tuple) else (cond.value,)
    if not all(_value_fits(dtype, v) for v in values):
        return "value", f"value {cond.value!r} does not fit {cond.feature} ({dtype})"
    return None


def _check_features(policy: Policy) -> None:
    kinds = {p.code: p.subject for p in policy.products}
    for i, rule in enumerate(policy.rules):
        for product in rule.products or tuple(kinds):
            problem = _condition_problem(rule, kinds[product])
            if problem:
                raise At(("rules", i, problem[0]), f"{problem[1]} (rule applies to {product})")
    for product, pricing in policy.pricing.items():
        for i, discount in enumerate(pricing.discounts):
            for j, cond in enumerate(discount.when):
                problem = _condition_problem(cond, kinds[product])
                if problem:
                    loc = ("pricing", product, "discounts", i, "when", j, problem[0])
                    raise At(loc, problem[1])
    for product, formula in policy.limits.items():
        columns = profile_columns(kinds[product])
        named: list[tuple[tuple[str | int, ...], str]] = []
        for i, source in enumerate(formula.income):
            named.append((("income", i, "feature"), source.feature))
            if source.scale_by is not None:
                named.append((("income", i, "scale_by"), source.scale_by))
        named += [(("debt_features", i), f) for i, f in enumerate(formula.debt_features)]
        for where, feature in named:
            if columns.get(feature) not in _NUMERIC:
                raise At(
                    ("limits", product, *where),
                    f"{feature!r} is not a numeric {kinds[product]} profile column",
                )


# ---------------------------------------------------------------------------- loading


def _policies_dir() -> Path:
    return Path(str(files("purecredit.decide").joinpath("policies")))


def packaged_policies() -> list[str]:
    """Names of the policies shipped with purecredit ("default", "challenger", ...)."""
    return sorted(p.stem for p in _policies_dir().glob("*.yaml"))


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and validate a policy file; None is the packaged default. A bare name without a
    suffix or separator (e.g. "challenger") names a packaged policy."""
    if path is None:
        path = _policies_dir() / f"{DEFAULT_POLICY}.yaml"
    elif isinstance(path, str) and "/" not in path and not path.endswith((".yaml", ".yml")):
        if path not in packaged_policies():
            raise NotFound(f"no packaged policy {path!r}", field="policy")
        path = _policies_dir() / f"{path}.yaml"
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(f"cannot read policy {path}: {exc.strerror}", field="policy") from exc
    return policy_from_text(text, path.name)


def policy_from_text(text: str, name: str = "<policy>") -> Policy:
    """Validate a policy from its YAML text; `name` is the file name errors mention."""
    return validated_yaml(text, name, Policy, what="policy")


def arm(policy: Policy, application_id: str) -> Arm:
    """Champion or challenger for an application: the first 8 bytes of
    sha256(salt + ":" + id) as a fraction of 2**64, below `challenger_share` -> challenger.
    Deterministic across processes and machines (no Python `hash`)."""
    share = policy.split.challenger_share
    if share <= 0.0:
        return "champion"
    digest = hashlib.sha256(f"{policy.split.salt}:{application_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return "challenger" if u < share else "champion"


def features_used(policy: Policy, product: str) -> Mapping[str, None]:
    """Every profile feature the policy reads for a product (ordered, no repeats): what a
    decision must record of the profile to be replayable."""
    used: dict[str, None] = {}
    for rule in policy.rules_for(product):
        used[rule.feature] = None
    for discount in policy.pricing_for(product).discounts:
        for cond in discount.when:
            used[cond.feature] = None
    formula = policy.limit_formula(product)
    for source in formula.income:
        used[source.feature] = None
        if source.scale_by:
            used[source.scale_by] = None
    for feature in formula.debt_features:
        used[feature] = None
    return used
