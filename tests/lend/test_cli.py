"""`purecredit eod`, `ledger check` and `loan show`, and a real kill -9 of an end of day."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from purecredit.cli.lend import app
from purecredit.core.settings import get_settings
from purecredit.lend import eod
from purecredit.lend.bulk import import_book
from purecredit.lend.tables import create_tables, loans
from purecredit.store.ledger import make_engine
from tests.lend.conftest import dump, restore
from tests.lend.test_eod import FIRST, small_book


@pytest.fixture
def env(fresh_ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", fresh_ledger_url)
    get_settings.cache_clear()
    yield fresh_ledger_url
    get_settings.cache_clear()


def test_eod_check_and_show_from_the_command_line(env: str) -> None:
    engine = make_engine(env)
    create_tables(engine)
    ids = import_book(engine, small_book(8), reference="t")
    runner = CliRunner()
    ran = runner.invoke(app, ["eod", "--date", FIRST.isoformat(), "--json"])
    assert ran.exit_code == 0, ran.output
    shown = json.loads(ran.stdout)
    assert shown["loans"] == 8 and shown["already_done"] is False
    assert shown["npl_ratio"] == "0.0000000000"  # fixed point, never "0E-10"
    assert set(shown["by_category"]) == {
        "normal",
        "special_mention",
        "substandard",
        "doubtful",
        "loss",
    }
    again = json.loads(runner.invoke(app, ["eod", "--date", FIRST.isoformat(), "--json"]).stdout)
    assert again["already_done"] is True
    checked = runner.invoke(app, ["ledger", "check", "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["balanced"] is True
    loan = json.loads(runner.invoke(app, ["loan", "show", ids[0], "--json"]).stdout)
    assert loan["loan_id"] == ids[0] and loan["as_of"] == FIRST.isoformat() and loan["schedule"]
    missing = runner.invoke(app, ["loan", "show", "nope"])
    assert missing.exit_code == 1 and "nope" in missing.output
    with engine.begin() as c:
        c.execute(update(loans).where(loans.c.loan_id == ids[0]).values(penalty_paid=7))
    broken = runner.invoke(app, ["ledger", "check", "--json"])
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["first_break"].startswith("penalty_receivable")
    engine.dispose()


def test_a_kill_9_mid_run_then_a_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = make_engine(url)
    create_tables(engine)
    import_book(engine, small_book(600), reference="t")
    eod.run_eod(engine, FIRST)
    saved = dump(engine, full=True)
    day = FIRST + timedelta(days=1)
    env = os.environ | {"PURECREDIT_HOME": str(tmp_path / "home"), "PURECREDIT_DATABASE_URL": url}
    command = [sys.executable, "-m", "purecredit.cli.lend", "eod", "--date", str(day)]
    child = subprocess.Popen(
        [*command, "--chunk", "2", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stepped, deadline = 0, time.monotonic() + 60
    while stepped < 50 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
        with engine.connect() as c:
            stepped = c.execute(select(func.count()).where(loans.c.as_of == day)).scalar_one()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = eod.run_eod(engine, day, chunk=2)
    interrupted = dump(engine)
    restore(engine, saved)
    assert eod.run_eod(engine, day).to_dict() == resumed.to_dict()
    assert dump(engine) == interrupted
    engine.dispose()
