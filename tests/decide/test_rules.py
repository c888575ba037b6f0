"""Admission rules fire exactly as their op says, on the boundary, and never on missing data
(only `missing` does)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from purecredit.core.errors import Invalid
from purecredit.decide.policy import Rule, load_policy
from purecredit.decide.rules import evaluate, holds, outcome


def rule(op: str, value: object = None, feature: str = "x", **extra: object) -> Rule:
    return Rule.model_validate(
        {
            "code": "T01",
            "zh": "测试",
            "en": "test",
            "feature": feature,
            "op": op,
            "value": value,
            "action": "refer",
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("op", "value", "seen", "fires"),
    [
        (">", 4, 4, False),
        (">", 4, 5, True),
        (">", 4, 4.0001, True),
        (">=", 4, 4, True),
        (">=", 4, 3.999, False),
        ("<", 18, 18, False),
        ("<", 18, 17, True),
        ("<=", 18, 18, True),
        ("<=", 18, 19, False),
        ("==", 0, 0, True),
        ("==", 0, 0.0, True),
        ("==", 0, 1, False),
        ("!=", 0, 0, False),
        ("!=", 0, 2, True),
        ("==", True, True, True),
        ("==", True, False, False),
        ("==", False, False, True),
        ("==", True, 1, False),  # a bool rule never matches a number
        ("==", 1, True, False),
        ("==", "A", "A", True),
        ("==", "A", "a", False),
        ("in", ["C", "D"], "D", True),
        ("in", ["C", "D"], "B", False),
        ("not_in", ["C", "D"], "B", True),
        ("not_in", ["C", "D"], "C", False),
        ("present", None, 0, True),
        ("present", None, False, True),
        ("missing", None, 0, False),
        ("missing", None, "", False),
    ],
)
def test_ops_at_the_boundary(op: str, value: object, seen: object, fires: bool) -> None:
    assert holds(rule(op, value), {"x": seen}) is fires


@pytest.mark.parametrize("absent", [None, math.nan, float("nan"), "ABSENT"])
@pytest.mark.parametrize(
    ("op", "value"),
    [
        (">", 0),
        (">=", 0),
        ("<", 100),
        ("<=", 100),
        ("==", True),
        ("==", False),
        ("!=", 5),
        ("!=", True),
        ("in", [1, 2]),
        ("not_in", [1, 2]),
        ("not_in", ["A"]),
    ],
)
def test_missing_never_fires_a_comparison(op: str, value: object, absent: object) -> None:
    features: dict[str, object] = {} if absent == "ABSENT" else {"x": absent}
    assert holds(rule(op, value), features) is False
    assert holds(rule("missing"), features) is True
    assert holds(rule("present"), features) is False


def test_numpy_scalars_count_as_their_values() -> None:
    assert holds(rule(">", 4), {"x": np.int64(5)})
    assert not holds(rule(">", 4), {"x": np.int64(4)})
    assert holds(rule("==", True), {"x": np.bool_(True)})
    assert holds(rule("missing"), {"x": np.float64("nan")})


def test_a_wrongly_typed_profile_value_is_an_error_not_a_pass() -> None:
    with pytest.raises(Invalid, match="rule T01"):
        evaluate([rule(">", 4)], "household", {"x": "five"})


def test_evaluate_filters_by_product_and_reports_what_it_saw() -> None:
    rules = [
        rule(">", 4, code="A01", products=["household"]),
        rule(">", 4, code="B01", products=["enterprise"]),
        rule(">", 2, code="X01"),  # every product
    ]
    fired = evaluate(rules, "household", {"x": 5})
    assert [f.code for f in fired] == ["A01", "X01"]
    assert fired[0].value == 5 and fired[0].feature == "x" and fired[0].threshold == 4
    assert fired[0].to_dict()["en"] == "test"
    assert [f.code for f in evaluate(rules, "enterprise", {"x": 3})] == ["X01"]
    assert evaluate(rules, "supply-chain", {"x": None}) == []


def test_outcome_takes_the_strongest_action() -> None:
    refer = rule(">", 0, code="R01")
    decline = rule(">", 1, code="D01", action="decline")
    assert outcome(evaluate([refer, decline], "household", {"x": 1})) == "refer"
    assert outcome(evaluate([refer, decline], "household", {"x": 2})) == "decline"
    assert outcome([]) is None


def test_the_default_policy_on_profiles() -> None:
    policy = load_policy()
    clean = {
        "age_years": 40,
        "bureau_application_orgs_90d": 2,
        "bureau_application_orgs_30d": 1,
        "dishonest_listed": False,
        "court_open_cases": 0,
        "bureau_overdue_accounts": 0,
    }
    assert evaluate(policy.rules, "household", clean) == []
    # four institutions is at the threshold ("more than 4"), five refers, nine declines
    assert evaluate(policy.rules, "household", {**clean, "bureau_application_orgs_90d": 4}) == []
    five = evaluate(policy.rules, "household", {**clean, "bureau_application_orgs_90d": 5})
    assert [(f.code, f.action) for f in five] == [("A01", "refer")]
    nine = evaluate(policy.rules, "household", {**clean, "bureau_application_orgs_90d": 9})
    assert [f.code for f in nine] == ["A01", "A02"] and outcome(nine) == "decline"
    listed = evaluate(policy.rules, "household", {**clean, "dishonest_listed": True})
    assert [f.code for f in listed] == ["A05"] and "失信" in listed[0].zh
    assert [f.code for f in evaluate(policy.rules, "household", {**clean, "age_years": 66})] == [
        "A10"
    ]
    assert evaluate(policy.rules, "household", {**clean, "age_years": 65}) == []
    assert evaluate(policy.rules, "household", {**clean, "age_years": 18}) == []
    assert [f.code for f in evaluate(policy.rules, "household", {**clean, "age_years": 17})] == [
        "A09"
    ]
    # no register entry: age unknown is referred, not declined by the age comparisons
    assert [f.code for f in evaluate(policy.rules, "household", {**clean, "age_years": None})] == [
        "A11"
    ]
    firm = {
        "firm_is_live": True,
        "on_dishonest_list": False,
        "tax_grade": "B",
        "legal_rep_dishonest_listed": False,
        "top_buyer_uscc": "91341600MA2TEST001",
        "top_buyer_share_12m": 0.6,
    }
    assert evaluate(policy.rules, "enterprise", firm) == []
    assert evaluate(policy.rules, "supply-chain", firm) == []
    closed = evaluate(policy.rules, "enterprise", {**firm, "firm_is_live": False})
    assert [(f.code, f.action) for f in closed] == [("B01", "decline")]
    unknown = evaluate(policy.rules, "enterprise", {**firm, "firm_is_live": None})
    assert [f.code for f in unknown] == ["B02"]
    rep = evaluate(policy.rules, "enterprise", {**firm, "legal_rep_dishonest_listed": True})
    assert [(f.code, f.action) for f in rep] == [("B08", "decline")]
    assert [f.code for f in evaluate(policy.rules, "enterprise", {**firm, "tax_grade": "D"})] == [
        "B05"
    ]
    no_trade = evaluate(policy.rules, "supply-chain", {**firm, "top_buyer_uscc": None})
    assert [f.code for f in no_trade] == ["C01"]
    # rules of one kind never fire on the other's profile
    assert evaluate(policy.rules, "household", {"firm_is_live": None, "age_years": 30}) == []
