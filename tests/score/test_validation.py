"""Validation figures and the HTML validation report, on small hand-checked arrays and on
German credit."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score

from purecredit.core.errors import Invalid
from purecredit.score.master_scale import MASTER_SCALE
from purecredit.score.scorecard import Scorecard
from purecredit.score.stability import characteristic_psi
from purecredit.score.validation import (
    Sample,
    calibration_by_grade,
    discrimination,
    iv_table,
    jeffreys_interval,
    psi,
    render,
    scorecard_frame,
    traffic_light,
)

# --- discrimination ---------------------------------------------------------------------


def test_discrimination_on_a_hand_checked_example() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = discrimination(y, p)
    # Bad-good pairs ranked right: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4); wrong: 0.35 < 0.4.
    assert m["auc"] == pytest.approx(0.75)
    assert m["gini"] == pytest.approx(0.5)
    # Riskiest first: 0.8 bad -> TPR 1/2, FPR 0; 0.4 good -> 1/2, 1/2; 0.35 bad -> 1, 1/2.
    assert m["ks"] == pytest.approx(0.5)
    assert m["ks"] == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert m["brier"] == pytest.approx((0.1**2 + 0.4**2 + 0.65**2 + 0.2**2) / 4)
    assert m["n"] == 4
    assert m["bad_rate"] == pytest.approx(0.5)


def test_discrimination_matches_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    m = discrimination(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["gini"] == pytest.approx(2 * roc_auc_score(y, p) - 1)
    assert m["ks"] == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["bad_rate"] == pytest.approx(y.mean())


def test_discrimination_needs_both_classes() -> None:
    with pytest.raises(Invalid):
        discrimination(np.zeros(4), np.full(4, 0.2))
    with pytest.raises(Invalid):
        discrimination(np.array([0, 1]), np.array([0.1]))


# --- PSI ----------------------------------------------------------------------------------


def test_psi_is_zero_on_identical_samples_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    dev = rng.normal(600, 50, 5000)
    assert psi(dev, dev) == pytest.approx(0.0, abs=1e-12)
    small, large = psi(dev, dev + 10), psi(dev, dev + 40)
    assert 0.0 < small < large
    assert psi(dev, rng.normal(600, 50, 5000)) < 0.1  # sampling noise stays green
    assert large > 0.25


def test_psi_by_hand_with_explicit_edges() -> None:
    expected = np.r_[np.zeros(50), np.ones(50)]
    actual = np.r_[np.zeros(25), np.ones(75)]
    edges = np.array([-1.0, 0.5, 2.0])
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(expected, actual, edges=edges) == pytest.approx(want)


def test_psi_is_finite_with_an_empty_bin() -> None:
    dev = np.linspace(0, 1, 1000)
    value = psi(dev, np.full(100, 0.05))  # every recent row in the first decile
    assert math.isfinite(value)
    assert value > 0.25


def test_traffic_light() -> None:
    assert [traffic_light(v) for v in (0.05, 0.1, 0.25, 0.3)] == [
        "green",
        "amber",
        "amber",
        "red",
    ]


# --- German credit -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(german_xy: tuple[pd.DataFrame, np.ndarray]) -> Scorecard:
    features, y = german_xy
    return Scorecard().fit(features, y)


def test_characteristic_psi_zero_on_identical_frames_and_positive_on_a_shift(
    model: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    features = german_xy[0]
    names = list(model.selected_)
    dev = scorecard_frame(model, features)
    same = characteristic_psi(model.binning_, names, dev, dev)
    assert list(same.columns) == ["name", "psi"]
    assert list(same["name"]) == names
    assert np.allclose(same["psi"], 0.0)

    shifted = features.copy()
    shifted["age_in_years"] = shifted["age_in_years"] + 25
    moved = characteristic_psi(model.binning_, names, dev, scorecard_frame(model, shifted))
    by_name = dict(zip(moved["name"], moved["psi"], strict=True))
    assert by_name["age_in_years"] > 0.25
    assert all(v == pytest.approx(0.0) for k, v in by_name.items() if k != "age_in_years")


def test_characteristic_psi_covers_unselected_characteristics(
    model: Scorecard, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    dev = scorecard_frame(model, german_xy[0])
    every = [str(n) for n in model.binning_.summary()["name"]]
    dropped = [n for n in every if n not in model.selected_]
    assert dropped  # German credit has characteristics under IV 0.02
    table = characteristic_psi(model.binning_, every, dev.iloc[:500], dev.iloc[500:])
    assert len(table) == len(every)
    assert (table["psi"] >= 0).all()
    assert np.isfinite(table["psi"]).all()


def test_iv_table_sorted_with_reasons(model: Scorecard) -> None:
    table = iv_table(model.binning_, model.selected_)
    assert list(table.columns) == ["name", "iv", "selected", "reason"]
    assert np.all(np.diff(table["iv"].to_numpy()) <= 0)
    assert set(table.loc[table["selected"], "name"]) == set(model.selected_)
    assert (table.loc[table["selected"], "reason"] == "selected").all()
    low = table[table["iv"] < 0.02]
    assert len(low) and (low["reason"] == "IV below 0.02").all()

    name = model.selected_[0]
    override = iv_table(model.binning_, model.selected_, {name: "dropped: correlated"})
    assert override.set_index("name").loc[name, "reason"] == "dropped: correlated"


def test_calibration_by_grade_counts_sum_to_n(
    german_oof: np.ndarray, german_xy: tuple[pd.DataFrame, np.ndarray]
) -> None:
    y = german_xy[1]
    table = calibration_by_grade(y, german_oof, MASTER_SCALE)
    assert list(table["grade"]) == list(MASTER_SCALE.labels)
    assert table["n"].sum() == len(y)
    assert table["bad"].sum() == y.sum()
    used = table[table["n"] > 0]
    assert (used["predicted_pd"] >= used["lower"]).all()
    assert (used["predicted_pd"] <= used["upper"]).all()
    assert (used["ci_low"] <= used["observed_bad_rate"]).all()
    assert (used["observed_bad_rate"] <= used["ci_high"]).all()
    assert used["p_value"].between(0, 1).all()
    # The n-weighted observed rates give back the overall bad rate.
    assert (used["observed_bad_rate"] * used["n"]).sum() / len(y) == pytest.approx(y.mean())


def test_jeffreys_interval_edges() -> None:
    assert jeffreys_interval(0, 20)[0] == 0.0
    assert jeffreys_interval(20, 20)[1] == 1.0
    low, high = jeffreys_interval(30, 100)
    assert low < 0.3 < high
    assert all(math.isnan(v) for v in jeffreys_interval(0, 0))


class _Tags(HTMLParser):
    """Counts tags and checks that non-void tags close in order."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_render_writes_a_self_contained_report(
    tmp_path: Path,
    model: Scorecard,
    german_oof: np.ndarray,
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    features, y = german_xy
    recent = features.iloc[600:]
    points = model.offset - model.factor * np.log(german_oof / (1 - german_oof))
    samples = [
        Sample("development (out-of-fold)", y, german_oof, points),
        Sample(
            "out-of-time 2024-12-31",
            y[600:],
            model.predict_proba(recent)[:, 1],
            model.score(recent),
        ),
    ]
    dev = scorecard_frame(model, features)
    char_psi = characteristic_psi(model.binning_, model.selected_, dev, dev.iloc[600:])
    score_psi = psi(points, model.score(recent))
    out = render(
        tmp_path / "report" / "validation.html",
        title="Validation: German credit scorecard",
        model={
            "segment": "german",
            "version": 3,
            "kind": "scorecard",
            "features": model.selected_,
            "created_at": "2026-11-27",
            "cv_auc": 0.78,
        },
        samples=samples,
        scale=MASTER_SCALE,
        iv=iv_table(model.binning_, model.selected_),
        characteristics_psi=char_psi,
        score_psi=score_psi,
        oracle_auc=0.9,
        comparisons={"enterprise-only": {"auc": 0.71}, "two-layer": {"auc": 0.76, "ks": 0.4}},
        notes=["农户样本较少 (few farmers in the sample) <check>"],
    )
    assert out == tmp_path / "report" / "validation.html"
    html = out.read_text(encoding="utf-8")
    recent_auc = discrimination(samples[1].y, samples[1].pd_bad)["auc"]
    assert f"{roc_auc_score(y, german_oof):.4f}" in html
    assert f"{recent_auc:.4f}" in html
    assert f"{recent_auc / 0.9:.1%}" in html  # champion / ceiling
    assert "农户样本较少" in html
    assert "&lt;check&gt;" in html  # text is escaped
    assert "two-layer" in html and "enterprise-only" in html
    assert "IV below 0.02" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html

    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert parser.counts.get("img", 0) + parser.counts.get("svg", 0) >= 4
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)


def test_render_with_one_sample_and_no_stability(
    tmp_path: Path,
    model: Scorecard,
    german_oof: np.ndarray,
    german_xy: tuple[pd.DataFrame, np.ndarray],
) -> None:
    y = german_xy[1]
    out = render(
        tmp_path / "one.html",
        title="One sample",
        model={"segment": "german"},
        samples=[Sample("development (out-of-fold)", y, german_oof)],
        scale=MASTER_SCALE,
        iv=iv_table(model.binning_, model.selected_),
        characteristics_psi=None,
        score_psi=None,
        oracle_auc=None,
    )
    html = out.read_text(encoding="utf-8")
    assert html.count("<img") == 4
    assert "Ceiling" not in html
    assert "No recent sample" in html
