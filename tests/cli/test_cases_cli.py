"""`purecredit case list|show|assign|update` and `purecredit warnings list` with --json, on a
ledger of their own (SQLite and PostgreSQL), with cases opened as the daily batch opens them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.settings import get_settings
from purecredit.decide import exposure
from purecredit.monitor.tables import create_tables
from purecredit.store.ledger import make_engine
from tests.monitor.test_cases import DAY, borrower, line_status, open_case

runner = CliRunner()


@pytest.fixture
def engine(
    fresh_ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", fresh_ledger_url)
    get_settings.cache_clear()
    engine = make_engine(fresh_ledger_url)
    create_tables(engine)
    exposure.create_tables(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_officer_works_a_case_from_the_command_line(engine: Engine) -> None:
    subject, line_id = borrower(engine, branch="B01")
    case_id = open_case(engine, subject, "pd_downgrade", branch="B01")
    other, _ = borrower(engine, branch="B02")
    red = open_case(engine, other, "court_enforcement", branch="B02")

    listed = _json(["case", "list", "--json"])
    assert isinstance(listed, list) and {c["case_id"] for c in listed} == {case_id, red}
    mine = _json(["case", "list", "--branch", "B01", "--status", "open", "--json"])
    assert [c["case_id"] for c in mine] == [case_id]
    assert _json(["case", "list", "--status", "closed", "--json"]) == []
    warned = _json(["warnings", "list", "--severity", "red", "--json"])
    assert [w["case_id"] for w in warned] == [red]
    assert _json(["warnings", "list", "--since", "2100-01-01", "--json"]) == []

    day = DAY.isoformat()
    assigned = _json(["case", "assign", case_id, "--to", "wang", "--by", "li", "--json"])
    assert assigned["assignee"] == "wang"
    for step in ("verify", "confirm"):
        done = _json(["case", "update", case_id, "--step", step, "--by", "wang", "--date", day,
                      "--note", "seen", "--json"])  # fmt: skip
    assert done["inspection"]["inspector"] == "officer:wang"
    acted = _json(["case", "update", case_id, "--step", "act", "--action", "freeze",
                   "--by", "wang", "--date", day, "--json"])  # fmt: skip
    assert acted["protected_amount"] == "70000.00"
    assert line_status(engine, line_id) == "frozen"
    shown = _json(["case", "show", case_id, "--json"])
    assert isinstance(shown, dict) and shown["status"] == "action"
    assert [s["actor"] for s in shown["steps"][1:]] == ["officer:li"] + ["officer:wang"] * 3
    assert all(s["on_day"] == day for s in shown["steps"][2:])
    # Plain output prints a table, not JSON.
    table = runner.invoke(app, ["case", "list"])
    assert table.exit_code == 0 and case_id in table.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["case", "update", "{case}", "--step", "close", "--by", "wang"], "cannot close"),
        (["case", "update", "{case}", "--step", "act", "--by", "wang"], "action"),
        (["case", "update", "{case}", "--step", "verify", "--by", "w", "--date", "3/2"], "date"),
        (["case", "update", "{case}", "--step", "verify", "--by", " "], "--by"),
        (["case", "show", "Cnone"], "no case"),
        (["case", "update", "{case}", "--step", "fly", "--by", "wang"], "fly"),
    ],
)
def test_a_refused_step_says_why_and_changes_nothing(
    engine: Engine, args: list[str], says: str
) -> None:
    subject, _ = borrower(engine)
    case_id = open_case(engine, subject, "pd_downgrade")
    result = runner.invoke(app, [a.replace("{case}", case_id) for a in args])
    assert result.exit_code != 0 and says in result.output
    shown = _json(["case", "show", case_id, "--json"])
    assert shown["status"] == "open" and len(shown["steps"]) == 1
