"""The challenger follows the scorecard's trends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from purecredit.score.challenger import Challenger
from purecredit.score.fit import binary_target
from purecredit.score.scorecard import Scorecard


def test_constraints_follow_scorecard_trends(german: pd.DataFrame) -> None:
    features = german.drop(columns="creditability")
    y = binary_target(german["creditability"], "bad")
    trends = Scorecard().fit(features, y).monotone_trends()
    # Longer loans and larger amounts are riskier in German credit; the bins must say so.
    assert trends["duration_in_month"] == 1
    model = Challenger(trends=trends).fit(features, y)
    assert model.estimator_.get_params()["n_jobs"] == 1
    rising = [n for n, t in trends.items() if t == 1]
    grid = pd.concat([features.iloc[[0]]] * 50, ignore_index=True)
    for name in rising:
        probe = grid.copy()
        probe[name] = np.linspace(features[name].min(), features[name].max(), 50)
        assert np.all(np.diff(model.predict_proba(probe)[:, 1]) >= -1e-12), name
