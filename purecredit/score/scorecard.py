"""A points scorecard on any table: optbinning's `BinningProcess` for the bins, a logistic
regression on their WOE, and points scaled by PDO and base odds.

Binning is optbinning's, not ours: a shape chosen per numeric column by optbinning's trend
classifier (`auto`: ascending, descending, peak or valley; on German credit it is 0.008 AUC
better than forcing `auto_asc_desc`, which a caller may still ask for), explicit bins for
missing and special values, a minimum bin size, rare categories grouped (`cat_cutoff`) so
that columns with hundreds of levels bin like any other, and selection of the columns whose
information value reaches `min_iv`.

Selection then goes on, and says why each column is in or out (`selection_`):
- **stability**: given each row's observation period, a column whose distribution over its
  own bins moves by a PSI above 0.25 between the earlier and the later half of the periods
  is left out: what drifts in development drifts in use;
- **correlation**: columns are taken by IV, highest first, and one whose WOE correlates above
  `max_correlation` with a column already taken is left out, so the regression's weights stay
  readable (two copies of one signal split its points arbitrarily).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from optbinning import BinningProcess
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from purecredit.core.errors import Invalid
from purecredit.core.settings import Settings
from purecredit.score.stability import PSI_RED, characteristic_psi
from purecredit.score.table import OTHER, column_kinds, frequent_levels, keep_levels, model_frame

# Points scaling, the market convention and the defaults of `Settings.score_*`: 600 points at
# good:bad odds of 50:1, and every 20 points double the odds.
PDO = 20.0
BASE_POINTS = 600.0
BASE_ODDS = 50.0


@dataclass(frozen=True)
class PointsScaling:
    """How log-odds become points: `base_points` at good:bad odds `base_odds`, `pdo` more
    points for each doubling of the odds (`Settings.score_*`)."""

    pdo: float = PDO
    base_points: float = BASE_POINTS
    base_odds: float = BASE_ODDS

    @classmethod
    def from_settings(cls, settings: Settings) -> PointsScaling:
        return cls(settings.score_pdo, settings.score_base_points, settings.score_base_odds)

    def scorecard(self, **params: Any) -> Scorecard:
        """A scorecard with this scaling (and any other parameters)."""
        return Scorecard(
            pdo=self.pdo, base_points=self.base_points, base_odds=self.base_odds, **params
        )


MARKET_SCALING = PointsScaling()


# Columns below an information value of 0.02 are "not predictive" by the usual credit rule of
# thumb (Siddiqi, Credit Risk Scorecards, ch. 6); the scorecard leaves them out.
MIN_IV = 0.02

# Above this absolute correlation of WOE two characteristics tell one story (the 0.7-0.8
# usually used in scorecard development, Siddiqi ch. 6); the weaker by IV is left out.
MAX_CORRELATION = 0.8


class Scorecard(BaseEstimator):  # type: ignore[misc]
    """Binary scorecard; `y` is 1 for bad. `score` gives points (higher is safer), like
    optbinning's own `Scorecard.score`, not scikit-learn's accuracy."""

    def __init__(
        self,
        *,
        pdo: float = PDO,
        base_points: float = BASE_POINTS,
        base_odds: float = BASE_ODDS,
        min_iv: float = MIN_IV,
        monotonic_trend: str = "auto",
        min_prebin_size: float = 0.05,
        cat_cutoff: float = 0.01,
        special_codes: Sequence[float] | None = None,
        regularization: float = 1.0,
        max_correlation: float = MAX_CORRELATION,
        max_psi: float = PSI_RED,
    ) -> None:
        self.pdo = pdo
        self.base_points = base_points
        self.base_odds = base_odds
        self.min_iv = min_iv
        self.monotonic_trend = monotonic_trend
        self.min_prebin_size = min_prebin_size
        self.cat_cutoff = cat_cutoff
        self.special_codes = special_codes
        self.regularization = regularization
        self.max_correlation = max_correlation
        self.max_psi = max_psi

    def fit(
        self,
        X: pd.DataFrame,
        y: Sequence[int] | np.ndarray,
        periods: Sequence[object] | np.ndarray | None = None,
    ) -> Self:
        """Bin every column, select by IV, stability (when each row's observation `periods`
        is given) and correlation, and fit the regression on WOE."""
        target = np.asarray(y, dtype=int)
        self.numeric_, self.text_ = column_kinds(X)
        data = model_frame(X, self.numeric_, self.text_)
        # Levels under `cat_cutoff` of the rows share one "(other)" bin, decided here rather
        # than by optbinning's own cat_cutoff, which refuses a column whose levels are all rare.
        self.levels_ = {
            n: frequent_levels(data[n], self.cat_cutoff * len(data)) for n in self.text_
        }
        data = self._grouped(data)
        params: dict[str, dict[str, Any]] = {
            n: {"monotonic_trend": self.monotonic_trend} for n in self.numeric_
        }
        self.binning_ = BinningProcess(
            list(data.columns),
            categorical_variables=self.text_,
            min_prebin_size=self.min_prebin_size,
            selection_criteria={"iv": {"min": self.min_iv}},
            special_codes=list(self.special_codes) if self.special_codes else None,
            binning_fit_params=params,
            n_jobs=1,
        ).fit(data, target)
        self.selected_ = self._select(data, periods)
        if not self.selected_:
            raise Invalid(f"no column reaches an information value of {self.min_iv}")
        self.estimator_ = LogisticRegression(C=self.regularization, max_iter=1000)
        self.estimator_.fit(self._woe(data), target)
        return self

    def _select(
        self, data: pd.DataFrame, periods: Sequence[object] | np.ndarray | None
    ) -> list[str]:
        """The columns the regression uses; `selection_` gets every binned column's reason."""
        summary = self.binning_.summary()
        iv = dict(zip(summary["name"].astype(str), summary["iv"].astype(float), strict=True))
        passed = {str(n) for n in self.binning_.get_support(names=True)}
        self.selection_: dict[str, str] = {
            name: f"IV {value:.3f} below {self.min_iv}"
            for name, value in iv.items()
            if name not in passed
        }
        candidates = sorted(passed, key=lambda name: (-iv[name], name))
        if periods is not None and candidates:
            order = pd.Series(np.asarray(periods)).rank(method="dense").to_numpy()
            late = order > np.median(np.unique(order))
            if late.any() and (~late).any():
                drift = characteristic_psi(
                    self.binning_, candidates, data[~late], data[late]
                ).set_index("name")["psi"]
                for name in [n for n in candidates if drift[n] > self.max_psi]:
                    self.selection_[name] = (
                        f"unstable: PSI {drift[name]:.3f} between earlier and later periods"
                    )
                    candidates.remove(name)
        if not candidates:
            return []
        woe = self.binning_.transform(data, metric_missing="empirical", metric_special="empirical")[
            candidates
        ].to_numpy(dtype="float64")
        corr = np.nan_to_num(np.corrcoef(woe, rowvar=False).reshape(len(candidates), -1))
        kept: list[int] = []
        for j, name in enumerate(candidates):
            twin = next((k for k in kept if abs(corr[j, k]) > self.max_correlation), None)
            if twin is None:
                kept.append(j)
                self.selection_[name] = "selected"
            else:
                self.selection_[name] = (
                    f"correlated with {candidates[twin]} (r = {corr[j, twin]:.2f})"
                )
        return [candidates[j] for j in kept]

    def _grouped(self, data: pd.DataFrame) -> pd.DataFrame:
        for name in self.text_:
            data[name] = keep_levels(data[name], self.levels_[name], OTHER)
        return data

    def _woe(self, data: pd.DataFrame) -> np.ndarray:
        # "empirical": a missing or special value gets its own bin's WOE when training saw
        # one, instead of optbinning's default of 0 (the average risk).
        woe = self.binning_.transform(data, metric_missing="empirical", metric_special="empirical")
        # Column-major whatever pandas gives (pandas 2 and 3 lay frames out differently): the
        # matrix product then adds in one fixed order, which the compiled scorer repeats bit
        # for bit.
        return np.asfortranarray(woe[self.selected_].to_numpy(dtype="float64"))

    def woe(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's WOE per selected characteristic (columns in `selected_` order): what
        the regression sees, and what reason codes split the points by."""
        check_is_fitted(self, "estimator_")
        return self._woe(self._grouped(model_frame(X, self.numeric_, self.text_)))

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: `pdo` points double the odds."""
        return float(self.pdo) / math.log(2.0)

    @property
    def offset(self) -> float:
        """Points at even odds, so that `base_points` fall at odds `base_odds`."""
        return float(self.base_points) - self.factor * math.log(self.base_odds)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of bad."""
        return np.asarray(self.estimator_.decision_function(self.woe(X)), dtype="float64")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns (good, bad), scikit-learn's order for classes (0, 1)."""
        bad = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - bad, bad])

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Points: `base_points` at good:bad odds `base_odds`, `pdo` more for each doubling."""
        # ln(good/bad odds) is minus the log-odds of bad.
        return self.offset - self.factor * self.decision_function(X)

    def monotone_trends(self) -> dict[str, int]:
        """For each numeric column, +1 if its bins' bad rate rises with the value, -1 if it
        falls, 0 if neither (one bin, or flat): the constraints a challenger must respect to
        tell the same story. Read from each column's binning table; missing and special bins
        have no order and are left out."""
        check_is_fitted(self, "binning_")
        trends: dict[str, int] = {}
        for name in self.numeric_:
            binned = self.binning_.get_binned_variable(name)
            table = binned.binning_table.build()
            rates = table["Event rate"].to_numpy(dtype="float64")[: len(binned.splits) + 1]
            steps = np.diff(rates[~np.isnan(rates)])
            if steps.size and np.all(steps >= 0) and np.any(steps > 0):
                trends[name] = 1
            elif steps.size and np.all(steps <= 0) and np.any(steps < 0):
                trends[name] = -1
            else:
                trends[name] = 0
        return trends
