from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purecredit.core.errors import Invalid
from purecredit.lend.classify import Category, Exposure, classify_debtor, classify_loan, npl_ratio

C = Category


@pytest.mark.parametrize(
    ("dpd", "category"),
    [
        (0, C.NORMAL),
        (1, C.SPECIAL_MENTION),
        (90, C.SPECIAL_MENTION),
        (91, C.SUBSTANDARD),
        (270, C.SUBSTANDARD),
        (271, C.DOUBTFUL),
        (360, C.DOUBTFUL),
        (361, C.LOSS),
        (5000, C.LOSS),
    ],
)
def test_loan_thresholds(dpd: int, category: Category) -> None:
    assert classify_loan(dpd) is category


def test_names_and_npl() -> None:
    assert [c.zh for c in C] == ["正常", "关注", "次级", "可疑", "损失"]
    assert C.SPECIAL_MENTION.en == "special mention"
    assert [c.npl for c in C] == [False, False, True, True, True]
    with pytest.raises(Invalid):
        classify_loan(-1)


@settings(max_examples=200)
@given(st.integers(0, 2000), st.integers(0, 2000))
def test_classification_never_improves_as_arrears_grow(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert classify_loan(low) <= classify_loan(high)


def debtor(bad: str, good: str, bad_dpd: int = 120) -> list[Exposure]:
    return [Exposure("a", Decimal(bad), bad_dpd), Exposure("b", Decimal(good), 0)]


def test_exactly_ten_percent_non_performing_does_not_spread() -> None:
    result = classify_debtor(debtor("10.00", "90.00"))
    assert result.npl_share == Decimal("0.1")
    assert result.loans == (("a", C.SUBSTANDARD), ("b", C.NORMAL))
    assert result.category is C.SUBSTANDARD  # the debtor takes its worst loan


def test_just_over_ten_percent_makes_every_loan_non_performing() -> None:
    result = classify_debtor(debtor("10.01", "89.99"))
    assert result.loans == (("a", C.SUBSTANDARD), ("b", C.SUBSTANDARD))
    assert "10%" in result.rule


def test_the_ten_percent_rule_lifts_but_never_lowers() -> None:
    result = classify_debtor(debtor("50.00", "50.00", bad_dpd=400))
    assert result.loans == (("a", C.LOSS), ("b", C.SUBSTANDARD))
    assert result.category is C.LOSS


def test_special_mention_is_not_non_performing_for_the_rule() -> None:
    result = classify_debtor(debtor("99.00", "1.00", bad_dpd=90))
    assert result.loans == (("a", C.SPECIAL_MENTION), ("b", C.NORMAL))


exposures = st.lists(
    st.builds(
        Exposure,
        st.uuids().map(str),
        st.integers(0, 10**9).map(lambda n: Decimal(n).scaleb(-2)),
        st.integers(0, 800),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200)
@given(exposures, st.integers(0, 5), st.integers(1, 800))
def test_debtor_class_never_improves_when_one_loan_falls_further_behind(
    loans: list[Exposure], pick: int, extra: int
) -> None:
    k = pick % len(loans)
    worse = list(loans)
    worse[k] = Exposure(loans[k].loan, loans[k].outstanding, loans[k].dpd + extra)
    before, after = classify_debtor(loans), classify_debtor(worse)
    assert after.category >= before.category
    assert after.npl_share >= before.npl_share
    assert all(b <= a for (_, b), (_, a) in zip(before.loans, after.loans, strict=True))
    assert before.category == max(c for _, c in before.loans)


@settings(max_examples=200)
@given(exposures, st.integers(0, 5), st.integers(1, 10**9))
def test_debtor_class_never_improves_as_the_overdue_share_grows(
    loans: list[Exposure], pick: int, more: int
) -> None:
    k = pick % len(loans)
    if not classify_loan(loans[k].dpd).npl:
        return
    bigger = list(loans)
    bigger[k] = Exposure(
        loans[k].loan, loans[k].outstanding + Decimal(more).scaleb(-2), loans[k].dpd
    )
    before, after = classify_debtor(loans), classify_debtor(bigger)
    assert after.npl_share >= before.npl_share
    assert all(b <= a for (_, b), (_, a) in zip(before.loans, after.loans, strict=True))


def test_npl_ratio() -> None:
    book = [(Decimal(80), C.NORMAL), (Decimal(10), C.SPECIAL_MENTION), (Decimal(6), C.SUBSTANDARD)]
    book += [(Decimal(3), C.DOUBTFUL), (Decimal(1), C.LOSS)]
    assert npl_ratio(book) == Decimal("0.1")
    assert npl_ratio([]) == 0
