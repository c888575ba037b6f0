"""The decision chain on the packaged policy, with a model whose PD the test sets: admission
rules, grade cut-offs, the limit against the unified limit and an existing line, authority,
and a decision that records its versions. (The real models and the ledger meet the engine in
test_counter.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from purecredit.core.errors import Invalid
from purecredit.decide.engine import Application, Standing, decide
from purecredit.decide.policy import load_policy
from purecredit.score.master_scale import MASTER_SCALE
from purecredit.score.reasons import Reason

LPR = 0.03


@dataclass
class FixedModel:
    """A model whose PD is set by the test; it reads one feature to show it is asked."""

    pd: float
    segment: str = "person"
    version: str = "v1"
    kind: str = "scorecard"
    content_hash: str = "f" * 64

    @property
    def features(self) -> list[str]:
        return ["age_years"]

    def pd_one(self, record: Mapping[str, object]) -> float:
        assert "age_years" in record
        return self.pd

    def grade_of(self, pd_bad: float) -> str:
        return str(MASTER_SCALE.grade([pd_bad])[0])

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]:
        return [Reason("age_years", "R13", "年龄", "age", 5.0)]


def farmer(**overrides: Any) -> dict[str, Any]:
    """A herb farmer with a clean record and 20 mu planted (60,000 yuan of income a year)."""
    profile: dict[str, Any] = {
        "age_years": 45,
        "household_plants_herbs": True,
        "planted_area_mu": 20.0,
        "deposit_avg_inflow_12m": None,
        "pension_latest_base": None,
        "legal_rep_live_firms": 0,
        "legal_rep_has_live_licence": False,
        "total_debt": 0.0,
        "dishonest_listed": False,
        "court_open_cases": 0,
        "bureau_application_orgs_90d": 0,
        "bureau_application_orgs_30d": 0,
        "bureau_overdue_accounts": 0,
        "bank_unpaid_overdue_instalments": 0,
    }
    profile.update(overrides)
    return profile


def application(amount: int = 50_000, level: str = "outlet", **kw: Any) -> Application:
    return Application(
        application_id="A1",
        subject="id:x",
        kind="person",
        product="household",
        amount=amount,
        branch="341602001",
        branch_level=level,
        consent_id="C1",
        received_at="2026-01-06T09:00:00+00:00",
        **kw,
    )


POLICY = load_policy()


def test_a_clean_farmer_is_approved_with_a_priced_line_and_the_versions_used() -> None:
    d = decide(application(), farmer(), FixedModel(0.01), POLICY, Standing(), LPR)
    assert d.outcome == "approve" and d.segment == "farmer"
    assert d.grade == str(MASTER_SCALE.grade([0.01])[0])
    assert d.line == 50_000 and d.increase == 50_000 and d.unified_limit >= 50_000
    assert POLICY.product("household").rate_floor <= d.rate <= 4 * LPR
    assert d.term_months == POLICY.product("household").terms_months[0]
    assert d.versions["policy_hash"] == POLICY.content_hash
    assert d.versions["model"]["content_hash"] == "f" * 64
    assert [r.code for r in d.reasons if r.source == "model"] == ["R13"]


def test_a_decline_rule_declines_and_says_why() -> None:
    d = decide(application(), farmer(dishonest_listed=True), FixedModel(0.01), POLICY,
               Standing(), LPR)  # fmt: skip
    assert d.outcome == "decline" and d.rate is None and d.line == 0
    fired = [r for r in d.reasons if r.source == "rule"]
    assert fired and all(r.zh and r.en for r in fired)
    assert any(r.action == "decline" and r.detail["feature"] == "dishonest_listed" for r in fired)


def test_grades_past_the_cut_offs_refer_then_decline() -> None:
    cut = POLICY.cutoffs("household")
    upper = dict(zip(MASTER_SCALE.labels, MASTER_SCALE.uppers, strict=True))
    lower = dict(zip(MASTER_SCALE.labels, MASTER_SCALE.lowers, strict=True))
    refer_pd = (lower[cut.refer_max_grade] + upper[cut.refer_max_grade]) / 2
    assert decide(application(), farmer(), FixedModel(refer_pd), POLICY, Standing(),
                  LPR).outcome == "refer"  # fmt: skip
    worse = str(int(cut.refer_max_grade) + 1)
    decline_pd = (lower[worse] + upper[worse]) / 2
    d = decide(application(), farmer(), FixedModel(decline_pd), POLICY, Standing(), LPR)
    assert d.outcome == "decline" and any(r.code == "G02" for r in d.reasons)


def test_no_income_is_no_limit() -> None:
    d = decide(application(), farmer(planted_area_mu=None, household_plants_herbs=False),
               FixedModel(0.01), POLICY, Standing(), LPR)  # fmt: skip
    assert d.outcome == "decline" and d.unified_limit == 0
    assert any(r.code == "L01" for r in d.reasons)


def test_the_unified_limit_counts_the_groups_other_lines_and_answers_from_an_existing_one() -> None:
    model = FixedModel(0.01)
    free = decide(application(amount=200_000), farmer(), model, POLICY, Standing(), LPR)
    unified = free.unified_limit
    assert 0 < unified < 200_000 and free.line == unified  # the line is cut to the limit
    assert any(r.code == "L02" for r in free.reasons)
    # The group's other lines take their share: what is left is the most this line may be.
    taken = decide(application(amount=200_000), farmer(), model, POLICY,
                   Standing(group_granted=unified - 20_000), LPR)  # fmt: skip
    assert taken.line == 20_000 and taken.increase == 20_000
    # Nothing left (below the product's minimum): declined, never a parallel grant.
    full = decide(application(), farmer(), model, POLICY, Standing(group_granted=unified), LPR)
    assert full.outcome == "decline" and any(r.code == "U01" for r in full.reasons)
    # An existing 30,000 line for the product: a 50,000 application raises it by 20,000.
    more = decide(application(), farmer(), model, POLICY,
                  Standing(group_granted=30_000, line=30_000), LPR)  # fmt: skip
    assert more.line == 50_000 and more.increase == 20_000
    assert any(r.code == "L03" for r in more.reasons)


def test_beyond_the_branchs_authority_is_referred_to_the_level_that_can() -> None:
    big = farmer(planted_area_mu=200.0)  # income enough for the product's maximum
    top = POLICY.product("household").amount_max
    outlet = POLICY.authority_for("household").level("outlet")
    assert outlet.auto_max_amount < top
    d = decide(application(amount=top), big, FixedModel(0.001), POLICY, Standing(), LPR)
    assert d.outcome == "refer" and d.refer_to in ("sub_branch", "head")
    assert any(r.code == "H01" for r in d.reasons)


def test_what_is_an_error_is_refused_not_decided() -> None:
    model = FixedModel(0.01)
    with pytest.raises(Invalid, match="outside"):
        decide(application(amount=1), farmer(), model, POLICY, Standing(), LPR)
    with pytest.raises(Invalid, match="term"):
        decide(application(term_months=7), farmer(), model, POLICY, Standing(), LPR)
    firm = replace(application(), kind="enterprise")
    with pytest.raises(Invalid, match="lends to a person"):
        decide(firm, farmer(), model, POLICY, Standing(), LPR)


def test_the_same_inputs_decide_the_same() -> None:
    model = FixedModel(0.02)
    one = decide(application(), farmer(), model, POLICY, Standing(), LPR)
    two = decide(application(), farmer(), model, POLICY, Standing(), LPR)
    assert one == two
