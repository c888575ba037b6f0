"""Variable selection says why each characteristic is in or out: IV, stability across
observation periods, and correlation with a stronger characteristic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from purecredit.score.scorecard import Scorecard


def test_a_near_copy_of_a_stronger_characteristic_is_left_out_as_correlated(
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = german_xy
    base = Scorecard().fit(X, y)
    strongest = max(
        base.selected_, key=lambda n: base.binning_.summary().set_index("name").loc[n, "iv"]
    )
    twin = X.assign(twin=X[strongest])
    model = Scorecard().fit(twin, y)
    # The copy has the same IV; exactly one of the two is kept and the other names it.
    pair = {strongest, "twin"}
    kept = pair & set(model.selected_)
    assert len(kept) == 1
    (dropped,) = pair - kept
    assert model.selection_[dropped].startswith(f"correlated with {kept.pop()}")
    assert set(model.selection_) >= set(X.columns) | {"twin"}


def test_a_characteristic_that_drifts_between_periods_is_left_out_as_unstable(
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = german_xy
    rng = np.random.default_rng(0)
    periods = np.where(np.arange(len(y)) % 2 == 0, "2023-06-30", "2024-06-30")
    # Predictive in both halves, but its level jumps from one period to the next.
    signal = y * 2.0 + rng.normal(0, 1, len(y)) + np.where(periods == "2024-06-30", 6.0, 0.0)
    model = Scorecard().fit(X.assign(drifting=signal), y, periods=periods)
    assert "drifting" not in model.selected_
    assert model.selection_["drifting"].startswith("unstable: PSI")
    # Without periods there is nothing to measure drift by: the strong column stays.
    assert "drifting" in Scorecard().fit(X.assign(drifting=signal), y).selected_


def test_every_binned_characteristic_has_a_reason(
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = german_xy
    model = Scorecard().fit(X, y)
    assert set(model.selection_) == set(X.columns)
    assert {n for n, r in model.selection_.items() if r == "selected"} == set(model.selected_)
    assert any(r.startswith("IV ") for r in model.selection_.values())
