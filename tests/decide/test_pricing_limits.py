"""Limits, prices, approval authority and the champion/challenger split, worked by hand on the
default policy (household: income x 1.5, DSR 0.5 at 0.30 a year per yuan, grade 7 x 0.7 ...)."""

from __future__ import annotations

import pytest

from purecredit.core.errors import Invalid
from purecredit.decide.authority import authority, can_approve
from purecredit.decide.limits import limit
from purecredit.decide.policy import Policy, Split, arm, load_policy
from purecredit.decide.pricing import price


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


# ---------------------------------------------------------------------------- limits


def test_limit_worked_example(policy: Policy) -> None:
    # income: max(5000 x 12, 4000 x 12) = 60,000 from deposits
    # by income 60,000 x 1.5 = 90,000; by DSR 60,000 x 0.5 / 0.30 - 20,000 = 80,000
    # base 80,000 x 0.7 (grade 7) = 56,000
    features = {
        "deposit_avg_inflow_12m": 5000.0,
        "pension_latest_base": 4000.0,
        "total_debt": 20000.0,
    }
    got = limit(policy, "household", features, "7")
    assert got.income == 60_000 and got.income_feature == "deposit_avg_inflow_12m"
    assert got.by_income == pytest.approx(90_000)
    assert got.by_dsr == pytest.approx(80_000)
    assert got.base == pytest.approx(80_000)
    assert got.grade_multiplier == 0.7
    assert got.amount == 56_000 and got.reason is None
    assert got.debt == 20_000 and got.debt_known


def test_limit_rounds_down_to_a_thousand(policy: Policy) -> None:
    # 5,123 x 12 = 61,476; by income 92,214; by DSR 102,460 - 20,000 = 82,460; x 0.5 = 41,230
    got = limit(policy, "household", {"deposit_avg_inflow_12m": 5123.0, "total_debt": 20000.0}, "8")
    assert got.graded == pytest.approx(41_230)
    assert got.rounded == 41_000 and got.amount == 41_000


def test_limit_takes_the_larger_income_and_counts_missing_debt_as_zero(policy: Policy) -> None:
    # pension base 6,000 x 12 = 72,000 beats deposits 3,000 x 12; no debt known
    got = limit(
        policy, "household", {"deposit_avg_inflow_12m": 3000.0, "pension_latest_base": 6000.0}, "1"
    )
    assert got.income == 72_000 and got.income_feature == "pension_latest_base"
    assert not got.debt_known and got.debt == 0
    assert got.amount == 108_000  # min(108,000, 120,000) x 1.0


def test_limit_capped_at_the_product_maximum(policy: Policy) -> None:
    got = limit(policy, "household", {"deposit_avg_inflow_12m": 50_000.0}, "1")
    assert got.rounded == 900_000 and got.cap == 300_000 and got.amount == 300_000


def test_limit_below_the_minimum_is_zero(policy: Policy) -> None:
    # 500 x 12 = 6,000: by income 9,000 < the household minimum of 10,000
    got = limit(policy, "household", {"deposit_avg_inflow_12m": 500.0}, "1")
    assert got.rounded == 9_000 and got.amount == 0 and got.reason == "below_minimum"
    assert got.reason_en and got.reason_zh
    # debt above what the income carries leaves nothing (never a negative limit)
    heavy = limit(policy, "household", {"deposit_avg_inflow_12m": 5000.0, "total_debt": 1e6}, "1")
    assert heavy.base == 0 and heavy.amount == 0 and heavy.reason == "below_minimum"


def test_limit_without_income_is_zero(policy: Policy) -> None:
    got = limit(policy, "household", {"deposit_avg_inflow_12m": None}, "1")
    assert got.amount == 0 and got.reason == "no_income" and got.income_feature is None


def test_supply_chain_limit_on_trade_with_the_core_firm(policy: Policy) -> None:
    # trade 2,000,000 x 0.5 = 1,000,000; x 0.5 = 500,000; DSR 1,000,000 x 0.15 / 0.30
    # - 100,000 = 400,000; x 0.9 (grade 5) = 360,000, in tens of thousands
    features = {
        "sales_12m": 2_000_000.0,
        "top_buyer_share_12m": 0.5,
        "legal_rep_total_debt": 100_000.0,
    }
    got = limit(policy, "supply-chain", features, "5")
    assert got.income == pytest.approx(1_000_000)
    assert got.by_dsr == pytest.approx(400_000)
    assert got.amount == 360_000
    # without a known share of trade there is no base
    assert limit(policy, "supply-chain", {"sales_12m": 2e6}, "5").reason == "no_income"


def test_limit_is_a_plain_dict_for_the_record(policy: Policy) -> None:
    record = limit(policy, "enterprise", {"sales_12m": 1_000_000.0}, "3").to_dict()
    assert record["amount"] == 250_000 and record["income_feature"] == "sales_12m"


# ---------------------------------------------------------------------------- pricing


def test_price_components_add_up(policy: Policy) -> None:
    got = price(policy, "household", 0.02, {}, 0.03)
    parts = (
        got.funding_cost
        + got.expected_loss
        + got.operating_cost
        + got.capital_cost
        + got.margin
        - got.discount_total
    )
    assert got.raw_rate == pytest.approx(parts)
    assert got.expected_loss == pytest.approx(0.02 * 0.60)
    # 0.018 + 0.012 + 0.008 + 0.005 + 0.004
    assert got.rate == 0.0470 and got.clamped is None and got.discounts == ()


