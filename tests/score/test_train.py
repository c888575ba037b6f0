"""County training end to end on a small county: labels the bank could see, every segment
registered with its report, the registered models reproducing their own out-of-time figures,
and the two-layer enterprise model composed of exactly the parts it names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from purecredit.core.crypto import Tokenizer
from purecredit.core.errors import Invalid
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.profile.compute import prepare
from purecredit.score import registry
from purecredit.score.ceiling import Ceiling
from purecredit.score.outcomes import outcomes
from purecredit.score.sample import (
    PERSON_SEGMENTS,
    build_sample,
    characteristics,
)
from purecredit.score.train import REPORT_FILE, TrainReport, columns_of, train_county
from purecredit.score.two_layer import Linked
from tests.county import CountyHome

FOLDS = 3
MIN_BADS = 200  # high enough that this small county leaves some segments to the pooled model


@dataclass
class Trained:
    county: Path
    home: Path
    con: duckdb.DuckDBPyConnection
    tokenizer: Tokenizer
    report: TrainReport


@pytest.fixture(scope="module")
def trained(county_home: CountyHome, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Every segment trained on the session county (tests/county.py: 6,000 people, seed 5,
    ingested as of 5 January), read from its lake; the models go to a home of their own."""
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=county_home.home)
    con = prepare(county_home.lake, county_home.catalog)
    tokenizer = Tokenizer(data_zone_keys(settings).token_key, settings.token_algorithm)
    report = train_county(
        county_home.lake,
        county_home.catalog,
        home,
        ceiling=Ceiling(county_home.county, tokenizer),
        n_folds=FOLDS,
        con=con,
        min_bads=MIN_BADS,
    )
    return Trained(county_home.county, home, con, tokenizer, report)


def test_labels_are_defaults_the_world_really_had_and_few_are_missed(trained: Trained) -> None:
    dates = trained.report.dates
    labels = outcomes(trained.con, "person", [*dates.train, dates.oot]).to_pandas()
    events = pd.read_parquet(trained.county / "truth" / "default_events.parquet")
    events = events[events["entity_type"] == "person"]
    plain = events["entity_key"].astype(str).unique().tolist()
    token = dict(zip(plain, trained.tokenizer.token_many(plain, "id"), strict=True))
    events = events.assign(
        subject="id:" + events["entity_key"].astype(str).map(token),
        month=pd.to_datetime(events["month"]),
    )
    rows = labels.assign(as_of=pd.to_datetime(labels["as_of"])).merge(
        events[["subject", "month"]], on="subject", how="left"
    )
    # A 90th day past due inside the window comes from a default in it or at most two months
    # before it (a borrower already behind at the date); a later one cannot show yet.
    start = rows["as_of"] - pd.DateOffset(months=2)
    rows["explains"] = (rows["month"] > start) & (
        rows["month"] <= rows["as_of"] + pd.DateOffset(months=12)
    )
    rows["early"] = (rows["month"] > rows["as_of"]) & (
        rows["month"] <= rows["as_of"] + pd.DateOffset(months=10)
    )
    per_row = rows.groupby(["subject", "as_of"]).agg(
        bad=("bad", "first"), explains=("explains", "any"), early=("early", "any")
    )
    bad = per_row[per_row["bad"] == 1]
    assert len(bad) > 300
    assert bad["explains"].mean() >= 0.99  # never a bad the world did not have
    # A default early enough in the window to reach 90 days inside it is almost always seen.
    assert per_row.loc[per_row["early"], "bad"].mean() >= 0.9
    assert set(labels["bad"].unique()) == {0, 1}


def test_observation_dates_are_quarter_ends_before_a_closed_out_of_time_year(
    trained: Trained,
) -> None:
    dates = trained.report.dates
    assert dates.oot.isoformat() == "2024-12-31"  # the latest report is 2025-12
    assert [d.isoformat() for d in dates.train] == [
        "2023-06-30", "2023-09-30", "2023-12-31", "2024-03-31", "2024-06-30", "2024-09-30",
    ]  # fmt: skip


def test_every_segment_is_registered_with_a_champion_and_a_report(trained: Trained) -> None:
    report = trained.report
    listed = registry.list_models(trained.home)
    segments = {m["segment"] for m in listed}
    own = {f"person_{s}" for s in PERSON_SEGMENTS} - set(report.pooled)
    few = {
        s for s, n in report.rows.items() if s.startswith("person_") and n["train_bad"] < MIN_BADS
    }
    assert set(report.pooled) == few and few and own, report.rows
    assert segments == {"person", "enterprise_only", "enterprise"} | own
    for segment in segments:
        champions = [m for m in listed if m["segment"] == segment and m["champion"]]
        assert len(champions) == 1, segment
    for m in listed:
        metrics = m["metrics"]
        assert 0.5 < metrics["oot_auc"] < 1.0, m
        assert 0.5 < metrics["oracle_auc"] < 1.0, m
        html = (trained.home / "models" / m["segment"] / m["version"] / REPORT_FILE).read_text()
        assert len(re.findall(r"<img ", html)) >= 4
        assert f"{metrics['oot_auc']:.4f}"[:5] in html
    # The ceiling is what the truth reaches on the same rows: persons above chance by far.
    person = next(m for m in listed if m["segment"] == "person" and m["champion"])
    assert person["metrics"]["oracle_auc"] > 0.7


