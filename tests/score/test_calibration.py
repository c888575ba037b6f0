"""Calibration to a 12-month PD on German credit's out-of-fold scorecard probabilities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from purecredit.core.errors import Invalid
from purecredit.score.calibration import Calibrator, logit
from purecredit.score.fit import folds


@pytest.fixture(scope="module")
def fitted(german_oof: np.ndarray, german_xy: tuple[pd.DataFrame, np.ndarray]) -> Calibrator:
    return Calibrator().fit(german_oof, german_xy[1])


def test_pd_is_monotone_in_raw_score(fitted: Calibrator, german_oof: np.ndarray) -> None:
    grid = np.concatenate([np.linspace(0.0, 1.0, 10_001), np.sort(german_oof)])
    grid.sort()
    pd_bad = fitted.apply(grid)
    assert np.all(np.diff(pd_bad) >= 0.0)
    assert np.all((pd_bad >= 0.0) & (pd_bad <= 1.0))


def test_mean_pd_matches_bad_rate_on_held_out_folds(
    german_oof: np.ndarray, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    y = german_xy[1]
    held_out = np.zeros(len(y))
    # Folds other than the ones the scorecard's out-of-fold scores came from.
    for train, test in folds(y, 5, 7):
        model = Calibrator().fit(german_oof[train], y[train])
        held_out[test] = model.apply(german_oof[test])
        # One 200-row fold's mean PD moves by about 1.5 points with which rows it drew (the
        # raw scores' fold means move as much), so a single fold gets a looser bound.
        assert abs(held_out[test].mean() - y[test].mean()) <= 0.04
    assert abs(held_out.mean() - y.mean()) <= 0.02
    assert brier_score_loss(y, held_out) < 0.17


def test_chosen_method_has_lower_held_out_loss(
    fitted: Calibrator, german_oof: np.ndarray, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    # Recomputed with scikit-learn's own predict, on the folds the calibrator documents.
    y = german_xy[1]
    held_out = {"isotonic": np.zeros(len(y)), "platt": np.zeros(len(y))}
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in splitter.split(german_oof[:, None], y):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        held_out["isotonic"][test] = iso.fit(german_oof[train], y[train]).predict(german_oof[test])
        platt = LogisticRegression(C=1e6, max_iter=1000)
        platt.fit(logit(german_oof[train])[:, None], y[train])
        held_out["platt"][test] = platt.predict_proba(logit(german_oof[test])[:, None])[:, 1]
    brier = {m: brier_score_loss(y, p) for m, p in held_out.items()}
    assert fitted.cv_brier_ == pytest.approx(brier, abs=1e-6)
    assert fitted.method_ == min(brier, key=lambda m: brier[m])
    assert fitted.method_ in fitted.reason_
    # Calibrating out-of-fold scores does not make them worse than the raw probabilities.
    assert brier[fitted.method_] <= brier_score_loss(y, german_oof) + 1e-3


def test_each_method_applies_like_scikit_learn(
    german_oof: np.ndarray, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    y, grid = german_xy[1], np.linspace(0.0, 1.0, 501)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(german_oof, y)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(logit(german_oof)[:, None], y)
    expected = {
        "isotonic": iso.predict(grid),
        "platt": platt.predict_proba(logit(grid)[:, None])[:, 1],
    }
    params = {
        "isotonic": {
            "thresholds": iso.X_thresholds_.tolist(),
            "values": iso.y_thresholds_.tolist(),
        },
        "platt": {"a": platt.coef_[0].tolist(), "b": platt.intercept_.tolist()},
    }
    for method, want in expected.items():
        stored = {"method": method, "params": params[method], "cv_brier": {}, "cv_log_loss": {}}
        model = Calibrator.from_dict({**stored, "reason": "test"})
        np.testing.assert_allclose(model.apply(grid), want, atol=1e-12)


def test_serial_form_round_trips(fitted: Calibrator, german_oof: np.ndarray) -> None:
    again = Calibrator.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again.method_ == fitted.method_
    np.testing.assert_array_equal(again.apply(german_oof), fitted.apply(german_oof))


def test_refuses_what_is_not_a_probability(fitted: Calibrator) -> None:
    for bad in ([0.2, np.nan], [-0.1], [1.5]):
        with pytest.raises(Invalid):
            fitted.apply(bad)
