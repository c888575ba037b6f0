"""Admission rules applied to a profile: pure, no I/O, plain values in and out.

Missing values: a feature is missing when the profile has no such key, or its value is None or
a float NaN. Only ``missing`` fires on a missing value (and ``present`` on any other); every
comparison (``>``, ``==``, ``in``, ...) against a missing value does NOT fire. A missing value
means the source did not say, not that the answer is bad; a policy that must act on absent
data says so with its own ``missing`` rule (e.g. a firm not in the enterprise registry).

Comparisons follow the op exactly at the boundary: ``> 4`` fires on 5, not on 4; ``>= 4`` on
4. The policy loader checks that each rule's value fits its feature's type; a profile value of
the wrong type at run time (a data fault) raises `Invalid` rather than silently passing a
decline rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from purecredit.core.errors import Invalid
from purecredit.decide.policy import Action, Condition, Rule


@dataclass(frozen=True, slots=True)
class Fired:
    """A rule that fired: what it does, why (in Chinese and English) and the value it saw."""

    code: str
    action: Action
    zh: str
    en: str
    feature: str
    op: str
    threshold: object
    value: object

    def to_dict(self) -> dict[str, object]:
        threshold = list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold
        return {
            "code": self.code,
            "action": self.action,
            "zh": self.zh,
            "en": self.en,
            "feature": self.feature,
            "op": self.op,
            "threshold": threshold,
            "value": self.value,
        }


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: object) -> object:
    """numpy scalars to Python ones (a profile may come from a frame in batch use)."""
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, str | bytes | int | float):
        return item()
    return value


def _number(value: object, cond: Condition, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(
            f"{who}: feature {cond.feature} is {type(value).__name__}, not a number",
            field=cond.feature,
        )
    return float(value)


def holds(cond: Condition, features: Mapping[str, object], who: str = "condition") -> bool:
    """Whether `feature op value` holds for a profile (see the module note on missing)."""
    raw = features.get(cond.feature)
    seen = None if is_missing(raw) else _plain(raw)
    op = cond.op
    if op == "missing":
        return seen is None
    if op == "present":
        return seen is not None
    if seen is None:
        return False
    target = cond.value
    if op == "==":
        return _same(seen, target)
    if op == "!=":
        return not _same(seen, target)
    if op == "in":
        return any(_same(seen, t) for t in target)
    if op == "not_in":
        return not any(_same(seen, t) for t in target)
    x = _number(seen, cond, who)
    y = float(target)
    if op == ">":
        return x > y
    if op == ">=":
        return x >= y
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    raise AssertionError(f"unhandled op {op!r}")  # the model's Literal makes this unreachable


def _same(seen: object, target: object) -> bool:
    """Equality that does not let True pass for 1 (nor 1 for True)."""
    if isinstance(seen, bool) or isinstance(target, bool):
        return isinstance(seen, bool) and isinstance(target, bool) and seen is target
    return seen == target


def all_hold(conditions: Iterable[Condition], features: Mapping[str, object]) -> bool:
    return all(holds(c, features) for c in conditions)


def evaluate(
    rules: Iterable[Rule], product_code: str, features: Mapping[str, object]
) -> list[Fired]:
    """Every rule for `product_code` whose condition holds, in policy order.

    `rules` is usually ``policy.rules``; rules listing other products are skipped."""
    fired: list[Fired] = []
    for rule in rules:
        if rule.products is not None and product_code not in rule.products:
            continue
        if holds(rule, features, who=f"rule {rule.code}"):
            raw = features.get(rule.feature)
            fired.append(
                Fired(
                    code=rule.code,
                    action=rule.action,
                    zh=rule.zh,
                    en=rule.en,
                    feature=rule.feature,
                    op=rule.op,
                    threshold=rule.value,
                    value=None if is_missing(raw) else _plain(raw),
                )
            )
    return fired


def outcome(fired: Iterable[Fired]) -> Action | None:
    """The strongest action among fired rules: "decline" over "refer"; None when none fired."""
    actions = {f.action for f in fired}
    if "decline" in actions:
        return "decline"
    if "refer" in actions:
        return "refer"
    return None
