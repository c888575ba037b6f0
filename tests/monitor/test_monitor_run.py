"""Monitoring over the small county's book (`tests/county.py`): two months played forward with
the county's January delivery arriving on 5 February, profiles rebuilt and the day's batch
run on a copy of the home. Events are news (known after the borrower's line and by the day),
every warning opens a case at the borrower's branch, red warnings freeze the undrawn limit,
a rerun raises nothing, and deliveries arriving in either order give the same facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.settings import Settings
from purecredit.decide import exposure
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.lend.play import PlayConfig
from purecredit.monitor import detect
from purecredit.monitor.evaluate import evaluate, replay
from purecredit.monitor.kinds import KINDS
from purecredit.monitor.play import MonitoredPlay
from purecredit.monitor.rules import load_rules
from purecredit.monitor.run import run_monitor
from purecredit.monitor.tables import OPEN_STATUSES, case_steps, cases, monitor_events, warnings
from purecredit.monitor.watch import borrowers
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.later import build_later
from tests.county import CountyHome, copy_home

DELIVERED = date(2026, 2, 5)


@dataclass
class Monitored:
    settings: Settings
    engine: Engine
    report: dict[str, Any]
    home: Path


def _home(county_home: CountyHome, where: Path, rules: Path | None = None) -> Settings:
    """A copy of the county's home (lake, keys, models) with its pristine ledger."""
    home = where / "home"
    copy_home(county_home, home)
    return Settings(home=home, monitor_rules=None if rules is None else str(rules))


def _red_first(where: Path) -> Path:
    """The packaged rules with a red, freezing rule for every kind first: a county of a few
    dozen new borrowers may see no red fact in a month, and the freeze must be exercised."""
    text = (files("purecredit.monitor") / "rules" / "2026.1.yaml").read_text(encoding="utf-8")
    catch_all = (
        f"  - {{id: W00, kinds: [{', '.join(KINDS)}], max_hops: 2, severity: red, "
        "suggested: recall, auto: [freeze]}\n"
    )
    path = where / "red-first.yaml"
    path.write_text(text.replace("rules:\n", "rules:\n" + catch_all), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def later(county_home: CountyHome) -> list[Path]:
    return build_later(county_home.county, 2)


@pytest.fixture(scope="module")
def monitored(
    county_home: CountyHome, later: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Monitored:
    where = tmp_path_factory.mktemp("monitored")
    settings = _home(county_home, where, _red_first(where))
    engine = ledger_engine(settings)
    game = MonitoredPlay(Counter(settings, engine), county_home.county, PlayConfig(2, 300, 3))
    assert game.deliveries() == ["2026-01"]
    report = game.run()
    return Monitored(settings, engine, report, settings.home)


def _rows(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table)).all())


def test_the_batch_raises_news_about_borrowers(monitored: Monitored) -> None:
    runs = monitored.report["monitoring"]["runs"]
    assert [r["day"] for r in runs] == [DELIVERED.isoformat()]
    events = _rows(monitored.engine, monitor_events)
    assert len(events) == runs[0]["events"] > 0
    since = {s: first for s, (_, first) in borrowers(monitored.engine, DELIVERED).items()}
    for event in events:
        assert event.kind in KINDS
        assert since[event.subject] < event.known_at <= DELIVERED
        assert 0 <= event.hops <= 2 and (event.hops == 0) == (event.party == event.subject)
    # The January delivery carries bureau reports, deposits and registers: more than one kind.
    assert len({e.kind for e in events}) >= 2


def test_every_warning_opens_one_case_at_the_borrowers_branch(monitored: Monitored) -> None:
    raised = _rows(monitored.engine, warnings)
    opened = {c.case_id: c for c in _rows(monitored.engine, cases)}
    assert raised and len(raised) == len(opened)
    branches = {s: b for s, (b, _) in borrowers(monitored.engine, DELIVERED).items()}
    rules = load_rules(monitored.settings.monitor_rules)
    keyed = {e.event_key: e for e in _rows(monitored.engine, monitor_events)}
    for warning in raised:
        case = opened[warning.case_id]
        event = keyed[warning.event_key]
        rule = rules.first_match(event.kind, event.hops)
        assert rule is not None and rule.id == warning.rule == case.cause
        assert case.subject == warning.subject and case.branch == branches[case.subject]
        assert case.status in OPEN_STATUSES and case.severity == rule.severity
    causes = [(c.subject, c.cause) for c in opened.values()]
    assert len(causes) == len(set(causes)), "one open case per borrower and cause"


