"""Approval authority: a pure function of the policy.

Authority is per product and branch level (outlet < sub_branch < head). An approval at the
applying branch's level is automatic when the amount and the grade are within that level's
auto-approval; otherwise it is referred to the lowest level, at or above the applying branch's,
whose manual authority covers both; beyond the head office's manual authority nobody may
approve it (`refer_to` None, `covered` False: the engine declines or cuts the amount).
"""

from __future__ import annotations

from dataclasses import dataclass

from purecredit.core.errors import Invalid
from purecredit.decide.policy import LEVELS, BranchLevel, Policy, grade_number


@dataclass(frozen=True, slots=True)
class AuthorityResult:
    auto: bool  # approve without a person
    refer_to: BranchLevel | None  # the level a reviewer must come from, when not auto
    covered: bool  # False: beyond every level's authority
    reason_zh: str
    reason_en: str

    def to_dict(self) -> dict[str, object]:
        """`dataclasses.asdict` without its deep copy of plain immutable values."""
        return {
            "auto": self.auto,
            "refer_to": self.refer_to,
            "covered": self.covered,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }


def _level_index(level: str) -> int:
    if level not in LEVELS:
        raise Invalid(f"branch level must be one of {', '.join(LEVELS)}, not {level!r}")
    return LEVELS.index(level)


def authority(
    policy: Policy, product: str, branch_level: str, amount: float, grade: str
) -> AuthorityResult:
    """Who may approve `amount` at `grade` for an application made at a `branch_level`
    branch: automatically, a reviewer at `refer_to`, or nobody."""
    table = policy.authority_for(product)
    start = _level_index(branch_level)
    g = grade_number(grade)
    own = table.level(LEVELS[start])
    if amount <= own.auto_max_amount and g <= grade_number(own.auto_max_grade):
        return AuthorityResult(
            auto=True,
            refer_to=None,
            covered=True,
            reason_zh="在自动审批权限内",
            reason_en="Within the automatic approval authority",
        )
    for level in LEVELS[start:]:
        auth = table.level(level)
        if amount <= auth.manual_max_amount and g <= grade_number(auth.manual_max_grade):
            return AuthorityResult(
                auto=False,
                refer_to=level,
                covered=True,
                reason_zh=f"超出自动审批权限，需{_ZH[level]}审批",
                reason_en=f"Beyond automatic approval; needs approval at {level} level",
            )
    return AuthorityResult(
        auto=False,
        refer_to=None,
        covered=False,
        reason_zh="超出总行审批权限",
        reason_en="Beyond the approval authority of the head office",
    )


_ZH: dict[str, str] = {"outlet": "网点", "sub_branch": "支行", "head": "总行"}


def can_approve(
    policy: Policy, product: str, reviewer_level: str, amount: float, grade: str
) -> bool:
    """Whether a manual reviewer at `reviewer_level` may approve this amount and grade."""
    auth = policy.authority_for(product).level(LEVELS[_level_index(reviewer_level)])
    return amount <= auth.manual_max_amount and grade_number(grade) <= grade_number(
        auth.manual_max_grade
    )
