"""Playing loans forward follows the county's latent risk, through the same rule as history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from purecredit.core.errors import Invalid
from purecredit.synth.manifest import Manifest
from purecredit.synth.play import Forward


def _one_year_loans(county: Path, manifest: Manifest) -> tuple[Forward, pd.DataFrame, pd.DataFrame]:
    truth = pd.read_parquet(county / manifest.truth["borrowers"])
    borrowers = truth[truth["eligible"]].reset_index(drop=True)
    start = pd.Timestamp(manifest.study_date) + pd.Timedelta(days=1)
    dues = [start + pd.DateOffset(months=k) for k in range(1, 13)]
    frame = pd.DataFrame(
        {
            "key": np.repeat(borrowers["entity_key"].to_numpy(), 12),
            "start": start,
            "due": np.tile(np.array(dues, dtype="datetime64[ns]"), borrowers.shape[0]),
        }
    )
    return Forward(county), borrowers, frame


def test_borrowers_who_default_stop_paying(small_county: tuple[Path, Manifest]) -> None:
    county, manifest = small_county
    forward, borrowers, frame = _one_year_loans(county, manifest)
    out = forward.instalments(
        keys=frame["key"].to_numpy(),
        start_dates=frame["start"].to_numpy(),
        due_dates=frame["due"].to_numpy(),
    )
    frame = frame.join(out)
    worst = (
        frame.assign(bad=(frame["days_late"] >= 90) | ~frame["paid"]).groupby("key")["bad"].any()
    )
    truth = borrowers.set_index("entity_key")
    realised = worst.reindex(truth.index)
    # Every 12-month defaulter misses an instalment by 90+ days or never pays; no one else does.
    assert realised[truth["default_12m"] == 1].mean() > 0.9
    assert realised[truth["default_12m"] == 0].mean() < 0.02
    assert (frame.loc[frame["paid"], "days_late"] >= 0).all()
    assert (frame.loc[~frame["paid"], "days_late"] == -1).all()


def test_answers_are_deterministic(small_county: tuple[Path, Manifest]) -> None:
    county, manifest = small_county
    forward, _, frame = _one_year_loans(county, manifest)
    args = {
        "keys": frame["key"].to_numpy(),
        "start_dates": frame["start"].to_numpy(),
        "due_dates": frame["due"].to_numpy(),
    }
    first = forward.instalments(**args)
    shuffled = np.random.default_rng(0).permutation(frame.shape[0])
    again = forward.instalments(**{k: v[shuffled] for k, v in args.items()})
    pd.testing.assert_frame_equal(first.iloc[shuffled].reset_index(drop=True), again)


def test_refuses_to_play_past_the_horizon(small_county: tuple[Path, Manifest]) -> None:
    county, _ = small_county
    forward = Forward(county)
    late = np.array([np.datetime64(forward.last_day()) + np.timedelta64(40, "D")])
    with pytest.raises(Invalid, match="last simulated day"):
        forward.instalments(keys=np.array(["x"]), start_dates=late, due_dates=late)