def test_discounts_apply_only_when_every_condition_holds(policy: Policy) -> None:
    village = price(policy, "household", 0.02, {"household_in_credit_village": True}, 0.03)
    assert [d.code for d in village.discounts] == ["credit_village"] and village.rate == 0.0450
    half = price(policy, "household", 0.02, {"is_bank_customer": True}, 0.03)
    assert half.discounts == ()
    both = {
        "is_bank_customer": True,
        "pension_latest_base": 5200.0,
        "household_in_credit_village": True,
    }
    assert price(policy, "household", 0.02, both, 0.03).rate == 0.0435
    tax_a = price(policy, "enterprise", 0.01, {"tax_grade": "A"}, 0.03)
    assert [d.code for d in tax_a.discounts] == ["tax_grade_a"]
    assert tax_a.rate == round(0.018 + 0.0055 + 0.006 + 0.006 + 0.005 - 0.003, 4)


def test_price_clamps(policy: Policy) -> None:
    # floor: enterprise at PD 0 with both discounts is 0.031, below its 0.032 floor
    low = price(
        policy, "enterprise", 0.0, {"tax_grade": "A", "legal_rep_is_bank_customer": True}, 0.03
    )
    assert low.raw_rate == pytest.approx(0.031)
    assert low.rate == 0.0320 and low.clamped == "floor"
    # cap: household PD 20% -> 0.035 + 0.12 = 0.155, capped at 0.09
    high = price(policy, "household", 0.20, {}, 0.03)
    assert high.rate == 0.0900 and high.clamped == "cap"
    # 4 x LPR below the product cap: 4 x 0.02 = 0.08
    legal = price(policy, "household", 0.20, {}, 0.02)
    assert legal.rate == 0.0800 and legal.clamped == "legal_cap" and legal.legal_cap == 0.08
    # the legal ceiling wins even over the product floor
    below_floor = price(policy, "enterprise", 0.0, {}, 0.0075)
    assert below_floor.rate == 0.0300 and below_floor.clamped == "legal_cap"


def test_price_rejects_nonsense(policy: Policy) -> None:
    with pytest.raises(Invalid):
        price(policy, "household", 1.5, {}, 0.03)
    with pytest.raises(Invalid):
        price(policy, "household", 0.01, {}, 3.0)


# ---------------------------------------------------------------------------- authority


def test_auto_within_the_branch_level(policy: Policy) -> None:
    got = authority(policy, "household", "outlet", 100_000, "7")
    assert got.auto and got.refer_to is None and got.covered
    assert authority(policy, "household", "sub_branch", 200_000, "7").auto
    assert authority(policy, "household", "outlet", 50_000, 3).auto  # type: ignore[arg-type]


def test_refer_to_the_lowest_level_that_can(policy: Policy) -> None:
    over_auto = authority(policy, "household", "outlet", 100_001, "7")
    assert not over_auto.auto and over_auto.refer_to == "outlet"
    bigger = authority(policy, "household", "outlet", 200_000, "7")
    assert bigger.refer_to == "sub_branch" and "sub_branch" in bigger.reason_en
    worse = authority(policy, "household", "outlet", 50_000, "9")
    assert worse.refer_to == "head"
    # an application made at a sub-branch never goes down to an outlet reviewer
    assert authority(policy, "household", "sub_branch", 250_000, "8").refer_to == "sub_branch"
    assert authority(policy, "enterprise", "outlet", 2_000_000, "5").refer_to == "head"


def test_refuse_beyond_the_head_office(policy: Policy) -> None:
    for amount, grade in [(300_001, "5"), (50_000, "10")]:
        got = authority(policy, "household", "outlet", amount, grade)
        assert not got.auto and got.refer_to is None and not got.covered


def test_reviewer_authority(policy: Policy) -> None:
    assert can_approve(policy, "household", "outlet", 150_000, "8")
    assert not can_approve(policy, "household", "outlet", 150_001, "8")
    assert can_approve(policy, "household", "head", 300_000, "9")
    with pytest.raises(Invalid):
        authority(policy, "household", "province", 1, "1")
    with pytest.raises(Invalid):
        authority(policy, "household", "outlet", 1, "13")


# ---------------------------------------------------------------------------- split


def test_arm_is_deterministic_and_pinned(policy: Policy) -> None:
    assert arm(policy, "APP-000001") == arm(policy, "APP-000001")
    # sha256 (not Python's salted hash) gives the same arm in every process and machine:
    # with salt "2026.1" and share 0.10, these are the challengers among the first 40 ids
    challengers = [k for k in range(40) if arm(policy, f"APP-{k:06d}") == "challenger"]
    assert challengers == [3, 8, 22, 25, 30]


def test_arm_share(policy: Policy) -> None:
    share = policy.split.challenger_share
    n = sum(arm(policy, f"APP-{k:06d}") == "challenger" for k in range(10_000))
    assert abs(n / 10_000 - share) < 0.015
    none = policy.model_copy(update={"split": Split(challenger_share=0.0)})
    assert all(arm(none, f"A{k}") == "champion" for k in range(200))
    every = policy.model_copy(update={"split": Split(challenger_share=1.0, challenger="c")})
    assert all(arm(every, f"A{k}") == "challenger" for k in range(200))
