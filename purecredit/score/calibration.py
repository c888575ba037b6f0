"""Calibration of a model's probability of bad to a 12-month PD: isotonic regression or Platt
scaling, whichever predicts held-out rows better.

Both methods are fitted on the same cross-fitted folds of the calibration rows, and the one with
the lower out-of-fold Brier score is kept (log loss breaks a tie; Platt wins a full tie, being
smoother and needing two numbers). Then the chosen method is refitted on every calibration row.
The rows must not be the ones the model was trained on: pass out-of-fold or hold-out
probabilities, or the calibration inherits the model's overfit.

The fitted form is plain arrays (`to_dict`/`from_dict`), and `apply` needs only numpy, so the
compiled scorer can carry it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from purecredit.core.errors import Invalid

METHODS = ("isotonic", "platt")

# Probabilities are kept this far from 0 and 1 before taking a logit or a log loss, so a
# model that says exactly 0 or 1 cannot produce an infinite value.
EPS = 1e-9


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of `p`, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype="float64"), EPS, 1.0 - EPS)
    return np.asarray(np.log(q / (1.0 - q)), dtype="float64")


def _fit_isotonic(raw: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(raw, y)
    return {
        "thresholds": np.asarray(model.X_thresholds_, dtype="float64"),
        "values": np.asarray(model.y_thresholds_, dtype="float64"),
    }


def _fit_platt(raw: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    # A large C: Platt scaling is a two-parameter fit, it needs no shrinkage.
    model = LogisticRegression(C=1e6, max_iter=1000).fit(logit(raw)[:, None], y)
    return {"a": np.array([model.coef_[0, 0]]), "b": np.array([model.intercept_[0]])}


def _apply(method: str, params: Mapping[str, np.ndarray], raw: np.ndarray) -> np.ndarray:
    if method == "isotonic":
        # np.interp holds the end values outside the thresholds: out_of_bounds="clip".
        return np.asarray(np.interp(raw, params["thresholds"], params["values"]), dtype="float64")
    z = float(params["a"][0]) * logit(raw) + float(params["b"][0])
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype="float64")


_FIT = {"isotonic": _fit_isotonic, "platt": _fit_platt}


class Calibrator(BaseEstimator):  # type: ignore[misc]
    """Maps a model's probability of bad (`raw`, in [0, 1]) to a 12-month PD; `y` is 1 for
    bad. After `fit`: `method_` ("isotonic" or "platt"), `cv_brier_` and `cv_log_loss_` (each
    method's out-of-fold figures) and `reason_`, a sentence saying why."""

    def __init__(self, *, n_folds: int = 5, seed: int = 0) -> None:
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, raw: Sequence[float] | np.ndarray, y: Sequence[int] | np.ndarray) -> Self:
        """Cross-fit both methods, keep the better on held-out rows, refit it on all rows."""
        scores, target = _checked(raw), np.asarray(y, dtype=int)
        if len(scores) != len(target):
            raise Invalid("raw scores and targets differ in length")
        if min(int(target.sum()), int(len(target) - target.sum())) < self.n_folds:
            raise Invalid(f"need at least {self.n_folds} bad and {self.n_folds} good rows")
        held_out = self.cross_fit(scores, target)
        self.cv_brier_ = {m: float(brier_score_loss(target, p)) for m, p in held_out.items()}
        self.cv_log_loss_ = {
            m: float(log_loss(target, np.clip(p, EPS, 1.0 - EPS))) for m, p in held_out.items()
        }
        self.method_ = min(
            METHODS, key=lambda m: (self.cv_brier_[m], self.cv_log_loss_[m], m != "platt")
        )
        other = "platt" if self.method_ == "isotonic" else "isotonic"
        self.reason_ = (
            f"{self.method_}: out-of-fold Brier {self.cv_brier_[self.method_]:.5f} against "
            f"{other} {self.cv_brier_[other]:.5f} ({self.n_folds} folds, {len(target)} rows)"
        )
        self.params_ = _FIT[self.method_](scores, target)
        return self

    def cross_fit(self, raw: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Each method's out-of-fold PD for every row, on the folds `fit` uses."""
        splitter = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.seed)
        out = {m: np.zeros(len(y)) for m in METHODS}
        for train, test in splitter.split(raw[:, None], y):
            for method in METHODS:
                params = _FIT[method](raw[train], y[train])
                out[method][test] = _apply(method, params, raw[test])
        return out

    def apply(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        """12-month PD for each raw probability; vectorised, numpy only."""
        check_is_fitted(self, "params_")
        return _apply(self.method_, self.params_, _checked(raw))

    def predict_proba(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        """Columns (good, bad), scikit-learn's order."""
        pd_bad = self.apply(raw)
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form: the method, its arrays as lists, and why it was chosen."""
        check_is_fitted(self, "params_")
        return {
            "method": self.method_,
            "params": {k: v.tolist() for k, v in self.params_.items()},
            "cv_brier": dict(self.cv_brier_),
            "cv_log_loss": dict(self.cv_log_loss_),
            "reason": self.reason_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """The calibrator `to_dict` described, ready to `apply`."""
        method = str(data["method"])
        if method not in METHODS:
            raise Invalid(f"unknown calibration method {method!r}", field="method")
        out = cls()
        out.method_ = method
        out.params_ = {k: np.asarray(v, dtype="float64") for k, v in data["params"].items()}
        out.cv_brier_ = dict(data["cv_brier"])
        out.cv_log_loss_ = dict(data["cv_log_loss"])
        out.reason_ = str(data["reason"])
        return out


def _checked(raw: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(raw, dtype="float64").ravel()
    if np.isnan(values).any():
        raise Invalid("raw scores contain NaN")
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise Invalid("raw scores must be probabilities in [0, 1]")
    return values
