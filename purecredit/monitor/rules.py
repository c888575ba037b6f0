"""Warning rules as versioned data, like the lending policy: the detectors' thresholds, and
for each rule the events it matches, its severity, the action it suggests to the officer and
the actions the system may take by itself.

A rule file that does not validate never loads; the error names the file and the line
(`core.yamldoc`). Rules are tried in order and the first that matches an event wins, so a
borrower's own court case can be red while the same fact about a relative two steps away is
only orange.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.yamldoc import At, validated_yaml
from purecredit.monitor.kinds import Kind

Severity = Literal["red", "orange", "yellow"]
Suggested = Literal["freeze", "reduce", "recall", "restructure", "none"]
Auto = Literal["freeze"]
DEFAULT_RULES = "2026.1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueryBurst(_Model):
    window_days: int = Field(ge=7, le=365)
    institutions: int = Field(ge=2)  # distinct lenders with loan-approval queries


class PriceFall(_Model):
    months: int = Field(ge=1, le=12)  # compared with the price this many months before
    fall: float = Field(gt=0, lt=1)


class DepositOutflow(_Model):
    months: int = Field(ge=1, le=12)  # against the mean balance of the months before
    fall: float = Field(gt=0, lt=1)
    min_balance: float = Field(ge=0)  # a smaller account's swings are noise


class Downgrade(_Model):
    grades: int = Field(ge=1, le=11)


class Detectors(_Model):
    query_burst: QueryBurst
    herb_price_fall: PriceFall
    deposit_outflow: DepositOutflow
    pd_downgrade: Downgrade


class Rule(_Model):
    id: str = Field(pattern=r"^W\d{2}$")
    kinds: tuple[Kind, ...] = Field(min_length=1)
    max_hops: int = Field(ge=0, le=2)
    severity: Severity
    suggested: Suggested
    auto: tuple[Auto, ...] = ()

    def matches(self, kind: str, hops: int) -> bool:
        return kind in self.kinds and hops <= self.max_hops


class Rules(_Model):
    version: str = Field(pattern=r"^\d{4}\.\d+$")
    events: Detectors
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rules:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise At(("rules", i, "id"), f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self

    def first_match(self, kind: str, hops: int) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(kind, hops)), None)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise NotFound(f"no warning rule {rule_id!r} in rules {self.version}", field="rule")


def rules_from_text(text: str, name: str = "<rules>") -> Rules:
    return validated_yaml(text, name, Rules, what="rules")


@cache
def load_rules(path: Path | str | None = None) -> Rules:
    """A rules file; None or a bare version (e.g. "2026.1") is a packaged one."""
    if path is None or (isinstance(path, str) and "/" not in path and not path.endswith(".yaml")):
        version = DEFAULT_RULES if path is None else path
        resource = files("purecredit.monitor") / "rules" / f"{version}.yaml"
        if not resource.is_file():
            raise NotFound(f"no packaged warning rules {version!r}", field="rules")
        return rules_from_text(resource.read_text(encoding="utf-8"), f"{version}.yaml")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(
            f"cannot read warning rules {file.name}: {exc.strerror}", field="rules"
        ) from exc
    return rules_from_text(text, file.name)
