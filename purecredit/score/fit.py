"""Cross-validation of the scorecard and its challenger on any table, and the choice of a
champion: the model with the higher mean out-of-fold AUC."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from purecredit.core.errors import Invalid
from purecredit.score.challenger import Challenger
from purecredit.score.scorecard import Scorecard

MODELS = ("scorecard", "lightgbm")


@dataclass
class ModelCV:
    """One model's out-of-fold figures, a value per fold."""

    name: str
    rows: int
    fold_auc: list[float] = field(default_factory=list)
    fold_ks: list[float] = field(default_factory=list)
    # Each row's probability of bad from the fold model that did not see it: what a
    # calibration is fitted on.
    oof: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.oof = np.full(self.rows, np.nan)

    @property
    def cv_auc(self) -> float:
        return float(np.mean(self.fold_auc))

    @property
    def cv_ks(self) -> float:
        return float(np.mean(self.fold_ks))


@dataclass(frozen=True)
class CrossValidation:
    """Both models' figures on the same folds; `champion` is the higher mean AUC (the
    scorecard on a tie: it is the one a credit officer can read)."""

    rows: int
    bad: int
    models: dict[str, ModelCV]

    @property
    def champion(self) -> str:
        return max(MODELS, key=lambda name: (self.models[name].cv_auc, name == "scorecard"))

    def as_json(self) -> dict[str, object]:
        """`cv_auc`, `cv_ks` and `champion` at the top (the champion's figures), then each
        model's, so a caller can check the method without knowing our model names."""
        best = self.models[self.champion]
        return {
            "cv_auc": best.cv_auc,
            "cv_ks": best.cv_ks,
            "champion": self.champion,
            "rows": self.rows,
            "bad": self.bad,
            "models": {
                name: {
                    "cv_auc": m.cv_auc,
                    "cv_ks": m.cv_ks,
                    "fold_auc": m.fold_auc,
                    "fold_ks": m.fold_ks,
                }
                for name, m in self.models.items()
            },
        }


def binary_target(column: pd.Series, bad: object = 1) -> np.ndarray:
    """1 where the value is `bad`, 0 for every other value. `bad` may come as text from the
    command line ("1" for a numeric target); rows with no target must be dropped first."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        try:
            return (column.astype("float64") == float(str(bad))).to_numpy(dtype=int)
        except ValueError:
            raise Invalid(
                f"bad value {bad!r} is not a number, the target is", field="bad"
            ) from None
    return (column.astype(str) == str(bad)).to_numpy(dtype=int)


def ks_statistic(y: np.ndarray, p_bad: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bad and good cumulative distributions
    of the score, read off the ROC curve as max(TPR - FPR)."""
    fpr, tpr, _ = roc_curve(y, p_bad)
    return float(np.max(tpr - fpr))


def folds(
    y: np.ndarray, n: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stratified (train, test) indices every model is measured on. With `groups` (a
    subject observed at several dates), all of a group's rows fall in one fold, so no model is
    tested on a borrower it was trained on a quarter earlier."""
    if groups is None:
        splitter = StratifiedKFold(n_splits=n, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    grouped = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    return list(grouped.split(np.zeros(len(y)), y, groups))


def labelled(
    frame: pd.DataFrame, target: str, *, bad: object = 1, id_column: str | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """(characteristics, 1-for-bad target) of the rows that have a target, the target and
    id columns left out: what both cross-validation and a final fit train on."""
    if target not in frame.columns:
        raise Invalid(f"no target column {target!r} in the table", field="target")
    if id_column is not None and id_column not in frame.columns:
        raise Invalid(f"no id column {id_column!r} in the table", field="id")
    rows = frame[frame[target].notna()].reset_index(drop=True)
    y = binary_target(rows[target], bad)
    return rows.drop(columns=[c for c in (target, id_column) if c is not None]), y


def cross_validate(
    frame: pd.DataFrame,
    target: str,
    *,
    bad: object = 1,
    id_column: str | None = None,
    n_folds: int = 5,
    seed: int = 0,
    on_fold: Callable[[str], None] | None = None,
    periods: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> CrossValidation:
    """Stratified k-fold CV of the scorecard and of the challenger constrained to that fold's
    scorecard trends. `on_fold` is told each time a model finishes a fold. `periods` (each
    row's observation date) lets the scorecard select by stability; `groups` (each row's
    subject) keeps a subject's rows in one fold. Both align with the rows of `frame` and must
    come with a target on every row."""
    features, y = labelled(frame, target, bad=bad, id_column=id_column)
    if (periods is not None or groups is not None) and len(features) != len(frame):
        raise Invalid("periods and groups need a target on every row", field="target")
    if min(int(y.sum()), int(len(y) - y.sum())) < n_folds:
        raise Invalid(f"need at least {n_folds} bad and {n_folds} good rows", field="target")
    result = CrossValidation(len(y), int(y.sum()), {name: ModelCV(name, len(y)) for name in MODELS})
    for k, (train, test) in enumerate(folds(y, n_folds, seed, groups), start=1):
        scorecard = Scorecard().fit(
            features.iloc[train], y[train], None if periods is None else periods[train]
        )
        challenger = Challenger(trends=scorecard.monotone_trends(), seed=seed)
        challenger.fit(features.iloc[train], y[train])
        for name, model in (("scorecard", scorecard), ("lightgbm", challenger)):
            p_bad = model.predict_proba(features.iloc[test])[:, 1]
            result.models[name].oof[test] = p_bad
            result.models[name].fold_auc.append(float(roc_auc_score(y[test], p_bad)))
            result.models[name].fold_ks.append(ks_statistic(y[test], p_bad))
            if on_fold is not None:
                on_fold(f"fold {k}/{n_folds} {name}")
    return result
