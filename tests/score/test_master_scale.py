"""The master scale: monotone grades that cover every PD from 0 to 1."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from purecredit.core.errors import Invalid
from purecredit.score.master_scale import MASTER_SCALE, PD_FLOOR, MasterScale, geometric_scale


def test_grades_are_monotone_in_pd_and_cover_zero_to_one() -> None:
    scale = MASTER_SCALE
    assert len(scale.labels) >= 10
    pds = np.sort(np.concatenate([np.linspace(0.0, 1.0, 100_001), np.geomspace(1e-6, 1, 10_001)]))
    index = scale.grade_index(pds)
    assert np.all(np.diff(index) >= 0)
    assert index[0] == 0 and index[-1] == len(scale.labels) - 1
    assert set(index.tolist()) == set(range(len(scale.labels)))
    # Every PD lands in the band its grade's table row states.
    rows = scale.table()
    low = np.array([r["pd_low"] for r in rows])[index]
    high = np.array([r["pd_high"] for r in rows])[index]
    last = index == len(rows) - 1
    assert np.all(pds >= low) and np.all((pds < high) | (last & (pds <= high)))


def test_band_edges_belong_to_the_grade_above() -> None:
    uppers = np.asarray(MASTER_SCALE.uppers[:-1])
    assert MASTER_SCALE.grade(uppers).tolist() == list(MASTER_SCALE.labels[1:])
    assert MASTER_SCALE.grade([0.0, 1.0]).tolist() == ["1", "12"]


def test_table_is_contiguous_geometric_and_exportable() -> None:
    rows = json.loads(json.dumps(MASTER_SCALE.table()))
    assert rows[0]["pd_low"] == 0.0 and rows[-1]["pd_high"] == 1.0
    assert all(a["pd_high"] == b["pd_low"] for a, b in itertools.pairwise(rows))
    ratios = np.diff(np.log([r["pd_high"] for r in rows]))
    np.testing.assert_allclose(ratios, np.log(1 / PD_FLOOR) / len(rows))
    assert all(r["pd_low"] <= r["pd_mid"] < r["pd_high"] for r in rows)


def test_refuses_bad_pds_and_bad_scales() -> None:
    for bad in ([np.nan], [-0.01], [1.01]):
        with pytest.raises(Invalid):
            MASTER_SCALE.grade(bad)
    with pytest.raises(Invalid):
        MasterScale(labels=("A", "B", "C"), uppers=(0.1, 0.05, 1.0))
    with pytest.raises(Invalid):
        MasterScale(labels=("A", "B"), uppers=(0.1, 0.9))
    assert geometric_scale(grades=10, labels=tuple("ABCDEFGHIJ")).grade([0.5]).tolist() == ["J"]
