"""The gradient-boosting challenger: LightGBM, constrained to the scorecard's monotonic
trends so that both models tell a credit officer the same direction for every numeric
characteristic, with text columns as pandas categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from purecredit.score.table import column_kinds, frequent_levels, keep_levels, model_frame


class Challenger(BaseEstimator):  # type: ignore[misc]
    """LightGBM classifier; `y` is 1 for bad. `trends` maps numeric columns to -1, 0 or +1
    (usually `Scorecard.monotone_trends()` of a scorecard fitted on the same rows); a column
    it does not name is unconstrained."""

    def __init__(
        self,
        *,
        trends: Mapping[str, int] | None = None,
        n_estimators: int = 500,
        learning_rate: float = 0.02,
        num_leaves: int = 4,
        min_child_samples: int = 30,
        min_category_count: int = 10,
        seed: int = 0,
    ) -> None:
        self.trends = trends
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.min_category_count = min_category_count
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Sequence[int] | np.ndarray) -> Self:
        """Fix each text column's categories from the training rows, then boost."""
        self.numeric_, self.text_ = column_kinds(X)
        data = model_frame(X, self.numeric_, self.text_)
        # Categories seen fewer than `min_category_count` times are treated as missing: a
        # tree cannot learn from them, and a 500-level column would otherwise overfit.
        self.categories_ = {
            n: frequent_levels(data[n], self.min_category_count) for n in self.text_
        }
        trends = self.trends or {}
        self.monotone_constraints_ = [int(trends.get(n, 0)) for n in self.numeric_] + [0] * len(
            self.text_
        )
        self.estimator_ = lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            monotone_constraints=self.monotone_constraints_,
            monotone_constraints_method="advanced",
            # DESIGN.md, "Choices already measured": two threads were 80x slower here.
            n_jobs=1,
            random_state=self.seed,
            verbose=-1,
        )
        self.estimator_.fit(self._categorical(data), np.asarray(y, dtype=int))
        return self

    def _categorical(self, data: pd.DataFrame) -> pd.DataFrame:
        # The same category list at fit and predict time, so a code means one value; values
        # never seen in training become missing.
        for name in self.text_:
            kept = keep_levels(data[name], self.categories_[name], np.nan)
            data[name] = pd.Categorical(kept, categories=self.categories_[name])
        return data

    def prepared(self, X: pd.DataFrame) -> pd.DataFrame:
        """The frame the booster sees: the training columns, text as the fitted categories.
        Reason codes ask the booster about the same frame (`pred_contrib`)."""
        check_is_fitted(self, "estimator_")
        return self._categorical(model_frame(X, self.numeric_, self.text_))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns (good, bad), scikit-learn's order for classes (0, 1)."""
        return np.asarray(self.estimator_.predict_proba(self.prepared(X)), dtype="float64")
