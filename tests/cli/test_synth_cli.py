"""`purecredit synth` and `purecredit demo --no-serve` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.settings import get_settings
from purecredit.decide import store
from purecredit.score import registry
from purecredit.store.ledger import ledger_engine
from purecredit.synth.manifest import read_manifest

runner = CliRunner()


def test_synth_writes_a_county(tmp_path: Path) -> None:
    out = tmp_path / "c"
    result = runner.invoke(
        app, ["synth", "--people", "800", "--seed", "2", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    manifest = read_manifest(out / "manifest.json")
    assert manifest.people == 800 and manifest.seed == 2
    assert summary["sources"] == len(manifest.sources) >= 20
    assert (out / "truth" / "borrowers.parquet").is_file()


def test_synth_refuses_a_bad_flag(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "--people", "800", "--months", "12", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert not (tmp_path / "manifest.json").exists()


def test_demo_without_serving_builds_into_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        first = runner.invoke(app, ["demo", "--people", "800", "--no-serve"])
        assert first.exit_code == 0, first.output
        manifest = tmp_path / "county" / "manifest.json"
        assert read_manifest(manifest).people == 800
        stamp = manifest.stat().st_mtime_ns
        # ... ingested and profiled: everyone in the register has an online profile.
        with ledger_engine(get_settings()).connect() as connection:
            profiles = connection.execute(text("SELECT COUNT(*) FROM profile_person")).scalar()
        assert profiles is not None and profiles >= 800
        # 800 people hold too few defaults to train on: the demo says so, serves anyway, and
        # the registry is left empty rather than half filled.
        assert "no credit models trained: too few" in first.output
        assert registry.list_models(tmp_path) == []
        # The counter is ready: the bank's branches are in the ledger.
        assert len(store.branches(ledger_engine(get_settings()))) >= 20
        again = runner.invoke(app, ["demo", "--people", "800", "--no-serve"])
        assert again.exit_code == 0 and "already built" in again.output
        assert manifest.stat().st_mtime_ns == stamp
    finally:
        get_settings.cache_clear()
