"""Policy simulation on the small county: every application decided by each policy, figures
that add up, loans played forward in the county's world (checked against its truth), the
true-PD policy beside them, nothing written; and the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.decide import store
from purecredit.decide.applications import Ask, month_of_walk_ins, outlets_of, write_asks
from purecredit.decide.policy import load_policy
from purecredit.decide.simulate import Outcomes, prepare, simulate
from purecredit.synth.manifest import read_manifest
from tests.county import AS_OF, Desk


@pytest.fixture(scope="module")
def month(desk: Desk) -> list[Ask]:
    outlets = outlets_of(desk.counter)
    return month_of_walk_ins(desk.county, outlets, "2026-01", count=1200, from_day=AS_OF)


def _decisions(desk: Desk) -> int:
    with desk.counter.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(store.DECISIONS)).scalar())


def test_every_application_is_decided_by_each_policy_and_the_figures_add_up(
    desk: Desk, month: list[Ask]
) -> None:
    before = _decisions(desk)
    policies = [load_policy("default"), load_policy("challenger")]
    result = simulate(desk.counter, month, policies, desk.county)
    assert _decisions(desk) == before  # a simulation writes nothing
    assert result["simulated"] + result["repeats"] + sum(result["errors"].values()) == len(month)
    assert result["repeats"] > 0  # 1,200 from a county of 6,000: some come back
    assert result["played_forward"]
    assert [r["policy"] for r in result["policies"]] == [p.version for p in policies]
    for r in result["policies"]:
        everything = r["all"]
        assert everything["applications"] == result["simulated"]
        assert (everything["approved"] + everything["referred"] + everything["declined"]
                == everything["applications"])  # fmt: skip
        products = r["by_product"].values()
        assert sum(p["approved"] for p in products) == everything["approved"]
        for product, grades in r["by_grade"].items():
            assert (
                sum(g["applications"] for g in grades.values())
                == (r["by_product"][product]["applications"])
            )
        assert 0 < everything["approved"] < everything["applications"]
        # The policy lends to the less risky: those it declines default more often.
        assert everything["realised_default_rate"] < everything["declined_default_rate"]
        truth = r["true_pd_12m"]
        assert truth["approved"] == everything["approved"]
        assert truth["approval_rate"] == everything["approval_rate"]
    curve = result["frontier"]
    assert curve["approval_rate"][-1] == 1.0
    assert curve["model"][-1] == curve["true_pd_12m"][-1]  # approving all, the same loans


def test_loans_are_played_forward_for_the_right_borrower(desk: Desk, month: list[Ask]) -> None:
    """A loan granted in January defaults in the world exactly when its borrower was to default
    in the 12 months after the study date: the world's key is the applicant's."""
    cases = prepare(desk.counter, month).cases
    defaulted = Outcomes(desk.county).defaulted(cases)
    manifest = read_manifest(desk.county / "manifest.json")
    truth = pd.read_parquet(desk.county / manifest.truth["borrowers"]).set_index("entity_key")
    will = truth["default_12m"].reindex([c.entity for c in cases]).to_numpy()
    assert (will == 1).sum() >= 10
    assert defaulted[will == 1].mean() > 0.8
    assert defaulted[will == 0].mean() < 0.05


def test_repeats_and_what_cannot_be_decided_are_counted(desk: Desk, month: list[Ask]) -> None:
    first = next(a for a in month if a.product == "household")
    when = first.received_at
    other = next(p for p in desk.people["resident_id"] if p != first.identifier)
    asks = [
        first,
        Ask(first.identifier, "household", 30_000, first.branch, when),  # a repeat
        Ask("110101199001011234", "household", 30_000, first.branch, when),  # bad check digit
        Ask(first.identifier, "enterprise", 300_000, first.branch, when),  # wrong product
        Ask(other, "household", 30_000, first.branch, datetime(2025, 6, 1, tzinfo=UTC)),
    ]
    result = simulate(desk.counter, asks, [load_policy()], desk.county)
    assert result["repeats"] == 1
    assert result["errors"] == {
        "identifier does not read": 1,
        "received before the profiles' date": 1,
    }
    # The product for firms, asked by a person, is decided as an error, not counted.
    assert result["simulated"] == 2 and result["policies"][0]["all"]["applications"] == 1


def test_applications_too_late_for_the_world_are_not_played_forward(desk: Desk) -> None:
    last = Outcomes(desk.county).forward.last_day()
    late = datetime(last.year, last.month, 1, 10, tzinfo=UTC)
    person = desk.people["resident_id"].iloc[0]
    asks = [Ask(person, "household", 30_000, "341602001", late)]
    result = simulate(desk.counter, asks, [load_policy()], desk.county)
    assert result["simulated"] == 1 and not result["played_forward"]
    assert "realised_default_rate" not in result["policies"][0]["all"]
    assert result["frontier"] is None


def test_the_command_line(desk: Desk, month: list[Ask], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("PURECREDIT_HOME", str(desk.home))
    from purecredit.core.settings import get_settings

    get_settings.cache_clear()
    path = tmp_path / "month.jsonl"
    write_asks(path, month[:300])
    chart = tmp_path / "frontier.png"
    runner = CliRunner()
    args = ["simulate", "--policy", "default", "--vs", "challenger", "--applications",
            str(path), "--county", str(desk.county)]  # fmt: skip
    done = runner.invoke(app, [*args, "--json", "--chart", str(chart)])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["applications"] == 300 and len(result["policies"]) == 2
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0 and "household" in shown.output
    wrong = runner.invoke(app, [*args[:2], "nosuch", *args[3:]])
    assert wrong.exit_code == 1 and "no packaged policy" in wrong.output
    get_settings.cache_clear()
