"""Portfolio drift over hand-built frames: PSI on reference deciles, characteristic stability,
grade migration, month-end NPL, rebuilt month-end DPD, and the minimum cell size that every
aggregate leaving the data zone keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from purecredit.monitor import drift
from purecredit.monitor.portfolio import (
    hidden_cells,
    migration_section,
    npl_section,
    score_section,
    vintage_section,
)
from purecredit.score.stability import PSI_AMBER, PSI_RED


def _pds(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1.0 / (1.0 + np.exp(-(rng.normal(-3.5, 1.0, n) + shift)))


def test_psi_of_a_sample_against_itself_is_zero_and_green() -> None:
    pds = _pds(2_000, 1)
    found = drift.numeric_psi(pds, pds)
    assert found.psi == 0.0
    assert found.band == "green"
    assert list(found.table["bin"]) == [f"D{i}" for i in range(1, 11)]
    assert found.table["reference"].sum() == 2_000
    # deciles of the reference: each bin holds a tenth of it
    assert np.allclose(found.table["reference_share"], 0.1, atol=0.002)


def test_a_shifted_sample_is_above_the_red_band_and_its_terms_add_up() -> None:
    reference, current = _pds(2_000, 1), _pds(2_000, 2, shift=1.0)
    found = drift.numeric_psi(reference, current)
    assert found.psi > PSI_RED
    assert found.band == "red"
    assert found.table["contribution"].sum() == pytest.approx(found.psi)
    # a riskier book: more of it in the top deciles of the reference PDs
    assert found.table["current_share"].iloc[-1] > 0.25


def test_a_small_shift_is_amber() -> None:
    found = drift.numeric_psi(_pds(5_000, 1), _pds(5_000, 2, shift=0.35))
    assert PSI_AMBER <= found.psi <= PSI_RED
    assert found.band == "amber"


def test_missing_values_get_a_bin_of_their_own() -> None:
    reference = np.arange(100, dtype="float64")
    current = np.where(np.arange(100) % 2 == 0, np.nan, np.arange(100, dtype="float64"))
    found = drift.numeric_psi(reference, current)
    assert found.table["bin"].iloc[-1] == drift.MISSING
    assert found.table["current"].iloc[-1] == 50
    assert found.psi > PSI_RED
    assert drift.MISSING not in set(drift.numeric_psi(reference, reference).table["bin"])


def test_characteristic_stability_by_deciles_and_by_level_worst_first() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "income": rng.normal(50_000, 10_000, 1_000),
            "crop": rng.choice(["herbs", "grain", "pigs"], 1_000),
            "age": rng.integers(20, 60, 1_000),
        }
    )
    current = reference.copy()
    current["crop"] = "herbs"  # everyone moved into one crop
    found = drift.characteristic_stability(
        reference, current, numeric=["income", "age", "absent"], categorical=["crop"]
    )
    assert list(found["name"]) == ["crop", "age", "income"]
    crop, age, income = found.to_dict("records")
    assert crop["type"] == "categorical" and crop["band"] == "red"
    assert age["psi"] == 0.0 and income["psi"] == 0.0 and income["type"] == "numeric"
    assert found["reference_n"].tolist() == [1_000] * 3


def test_migration_counts_borrowers_and_its_rows_sum_to_one() -> None:
    decided = pd.Series(["3", "3", "3", "5", "5", "12", None])
    now = pd.Series(["3", "4", "4", "5", "8", "12", "2"])
    found = drift.migration(decided, now)
    assert list(found.counts.index) == ["3", "4", "5", "8", "12"]  # master-scale order
    assert found.counts.loc["3", "4"] == 2
    assert found.counts.to_numpy().sum() == 6  # the ungraded decision is left out
    rows = found.shares.dropna(how="all")
    assert np.allclose(rows.sum(axis=1), 1.0)
    assert found.shares.loc["5", "8"] == 0.5


def test_hidden_cells_hide_small_ones_and_one_more_so_none_can_be_subtracted_back() -> None:
    assert hidden_cells([40, 0, 12, 30], 10) == [False, False, False, False]
    # the 3 alone would follow from the published total: the 12 goes with it
    assert hidden_cells([40, 0, 3, 12, 30], 10) == [False, False, True, True, False]
    assert hidden_cells([40, 3, 4, 30], 10) == [False, True, True, False]


def test_migration_section_hides_small_cells_and_small_rows() -> None:
    scores = pd.DataFrame(
        {
            "decision_grade": ["3"] * 25 + ["4"] * 4,
            "grade": ["3"] * 20 + ["4"] * 3 + ["5"] * 2 + ["4"] * 4,
        }
    )
    out = migration_section(scores, min_cell=10)
    first, second, third = out["rows"]  # a square matrix: every grade either side
    assert third["borrowers"] == 0 and not third["suppressed"]
    cells = {c["grade"]: c for c in first["cells"]}
    assert first["borrowers"] == 25 and cells["3"]["count"] == 20
    assert cells["4"]["count"] is None and cells["4"]["suppressed"]
    assert cells["5"]["count"] is None and cells["5"]["share"] is None
    assert second["borrowers"] is None and second["suppressed"]
    assert all(c["count"] in (None, 0) for c in second["cells"])
    shown = migration_section(scores, min_cell=1)
    assert shown["rows"][1]["cells"][1] == {
        "grade": "4",
        "count": 4,
        "share": 1.0,
        "suppressed": False,
    }


def test_score_section_publishes_nothing_under_the_minimum_and_hides_thin_deciles() -> None:
    decisions = pd.DataFrame({"pd": _pds(200, 1)})
    assert score_section(decisions, pd.DataFrame({"pd": _pds(5, 2)}), 10)["psi"] is None
    current = pd.DataFrame({"pd": np.r_[np.full(60, 0.5), _pds(4, 3)]})  # most in one decile
    out = score_section(decisions, current, 10)
    assert out["psi"] is not None and out["band"] == "red"
    assert out["reference"] == "decision_pd"
    for b in out["bins"]:
        if b["suppressed"]:
            assert b["current"] is None and b["contribution"] is None
        else:
            assert b["current"] is not None and (b["current"] == 0 or b["current"] >= 10)
    assert any(b["suppressed"] for b in out["bins"])


def _book_day(day: date, loans: int, npl: float) -> dict[str, object]:
    figures = dict.fromkeys(drift.CATEGORIES, 100.0)
    return {"day": day, "loans": loans, "outstanding": 500.0, **figures, "npl_ratio": npl,
            "done_at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip


def test_npl_trend_takes_each_months_last_finished_day_and_hides_thin_months() -> None:
    days = pd.DataFrame(
        [
            _book_day(date(2026, 1, 30), 20, 0.01),
            _book_day(date(2026, 1, 31), 20, 0.02),
            _book_day(date(2026, 2, 28), 5, 0.05),
            _book_day(date(2026, 3, 1), 30, 0.04) | {"done_at": None},  # unfinished
        ]
    )
    trend = drift.npl_trend(days)
    assert list(trend["month"]) == ["2026-01", "2026-02"]
    assert trend["npl_ratio"].tolist() == [0.02, 0.05]
    published = npl_section(trend, 10)
    assert published[0]["npl_ratio"] == 0.02 and published[0]["loans"] == 20
    assert published[1]["suppressed"] and published[1]["npl_ratio"] is None
    assert published[1]["loss"] is None


def test_month_end_dpd_follows_the_schedule_and_the_payments() -> None:
    loans = pd.DataFrame(
        {
            "loan_id": ["a", "b"],
            "start": [date(2026, 1, 10), date(2026, 3, 10)],
            "amount": [300.0, 300.0],
            "status": ["active", "active"],
            "closed_on": [None, None],
        }
    )
    dues = [date(2026, m, 10) for m in (2, 3, 4)]
    instalments = pd.DataFrame(
        {
            "loan_id": ["a"] * 3 + ["b"] * 3,
            "number": [1, 2, 3] * 2,
            "due_date": dues + [date(2026, m, 10) for m in (4, 5, 6)],
            "principal": [100.0] * 6,
            "interest": [1.0] * 6,
        }
    )
    # a pays its first instalment on time, then nothing; b pays nothing
    payments = pd.DataFrame({"loan_id": ["a"], "paid_on": [date(2026, 2, 10)], "amount": [101.0]})
    ends = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30),
            date(2026, 5, 31), date(2026, 6, 30)]  # fmt: skip
    snaps = drift.month_end_dpd(loans, instalments, payments, ends)
    dpd = {month: frame["dpd"].to_dict() for month, frame in snaps.frames}
    assert dpd["2026-01"] == {"a": 0}
    assert dpd["2026-02"] == {"a": 0}  # b not drawn yet
    assert dpd["2026-03"] == {"a": 21, "b": 0}
    assert dpd["2026-05"] == {"a": 82, "b": 51}
    assert dpd["2026-06"] == {"a": 112, "b": 81}
    vintages = snaps.vintages()
    jan = {p["months_on_book"]: p["share"] for p in vintages["2026-01"]["dpd90"]}
    assert jan[4] == 0.0 and jan[5] == 1.0
    assert vintage_section(snaps, 2)[0]["loans"] is None  # one loan per vintage: hidden
    assert vintage_section(snaps, 1)[0]["dpd30"] == vintages["2026-01"]["dpd30"]
