"""The model registry: fit and register on German credit, load verifies, versions and
champion, and the `purecredit model` commands over it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.settings import get_settings
from purecredit.score import registry

runner = CliRunner()


@pytest.fixture(scope="module")
def registered(
    german: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> registry.RegisteredModel:
    home = tmp_path_factory.mktemp("home")
    result, models = registry.fit_and_register(
        german, "creditability", home=home, segment="german", bad="bad"
    )
    # Both models are registered, in the order scorecard, LightGBM; the CV champion is marked.
    assert [(m.version, m.kind) for m in models] == [("v1", "scorecard"), ("v2", "lightgbm")]
    best = {"scorecard": "v1", "lightgbm": "v2"}[result.champion]
    assert registry.champion(home, "german") == best
    for m in models:
        assert m.metrics["cv_auc"] == result.models[m.kind].cv_auc
    return models[0]


@pytest.fixture
def home(
    registered: registry.RegisteredModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh home holding a copy of the registered German credit model, as PURECREDIT_HOME."""
    copy = tmp_path / "home"
    source = registered.path.parent
    target = copy / "models" / "german" / "v1"
    target.mkdir(parents=True)
    (target / registry.MODEL_FILE).write_bytes((source / registry.MODEL_FILE).read_bytes())
    (target.parent / registry.CHAMPION_FILE).write_text(json.dumps({"version": "v1"}))
    monkeypatch.setenv("PURECREDIT_HOME", str(copy))
    get_settings.cache_clear()
    yield copy
    get_settings.cache_clear()


def _columns(german: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: german[c].to_numpy() for c in german.columns if c != "creditability"}


def test_registered_record(registered: registry.RegisteredModel) -> None:
    doc = registered.doc
    assert registered.version == "v1"
    assert set(doc["metrics"]) == {"cv_auc", "cv_ks", "oot_auc", "oracle_auc"}
    assert doc["metrics"]["cv_auc"] > 0.78
    assert doc["metrics"]["oot_auc"] is None
    assert doc["data_hash_of"] == "csv dump of frame"
    assert len(doc["data_sha256"]) == 64
    assert doc["features"] == registered.scorer.names
    assert len(doc["master_scale"]) == 12
    assert doc["package_version"]
    assert registry.champion(registered.path.parents[3], "german") == "v1"


def test_load_scores_as_registered(
    registered: registry.RegisteredModel, german: pd.DataFrame
) -> None:
    home = registered.path.parents[3]
    loaded = registry.load(home, "german", "v1")
    columns = _columns(german)
    assert np.array_equal(
        loaded.scorer.score_batch(columns), registered.scorer.score_batch(columns)
    )
    assert np.array_equal(loaded.pd_batch(columns), registered.pd_batch(columns))
    assert loaded.content_hash == registered.content_hash
    assert registry.content_hash(loaded.doc) == loaded.content_hash
    # The champion is what `load` gives without a version.
    assert registry.load(home, "german").version == "v1"


def test_tampered_file_fails_to_load(home: Path) -> None:
    path = home / "models" / "german" / "v1" / registry.MODEL_FILE
    doc = json.loads(path.read_text())
    doc["scorer"]["intercept"] += 0.01
    path.write_text(json.dumps(doc))
    with pytest.raises(Invalid, match="content check") as caught:
        registry.load(home, "german", "v1")
    assert str(path) in str(caught.value)


def test_second_version_and_promote(
    home: Path, registered: registry.RegisteredModel, german: pd.DataFrame
) -> None:
    second = registry.register(
        home,
        "german",
        scorer=registered.scorer,
        calibrator=registered.calibrator,
        metrics={"cv_auc": 0.5, "cv_ks": 0.1},
        data_sha256=registry.frame_sha256(german),
        data_hash_of="csv dump of frame",
    )
    assert second.version == "v2"
    assert registry.champion(home, "german") == "v1"
    listed = {m["version"]: m["champion"] for m in registry.list_models(home)}
    assert listed == {"v1": True, "v2": False}
    registry.promote(home, "german", "v2")
    assert registry.champion(home, "german") == "v2"
    assert registry.load(home, "german").version == "v2"
    with pytest.raises(NotFound):
        registry.promote(home, "german", "v3")
    with pytest.raises(Invalid):
        registry.load(home, "../etc", "v1")


def test_cli_list_show_promote(home: Path) -> None:
    listed = runner.invoke(app, ["model", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    models = json.loads(listed.output)
    assert len(models) == 1
    assert {"segment", "version", "champion", "metrics"} <= set(models[0])
    assert models[0]["champion"] is True
    assert {"cv_auc", "cv_ks", "oot_auc", "oracle_auc"} <= set(models[0]["metrics"])
    shown = runner.invoke(app, ["model", "show", "german", "--json"])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["version"] == "v1" and len(summary["content_hash"]) == 64
    assert runner.invoke(app, ["model", "show", "german", "v1"]).exit_code == 0
    promoted = runner.invoke(app, ["model", "promote", "german", "v1"])
    assert promoted.exit_code == 0, promoted.output


def test_cli_fit_save_registers(
    german: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        table = tmp_path / "german.csv"
        german.to_csv(table, index=False)
        args = ["model", "fit", "--table", str(table), "--target", "creditability"]
        fitted = runner.invoke(app, [*args, "--bad", "bad", "--save", "german"])
        assert fitted.exit_code == 0, fitted.output
        model = registry.load(tmp_path / "home", "german")
        assert model.version == "v1"
        assert model.doc["data_sha256"] == registry.file_sha256(table)
        assert model.doc["data_hash_of"] == "file bytes"
    finally:
        get_settings.cache_clear()


def test_cli_reports_a_missing_version(home: Path) -> None:
    result = runner.invoke(app, ["model", "promote", "german", "v9"])
    assert result.exit_code == 1
    assert "no model german/v9" in result.output