def test_registered_champions_reproduce_their_out_of_time_auc(trained: Trained) -> None:
    dates = trained.report.dates
    catalog = load_catalog()
    persons = build_sample(trained.con, "person", dates)
    oot = persons[persons["sample"] == "oot"]
    model = registry.load(trained.home, "person")
    assert set(model.features) <= set(characteristics("person", catalog))
    pd_oot = model.pd_batch(columns_of(oot, model.features))
    assert roc_auc_score(oot["bad"], pd_oot) == pytest.approx(model.metrics["oot_auc"], abs=1e-12)
    grades = model.grade_batch(columns_of(oot, model.features))
    assert set(grades) <= {str(g) for g in range(1, 13)}
    reasons = model.reasons(columns_of(oot.head(50), model.features))
    assert all(r.zh and r.en and r.code != "R99" for row in reasons for r in row)


def test_the_two_layer_model_is_its_parts_and_their_stack(trained: Trained) -> None:
    firms = build_sample(trained.con, "enterprise", trained.report.dates)
    oot = firms[firms["sample"] == "oot"]
    model = registry.load(trained.home, "enterprise")
    assert model.kind == "two_layer" and isinstance(model.scorer, Linked)
    refs = model.doc["scorer"]
    own = registry.load(trained.home, "enterprise_only", refs["enterprise"]["version"])
    person = registry.load(trained.home, "person", refs["person"]["version"])
    assert own.content_hash == refs["enterprise"]["content_hash"]
    columns = columns_of(oot, model.features)
    own_pd, rep_pd = model.scorer.layers(columns)
    assert np.array_equal(own_pd, own.pd_batch(columns))
    rep_columns = {f: oot["legal_rep_" + f].to_numpy() for f in person.features}
    # A firm whose representative the profile knows nothing about has no second layer.
    has_rep = oot[["legal_rep_" + f for f in person.features]].notna().any(axis=1).to_numpy()
    assert has_rep.any()
    assert np.allclose(rep_pd[has_rep], person.pd_batch(rep_columns)[has_rep])
    assert np.isnan(rep_pd[~has_rep]).all()
    combined = model.calibrator.apply(model.scorer.stack.predict(own_pd, rep_pd))
    assert np.array_equal(model.pd_batch(columns), combined)
    assert roc_auc_score(oot["bad"], combined) == pytest.approx(model.metrics["oot_auc"])
    # A changed component is refused: the two-layer model names exactly the parts it fitted.
    original = own.path.read_text(encoding="utf-8")
    doc = json.loads(original)
    doc["training"]["rows"] += 1
    doc["content_hash"] = registry.content_hash(doc)
    own.path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        registry.load(trained.home, "enterprise_only", refs["enterprise"]["version"])  # valid
        with pytest.raises(Invalid, match="not the one the two-layer model was fitted with"):
            registry.load(trained.home, "enterprise")
    finally:
        own.path.write_text(original, encoding="utf-8")
    report_html = (model.path.parent / REPORT_FILE).read_text()
    assert "enterprise-only" in report_html and "two-layer" in report_html


def test_only_the_ceiling_reads_the_truth() -> None:
    """Training may never read `truth/`: of the score package, only the ceiling (used by
    validation reports and benchmarks) names it."""
    package = Path(__file__).parents[2] / "purecredit" / "score"
    pattern = re.compile(r"""\.truth\b|["']pd_history["']|["']default_events["']""")
    readers = sorted(
        p.name for p in package.glob("*.py") if pattern.search(p.read_text(encoding="utf-8"))
    )
    assert readers == ["ceiling.py"], readers


def test_compiled_models_equal_the_fitted_ones_on_every_row_of_the_county(
    trained: Trained,
) -> None:
    """The serving form is the fitted model: a scorecard's points bit for bit and its PD to
    1e-9, LightGBM's raw score and PD to 1e-9, on every person row of the county sample."""
    from purecredit.score.challenger import Challenger
    from purecredit.score.compiled import CompiledChallenger, CompiledScorecard
    from purecredit.score.scorecard import Scorecard

    persons = build_sample(trained.con, "person", trained.report.dates)
    names = characteristics("person", load_catalog())
    train = persons[persons["sample"] == "train"]
    card = Scorecard().fit(train[names], train["bad"].to_numpy())
    compiled = CompiledScorecard.from_json(CompiledScorecard.compile(card).to_json())
    every = persons[names]
    assert np.array_equal(compiled.score_batch(every), card.score(every))
    assert np.allclose(compiled.pd_batch(every), card.predict_proba(every)[:, 1], rtol=0, atol=1e-9)
    tree = Challenger(trends=card.monotone_trends()).fit(train[names], train["bad"].to_numpy())
    trees = CompiledChallenger.from_dict(CompiledChallenger.compile(tree).to_dict())
    raw = tree.estimator_.predict(tree.prepared(every), raw_score=True)
    assert np.allclose(trees.raw_batch(columns_of(persons, names)), raw, rtol=0, atol=1e-9)
    assert np.allclose(
        trees.pd_batch(columns_of(persons, names)), tree.predict_proba(every)[:, 1],
        rtol=0, atol=1e-9,
    )  # fmt: skip