def test_a_red_warning_freezes_the_undrawn_limit(monitored: Monitored) -> None:
    rules = load_rules(monitored.settings.monitor_rules)
    red = [w for w in _rows(monitored.engine, warnings) if "freeze" in rules.rule(w.rule).auto]
    assert red and all(w.rule == "W00" for w in red)
    steps = {s.case_id: s for s in _rows(monitored.engine, case_steps) if s.step == "frozen"}
    lines = _rows(monitored.engine, exposure.credit_line_events)
    by_case = {c.case_id: c for c in _rows(monitored.engine, cases)}
    frozen = 0
    for warning in red:
        froze = [e for e in lines if e.cause == f"warning:{warning.warning_id}"]
        case = by_case[warning.case_id]
        assert all(e.event == "frozen" and e.status == exposure.FROZEN for e in froze)
        frozen += len(froze)
        # The undrawn limit frozen is what the case protected: none when fully drawn. (The
        # book played on after the freeze, so repayments have since lowered what is drawn.)
        limits = sum(e.limit for e in froze)
        assert 0 <= case.protected_amount <= limits
        if case.protected_amount:
            assert steps[case.case_id].amount == case.protected_amount
        else:
            assert case.case_id not in steps
    assert frozen > 0


def test_a_rerun_raises_nothing_new(monitored: Monitored) -> None:
    before = {t.name: len(_rows(monitored.engine, t)) for t in (monitor_events, warnings, cases)}
    again = run_monitor(monitored.settings, monitored.engine, DELIVERED)
    assert (again.events, again.warnings, again.cases) == (0, 0, 0)
    after = {t.name: len(_rows(monitored.engine, t)) for t in (monitor_events, warnings, cases)}
    assert after == before


def test_the_cli_reruns_the_day_as_json(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(monitored.home))
    from purecredit.core.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["monitor", "run", "--date", "2026-02-05", "--json"])
        assert result.exit_code == 0, result.output
        assert '"events": 0' in result.stdout and '"warnings": 0' in result.stdout
        bad = CliRunner().invoke(app, ["monitor", "run", "--date", "2026-02-30"])
        assert bad.exit_code == 1 and "date" in bad.output
    finally:
        get_settings.cache_clear()


def _facts_in_order(
    county_home: CountyHome, later: list[Path], where: Path, order: list[int]
) -> set[tuple[str, str, str]]:
    """Every event fact about anyone in the county after ingesting the deliveries in `order`."""
    settings = _home(county_home, where)
    engine = ledger_engine(settings)
    lake, catalog = Lake(settings.home / "lake"), load_catalog()
    protector = Protector.from_settings(settings, engine)
    for k, i in enumerate(order):
        ingest_directory(later[i], catalog=catalog, lake=lake, protector=protector,
                         observed_at=datetime(2026, 3, 1 + k))  # fmt: skip
    con = detect.prepare(lake, catalog)
    parties = [r[0] for r in con.sql("SELECT DISTINCT person FROM r_population_register "
                                     "WHERE person IS NOT NULL").fetchall()]  # fmt: skip
    watch = pa.table({
        "subject": parties, "party": parties, "hops": pa.array([0] * len(parties), pa.int32()),
        "relation": ["self"] * len(parties), "since": [date(2026, 1, 5)] * len(parties),
    })  # fmt: skip
    found = detect.detect(con, watch, date(2026, 3, 31), load_rules().events,
                          own_institution=settings.bank_institution_code, illness=True)  # fmt: skip
    return {(r["subject"], r["kind"], r["fact"]) for r in found.to_pylist()}


def test_deliveries_in_either_order_give_the_same_facts(
    county_home: CountyHome, later: list[Path], tmp_path: Path
) -> None:
    forward = _facts_in_order(county_home, later, tmp_path / "a", [0, 1])
    backward = _facts_in_order(county_home, later, tmp_path / "b", [1, 0])
    assert forward and forward == backward
    kinds = {kind for _, kind, _ in forward}
    assert {"overdue_elsewhere", "contributions_stopped"} <= kinds, kinds


def test_replaying_the_rules_over_the_events_gives_the_warnings_raised(
    monitored: Monitored,
) -> None:
    rules = load_rules(monitored.settings.monitor_rules)
    raised = sorted((w.subject, w.rule, w.raised_on) for w in _rows(monitored.engine, warnings))
    assert replay(monitored.engine, rules) == raised
    # Other rules over the same events: none of the catch-all W00, the packaged ones instead.
    packaged = replay(monitored.engine, load_rules())
    assert packaged and {rule for _, rule, _ in packaged} <= {r.id for r in load_rules().rules}
    figures = evaluate(monitored.engine, load_rules())
    assert figures["rules"] == "replayed: 2026.1" and figures["warnings"] == len(packaged)
