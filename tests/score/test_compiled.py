"""The compiled scorer gives the fitted models' own figures, one applicant or a batch."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from purecredit.core.errors import Invalid
from purecredit.score.challenger import Challenger
from purecredit.score.compiled import CompiledChallenger, CompiledScorecard
from purecredit.score.fit import binary_target
from purecredit.score.scorecard import Scorecard
from purecredit.score.table import model_frame


@pytest.fixture(scope="module")
def rows(german: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    features = german.drop(columns="creditability")
    return features, binary_target(german["creditability"], "bad")


def probe(features: pd.DataFrame) -> pd.DataFrame:
    """Every training row, then copies with missing values, values never seen in training
    (numbers out of range, unknown categories) and special codes in every column."""
    rng = np.random.default_rng(5)
    extra = features.sample(300, random_state=1).reset_index(drop=True)
    for name in extra.columns:
        pick = rng.random(len(extra))
        if pd.api.types.is_numeric_dtype(extra[name]):
            column = extra[name].astype("float64")
            column[pick < 0.2] = np.nan
            column[(pick >= 0.2) & (pick < 0.3)] = 1e9
            column[(pick >= 0.3) & (pick < 0.4)] = -999.0
            extra[name] = column
        else:
            text = extra[name].to_numpy(dtype=object)
            text[pick < 0.2] = np.nan
            text[(pick >= 0.2) & (pick < 0.35)] = "never seen"
            extra[name] = pd.Series(text, dtype=object)
    return pd.concat([features, extra], ignore_index=True)


def columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {n: frame[n].to_numpy() for n in frame.columns}


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [dict(zip(frame.columns, r, strict=True)) for r in frame.itertuples(index=False)]


@pytest.mark.parametrize("special", [None, [-999.0]])
def test_scorecard_points_exact(
    rows: tuple[pd.DataFrame, np.ndarray], special: list[float] | None
) -> None:
    features, y = rows
    model = Scorecard(special_codes=special).fit(features, y)
    compiled = CompiledScorecard.from_json(CompiledScorecard.compile(model).to_json())
    frame = probe(features)
    # Batch: bit for bit the fitted model's batch points, PD to 1e-9.
    assert np.array_equal(compiled.score_batch(columns(frame)), model.score(frame))
    bad = model.predict_proba(frame)[:, 1]
    assert np.allclose(compiled.pd_batch(columns(frame)), bad, rtol=0, atol=1e-9)
    # One applicant: bit for bit the fitted model scoring that row alone.
    batch = model.score(frame)
    for i, record in enumerate(records(frame)):
        single = compiled.score_one(record)
        if i % 25 == 0:
            assert single == model.score(frame.iloc[[i]])[0]
        assert abs(single - batch[i]) < 1e-9
        assert abs(compiled.pd_one(record) - bad[i]) < 1e-9


def test_scorecard_one_applicant_alone_exact(rows: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, y = rows
    model = Scorecard().fit(features, y)
    compiled = CompiledScorecard.compile(model)
    frame = probe(features)
    # The fitted model scores one row in about 80 ms: every tenth training row, and every
    # probe row (missing, unseen and special values: where a single row could differ).
    hard = len(features)
    for i, record in enumerate(records(frame)):
        if i >= hard or i % 10 == 0:
            assert compiled.score_one(record) == model.score(frame.iloc[[i]])[0]


def test_json_round_trip(rows: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, y = rows
    compiled = CompiledScorecard.compile(Scorecard().fit(features, y))
    again = CompiledScorecard.from_json(compiled.to_json())
    assert again.to_json() == compiled.to_json()
    frame = probe(features)
    assert np.array_equal(again.score_batch(columns(frame)), compiled.score_batch(columns(frame)))


def test_challenger_raw_scores(rows: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, y = rows
    trends = Scorecard().fit(features, y).monotone_trends()
    model = Challenger(trends=trends, n_estimators=200, min_category_count=60).fit(features, y)
    compiled = CompiledChallenger(model)
    frame = probe(features)
    data = model._categorical(model_frame(frame, model.numeric_, model.text_))
    raw = np.asarray(model.estimator_.predict(data, raw_score=True))
    assert np.allclose(compiled.raw_batch(columns(frame)), raw, rtol=0, atol=1e-9)
    for i, record in enumerate(records(frame)):
        assert abs(compiled.raw_one(record) - raw[i]) < 1e-9


def input_forms(frame: pd.DataFrame) -> dict[str, Any]:
    """The same rows as each input `score_batch` takes: the frame as it is, with text as
    pandas' Arrow-backed `str`, as Arrow `string` and as categories, a dict of numpy arrays,
    a dict of Series and a pyarrow Table."""
    text = [n for n in frame.columns if not pd.api.types.is_numeric_dtype(frame[n])]
    return {
        "frame": frame,
        "str": frame.astype(dict.fromkeys(text, pd.StringDtype("pyarrow", na_value=np.nan))),
        "arrow": frame.astype(dict.fromkeys(text, pd.ArrowDtype(pa.string()))),
        "category": frame.astype(dict.fromkeys(text, "category")),
        "numpy": columns(frame),
        "series": {n: frame[n] for n in frame.columns},
        "table": pa.Table.from_pandas(
            frame.astype(dict.fromkeys(text, pd.StringDtype("pyarrow", na_value=np.nan))),
            preserve_index=False,
        ),
    }


@pytest.mark.parametrize("special", [None, [-999.0]])
def test_scorecard_batch_exact_for_every_input_form(
    rows: tuple[pd.DataFrame, np.ndarray], special: list[float] | None
) -> None:
    features, y = rows
    model = Scorecard(special_codes=special).fit(features, y)
    compiled = CompiledScorecard.compile(model)
    frame = probe(features)
    expected = model.score(frame)
    bad = model.predict_proba(frame)[:, 1]
    for form, data in input_forms(frame).items():
        assert np.array_equal(compiled.score_batch(data), expected), form
        assert np.allclose(compiled.pd_batch(data), bad, rtol=0, atol=1e-9), form


def test_scorecard_batch_names_missing_columns(rows: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, y = rows
    compiled = CompiledScorecard.compile(Scorecard().fit(features, y))
    with pytest.raises(Invalid, match="columns missing"):
        compiled.score_batch(features.drop(columns=compiled.names[-1]))
    with pytest.raises(Invalid, match="columns missing"):
        compiled.score_batch(pa.Table.from_pandas(features.drop(columns=compiled.names[0])))


@pytest.fixture(scope="module")
def challenger(rows: tuple[pd.DataFrame, np.ndarray]) -> Challenger:
    features, y = rows
    trends = Scorecard().fit(features, y).monotone_trends()
    return Challenger(trends=trends, n_estimators=200, min_category_count=60).fit(features, y)


def test_challenger_saved_form_round_trips(
    rows: tuple[pd.DataFrame, np.ndarray], challenger: Challenger
) -> None:
    features, _ = rows
    compiled = CompiledChallenger.compile(challenger)
    doc = compiled.to_dict()
    text = json.dumps(doc, allow_nan=False)
    loaded = CompiledChallenger.from_dict(json.loads(text))
    assert loaded.to_dict() == doc
    assert CompiledChallenger.from_json(compiled.to_json()).to_dict() == doc
    frame = probe(features)
    assert np.array_equal(loaded.raw_batch(frame), compiled.raw_batch(frame))
    with pytest.raises(Invalid):
        CompiledChallenger.from_dict({"kind": "scorecard"})


def test_loaded_challenger_equals_lightgbm(
    rows: tuple[pd.DataFrame, np.ndarray], challenger: Challenger
) -> None:
    features, _ = rows
    loaded = CompiledChallenger.from_json(CompiledChallenger(challenger).to_json())
    frame = probe(features)
    data = challenger.prepared(frame)
    raw = np.asarray(challenger.estimator_.predict(data, raw_score=True))
    bad = challenger.predict_proba(frame)[:, 1]
    contrib = np.asarray(challenger.estimator_.predict(data, pred_contrib=True))
    for form, given in input_forms(frame).items():
        assert np.allclose(loaded.raw_batch(given), raw, rtol=0, atol=1e-9), form
    assert np.allclose(loaded.pd_batch(frame), bad, rtol=0, atol=1e-9)
    mine = loaded.contrib_batch(frame)
    assert mine.shape == contrib.shape
    assert np.allclose(mine, contrib, rtol=0, atol=1e-9)
    assert np.allclose(mine.sum(axis=1), raw, rtol=0, atol=1e-9)
    for i, record in enumerate(records(frame)):
        assert abs(loaded.raw_one(record) - raw[i]) < 1e-9
        assert abs(loaded.pd_one(record) - bad[i]) < 1e-9
        if i % 50 == 0:
            assert np.allclose(loaded.contrib_one(record), contrib[i], rtol=0, atol=1e-9)
