"""Reason codes on German credit: points lost against the best bin, recomputed from the binning
tables, and LightGBM's own contributions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from purecredit.profile.features import columns
from purecredit.score.challenger import Challenger
from purecredit.score.reasons import (
    FALLBACK,
    FEATURE_CODES,
    REASON_TEXTS,
    best_points,
    characteristic_points,
    describe,
    lightgbm_contributions,
    lightgbm_reasons,
    scorecard_reasons,
    top_reasons,
)
from purecredit.score.scorecard import Scorecard
from purecredit.score.table import OTHER, keep_levels, model_frame


@pytest.fixture(scope="module")
def scorecard(german_xy: tuple[pd.DataFrame, np.ndarray]) -> Scorecard:
    return Scorecard().fit(*german_xy)


def independent_losses(model: Scorecard, X: pd.DataFrame) -> np.ndarray:
    """Points lost per characteristic, from each binning table row the applicant's bin index
    points at (optbinning's `metric="indices"`), not from the WOE transform."""
    data = model_frame(X, model.numeric_, model.text_)
    factor = model.pdo / math.log(2.0)
    lost = []
    for name, coef in zip(model.selected_, model.estimator_.coef_[0], strict=True):
        values = data[name]
        if name in model.text_:
            values = keep_levels(values, model.levels_[name], OTHER)
        binned = model.binning_.get_binned_variable(name)
        table = binned.binning_table.build().drop(index="Totals")
        points = -factor * coef * table["WoE"].to_numpy(dtype="float64")
        best = points[table["Count"].to_numpy() > 0].max()
        index = binned.transform(values.to_numpy(), metric="indices")
        lost.append(best - points[index])
    return np.column_stack(lost)


def test_points_add_up_to_the_score(
    scorecard: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = german_xy[0]
    factor = scorecard.pdo / math.log(2.0)
    offset = scorecard.base_points - factor * math.log(scorecard.base_odds)
    constant = offset - factor * scorecard.estimator_.intercept_[0]
    total = characteristic_points(scorecard, X).sum(axis=1) + constant
    np.testing.assert_allclose(total, scorecard.score(X), atol=1e-9)


def test_top_reason_is_the_largest_loss(
    scorecard: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = german_xy[0]
    lost = independent_losses(scorecard, X)
    np.testing.assert_allclose(
        best_points(scorecard) - characteristic_points(scorecard, X), lost, atol=1e-9
    )
    reasons = scorecard_reasons(scorecard, X, top=4)
    for row, found in zip(lost, reasons, strict=True):
        assert found, "every German credit applicant misses some best bin"
        assert found[0].impact == pytest.approx(row.max(), abs=1e-9)
        assert row[scorecard.selected_.index(found[0].feature)] == pytest.approx(row.max())
        assert [r.impact for r in found] == sorted((r.impact for r in found), reverse=True)
        assert len({r.code for r in found}) == len(found) <= 4


def test_applicant_in_every_best_bin_has_no_reason(
    scorecard: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = german_xy[0]
    lost = independent_losses(scorecard, X)
    best_row = X.iloc[[0]].copy()
    for j, name in enumerate(scorecard.selected_):
        donor = int(np.flatnonzero(np.isclose(lost[:, j], 0.0, atol=1e-9))[0])
        best_row[name] = X[name].iloc[donor]
    assert scorecard_reasons(scorecard, best_row) == [[]]
    assert np.all(independent_losses(scorecard, best_row) <= 1e-9)
    # Every best bin at once is the highest score the scorecard can give.
    assert scorecard.score(best_row)[0] >= scorecard.score(X).max() - 1e-9


def test_lightgbm_contributions_sum_to_the_margin(
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = german_xy
    model = Challenger(seed=0).fit(X, y)
    features, contrib, bias = lightgbm_contributions(model, X)
    assert features == [*model.numeric_, *model.text_]
    margin = contrib.sum(axis=1) + bias
    p_bad = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(margin, np.log(p_bad / (1.0 - p_bad)), atol=1e-9)
    for row, found in zip(contrib, lightgbm_reasons(model, X), strict=True):
        if row.max() > 0:
            assert found[0].impact == pytest.approx(row.max())
        assert all(r.impact > 0 for r in found)


def test_ties_break_by_name_and_codes_appear_once() -> None:
    impact = np.array([[1.0, 1.0, 2.0, 0.5, -1.0]])
    names = ["zeta", "alpha", "bureau_query_orgs_30d", "bureau_query_orgs_90d", "housing"]
    (found,) = top_reasons(names, impact, top=5)
    assert [r.feature for r in found] == ["bureau_query_orgs_30d", "alpha", "zeta"]
    assert found[1].code == FALLBACK and "alpha" in found[1].zh and "alpha" in found[1].en


def test_code_table_covers_key_profile_features() -> None:
    profile = {name for kind in ("person", "enterprise") for name, _ in columns(kind)}
    mapped = [name for name in FEATURE_CODES if name in profile]
    assert len(mapped) >= 15, mapped
    assert set(FEATURE_CODES.values()) <= set(REASON_TEXTS)
    code, text = describe("bureau_overdue_accounts_24m")
    assert text.zh == "近24个月征信逾期账户"
    assert text.en == "overdue accounts in the credit report, last 24 months"
    assert describe("a_county_feature", {**FEATURE_CODES, "a_county_feature": code})[0] == code


def test_every_characteristic_a_county_model_may_use_has_its_own_code() -> None:
    from purecredit.ingest.catalog import load_catalog
    from purecredit.score.sample import characteristics

    catalog = load_catalog()
    firm = [n for n in characteristics("enterprise", catalog) if not n.startswith("legal_rep_")]
    own = set(characteristics("person", catalog)) | set(firm)  # the rep's are person features
    assert {n for n in own if FEATURE_CODES.get(n, FALLBACK) == FALLBACK} == set()
    for code in set(FEATURE_CODES.values()):
        text = REASON_TEXTS[code]
        assert text.zh and text.en and "{" not in text.zh + text.en


def test_compiled_models_give_the_fitted_models_reasons(
    scorecard: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    from purecredit.score.compiled import CompiledChallenger, CompiledScorecard

    X, y = german_xy
    columns = {c: X[c].to_numpy() for c in X.columns}
    compiled = CompiledScorecard.from_json(CompiledScorecard.compile(scorecard).to_json())
    assert compiled.reasons_batch(columns) == scorecard_reasons(scorecard, X)
    challenger = Challenger(trends=scorecard.monotone_trends()).fit(X, y)
    tree = CompiledChallenger.from_dict(CompiledChallenger.compile(challenger).to_dict())
    got, expected = tree.reasons_batch(columns), lightgbm_reasons(challenger, X)
    assert [[r.code for r in row] for row in got] == [[r.code for r in row] for row in expected]
    flat = np.array([r.impact for row in got for r in row])
    want = np.array([r.impact for row in expected for r in row])
    assert np.allclose(flat, want, atol=1e-9)
