"""`purecredit profile build` and `show`: the profile is found by resident ID or USCC, and no
plain ID number, name or phone is ever printed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.masking import mask_resident_id
from purecredit.core.settings import get_settings
from tests.profile.conftest import AS_OF, Profiled

runner = CliRunner()


@pytest.fixture
def home(profiled: Profiled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy = tmp_path / "home"
    shutil.copytree(profiled.home, copy)
    monkeypatch.setenv("PURECREDIT_HOME", str(copy))
    get_settings.cache_clear()
    yield copy
    get_settings.cache_clear()


def test_show_prints_the_profile_masked(profiled: Profiled, home: Path) -> None:
    built = runner.invoke(app, ["profile", "build", "--as-of", AS_OF.isoformat()])
    assert built.exit_code == 0, built.output
    assert "person" in built.output and "utility_payments" in built.output

    register = pd.read_parquet(
        profiled.county / "sources/population_register/population_register.parquet"
    )
    person = register[register["公民身份号码"].str.fullmatch(r"\d{17}[\dX]")].iloc[3]
    plain_id, name, phone = person["公民身份号码"], person["姓名"], person["联系电话"]

    shown = runner.invoke(app, ["profile", "show", plain_id])
    assert shown.exit_code == 0, shown.output
    assert mask_resident_id(plain_id) in shown.output
    for secret in (plain_id, name, phone):
        assert secret not in shown.output

    as_json = runner.invoke(app, ["profile", "show", plain_id, "--json"])
    body = json.loads(as_json.output)
    assert body["subject"] == mask_resident_id(plain_id)
    assert body["identity"]["sex"] == person["性别"]
    for secret in (plain_id, name, phone):
        assert secret not in as_json.output


def test_related_lists_parties_with_people_masked(profiled: Profiled, home: Path) -> None:
    assert runner.invoke(app, ["profile", "build", "--as-of", AS_OF.isoformat()]).exit_code == 0
    registry = pd.read_csv(
        profiled.county / "sources/enterprise_registry/enterprise_registry.csv",
        encoding="gbk", dtype=str, on_bad_lines="skip", encoding_errors="replace",
    )  # fmt: skip
    firm = registry.dropna(subset=["法定代表人身份证件号码"]).iloc[0]
    result = runner.invoke(app, ["profile", "related", firm["统一社会信用代码"]])
    assert result.exit_code == 0, result.output
    representative = firm["法定代表人身份证件号码"]
    assert mask_resident_id(representative) in result.output
    assert representative not in result.output and "has_legal_rep" in result.output


def test_show_rejects_what_is_neither_an_id_nor_a_uscc(home: Path) -> None:
    result = runner.invoke(app, ["profile", "show", "341602199001011230"])  # bad check digit
    assert result.exit_code == 2
    assert "341602********1230" in result.output and "check digit" in result.output
