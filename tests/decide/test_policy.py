"""The policy as data: the packaged policies load, name only real profile features, and a
policy that does not validate is refused with the file and line of the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest

from purecredit.core.errors import Invalid, NotFound
from purecredit.decide.policy import (
    GRADES,
    Policy,
    features_used,
    load_policy,
    packaged_policies,
    policy_from_text,
)
from purecredit.profile.features import columns

DEFAULT = Path(__file__).parents[2] / "purecredit" / "decide" / "policies" / "default.yaml"


@pytest.fixture(scope="module")
def text() -> str:
    return DEFAULT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def line_of(text: str, needle: str, start: str | None = None) -> int:
    """1-based line of the first line containing `needle` (after the line containing `start`)."""
    lines = text.splitlines()
    begin = 0
    if start is not None:
        begin = next(i for i, line in enumerate(lines) if start in line)
    return next(i for i in range(begin, len(lines)) if needle in lines[i]) + 1


def replace_after(text: str, start: str, old: str, new: str) -> str:
    at = text.index(start)
    return text[:at] + text[at:].replace(old, new, 1)


def refused(text: str) -> str:
    with pytest.raises(Invalid) as info:
        policy_from_text(text, "default.yaml")
    return info.value.detail


def test_packaged_policies_load(policy: Policy) -> None:
    assert {"default", "challenger"} <= set(packaged_policies())
    assert policy.version == "2026.1"
    assert [p.code for p in policy.products] == ["household", "enterprise", "supply-chain"]
    assert [p.name for p in policy.products] == ["金农易贷", "金农企e贷", "金农信e链"]
    assert policy.product("household").amount_max == 300_000
    assert policy.product("enterprise").amount_max == 3_000_000
    assert policy.product("supply-chain").amount_max == 1_000_000
    challenger = load_policy("challenger")
    assert challenger.version != policy.version
    assert challenger.content_hash != policy.content_hash
    assert policy.split.challenger == "challenger"
    assert 0 < policy.split.challenger_share < 1
    assert load_policy(DEFAULT) == policy


def test_rates_stand_below_the_judicial_cap(policy: Policy) -> None:
    for p in policy.products:
        assert 0.03 <= p.rate_floor <= p.rate_cap < 4 * 0.03


def test_content_hash_is_stable_and_content_sensitive(policy: Policy, text: str) -> None:
    again = policy_from_text(text + "\n# a comment changes nothing\n", "copy.yaml")
    assert again.content_hash == policy.content_hash
    assert len(policy.content_hash) == 64
    changed = policy_from_text(text.replace('version: "2026.1"', 'version: "2026.9"'), "x.yaml")
    assert changed.content_hash != policy.content_hash


@pytest.mark.parametrize("name", ["default", "challenger"])
def test_every_feature_is_a_profile_column_of_its_products_kind(name: str) -> None:
    policy = load_policy(name)
    kinds = {p.code: p.subject for p in policy.products}
    cols = {kind: dict(columns(kind)) for kind in ("person", "enterprise")}
    for rule in policy.rules:
        for product in rule.products or tuple(kinds):
            assert rule.feature in cols[kinds[product]], (rule.code, product)
    for product in kinds:
        for feature in features_used(policy, product):
            assert feature in cols[kinds[product]], (product, feature)


def test_rules_cover_the_required_screens(policy: Policy) -> None:
    by_feature = {(r.feature, r.action) for r in policy.rules}
    for needed in [
        ("bureau_application_orgs_90d", "refer"),
        ("bureau_application_orgs_90d", "decline"),
        ("dishonest_listed", "decline"),
        ("court_open_cases", "refer"),
        ("bureau_overdue_accounts", "decline"),
        ("age_years", "decline"),
        ("firm_is_live", "decline"),
        ("legal_rep_dishonest_listed", "decline"),
    ]:
        assert needed in by_feature


def test_grade_multipliers_cover_every_grantable_grade(policy: Policy) -> None:
    for p in policy.products:
        worst = int(policy.cutoffs(p.code).refer_max_grade)
        assert set(GRADES[:worst]) <= set(policy.limit_formula(p.code).grade_multipliers)


def test_unknown_product_lookup(policy: Policy) -> None:
    with pytest.raises(NotFound):
        policy.product("mortgage")
    with pytest.raises(NotFound):
        policy.limit_formula("mortgage")
    with pytest.raises(NotFound):
        load_policy("no-such-policy")


# ------------------------------------------------------------------ refusals, with line numbers


def test_wrong_op_names_the_line(text: str) -> None:
    bad = replace_after(text, "code: A06", 'op: ">"', 'op: "=>"')
    detail = refused(bad)
    line = line_of(bad, 'op: "=>"')
    assert detail.startswith(f"default.yaml line {line}: rules[5].op:")
    assert "Input should be" in detail


def test_amount_min_above_max_names_the_line(text: str) -> None:
    bad = replace_after(text, "code: enterprise", "amount_min: 50000", "amount_min: 5000000")
    detail = refused(bad)
    line = line_of(bad, "amount_max:", start="code: enterprise")
    assert detail.startswith(f"default.yaml line {line}: products[1].amount_max:")
    assert "amount_min 5000000 is above amount_max 3000000" in detail


def test_rate_floor_above_cap_is_refused(text: str) -> None:
    bad = replace_after(text, "code: household", "rate_floor: 0.0300", "rate_floor: 0.0950")
    detail = refused(bad)
    line = line_of(bad, "rate_cap:", start="code: household")
    assert detail.startswith(f"default.yaml line {line}: products[0].rate_cap:")


def test_duplicate_key_names_the_line(text: str) -> None:
    bad = replace_after(
        text,
        "code: household",
        "    kind: revolving line\n",
        "    kind: revolving line\n    kind: term loan\n",
    )
    detail = refused(bad)
    line = line_of(bad, "kind: term loan")
    assert detail.startswith(f"default.yaml line {line}: duplicate key 'kind'")


def test_unknown_product_in_a_rule_names_the_line(text: str) -> None:
    bad = replace_after(text, "code: A03", "products: [household]", "products: [household, car]")
    detail = refused(bad)
    assert detail.startswith(f"default.yaml line {line_of(bad, '[household, car]')}: rules[2]")


def test_rule_for_a_product_the_policy_does_not_define(text: str) -> None:
    # a policy with the household product only: rules naming enterprise products are refused
    start = text.index("  - code: enterprise")
    end = text.index("\n# Admission rules")
    only_household = text[:start] + text[end:]
    detail = refused(only_household)
    line = line_of(only_household, "products: [enterprise, supply-chain]")
    assert detail.startswith(f"default.yaml line {line}: rules[11].products[0]:")
    assert "unknown product 'enterprise'" in detail


def test_unknown_feature_is_refused(text: str) -> None:
    bad = replace_after(
        text, "code: A07", "feature: bureau_overdue_accounts", "feature: bureau_overdue_acounts"
    )
    detail = refused(bad)
    line = line_of(bad, "bureau_overdue_acounts")
    assert detail.startswith(f"default.yaml line {line}: rules[6].feature:")
    assert "not a person profile column" in detail


def test_person_feature_on_an_enterprise_product_is_refused(text: str) -> None:
    bad = replace_after(
        text, "code: B03", "feature: on_dishonest_list", "feature: dishonest_listed"
    )
    assert "not a enterprise profile column" in refused(bad)


def test_value_must_fit_op_and_feature(text: str) -> None:
    in_scalar = replace_after(text, "code: B05", "value: [D]", "value: D")
    assert "rules[15].value: Value error, op 'in' needs a non-empty list" in refused(in_scalar)
    text_cmp = replace_after(text, "code: B06", 'op: "=="', 'op: ">"')
    assert "needs a number" in refused(text_cmp)
    wrong_type = replace_after(text, "code: A05", "value: true", 'value: "yes"')
    assert "does not fit dishonest_listed (bool)" in refused(wrong_type)
    missing_value = replace_after(text, "code: A09", "    value: 18\n", "")
    assert "op '<' needs a value" in refused(missing_value)


def test_duplicate_rule_code_is_refused(text: str) -> None:
    bad = replace_after(text, "code: A02", "code: A02", "code: A01")
    detail = refused(bad)
    second = [i + 1 for i, line in enumerate(bad.splitlines()) if "code: A01" in line][1]
    assert detail.startswith(f"default.yaml line {second}: ")
    assert "rules[1].code: rule code 'A01' is used twice" in detail


def test_grade_cutoffs_are_checked(text: str) -> None:
    out_of_scale = text.replace(
        "household: {approve_max_grade: 7, refer_max_grade: 8}",
        "household: {approve_max_grade: 7, refer_max_grade: 13}",
    )
    detail = refused(out_of_scale)
    assert "grade_cutoffs.household.refer_max_grade" in detail
    assert "1..12" in detail
    inverted = text.replace(
        "household: {approve_max_grade: 7, refer_max_grade: 8}",
        "household: {approve_max_grade: 8, refer_max_grade: 7}",
    )
    detail = refused(inverted)
    line = line_of(inverted, "household: {approve_max_grade: 8")
    assert detail.startswith(f"default.yaml line {line}: grade_cutoffs.household.refer_max_grade")


def test_every_product_needs_each_section(text: str) -> None:
    start = text.index("  supply-chain:\n    funding_cost")
    end = text.index("\n# Per product and branch level")
    detail = refused(text[:start] + text[end:])
    assert "pricing: no entry for product 'supply-chain'" in detail


def test_authority_must_grow_upwards(text: str) -> None:
    bad = replace_after(
        text,
        "authority:\n  household",
        "manual_max_amount: 300000, manual_max_grade: 9",
        "manual_max_amount: 200000, manual_max_grade: 9",
    )
    detail = refused(bad)
    assert "authority.household.head.manual_max_amount: head may approve less" in detail


def test_unknown_key_and_yaml_syntax(text: str) -> None:
    extra = text.replace('  salt: "2026.1"\n', '  salt: "2026.1"\n  colour: blue\n')
    detail = refused(extra)
    assert detail.startswith(f"default.yaml line {line_of(extra, 'colour: blue')}: split.colour:")
    broken = text.replace("rate_cap: 0.0800", "rate_cap: [0.08")
    assert "not valid YAML" in refused(broken)
    with pytest.raises(Invalid):
        policy_from_text("", "empty.yaml")
    with pytest.raises(Invalid):
        policy_from_text("- a list\n", "list.yaml")


def test_load_policy_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("lgd: 0.60", "lgd: 1.60"), encoding="utf-8")
    with pytest.raises(Invalid, match=r"^mine\.yaml line \d+: pricing\.household\.lgd"):
        load_policy(path)
    with pytest.raises(Invalid):
        load_policy(tmp_path / "absent.yaml")
