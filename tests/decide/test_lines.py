"""A credit line's lifecycle on SQLite and PostgreSQL: frozen lines keep their place in the
unified limit but take no drawdown, no increase and no second line; reductions never go below
what is drawn; expired and closed lines free the limit; every change is an event with its
cause, and a refused change writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import Conflict, Invalid, NotFound
from purecredit.core.settings import get_settings
from purecredit.decide import exposure as ex
from purecredit.decide import lines
from purecredit.store.ledger import ledger_engine, make_engine

PERSON = "id:" + "c3" * 16
D = Decimal


@pytest.fixture
def engine(fresh_ledger_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_ledger_url)
    ex.create_tables(engine)
    yield engine
    engine.dispose()


def _grant(engine: Engine, amount: str = "50000", product: str = "household", **kw: Any) -> Any:
    return ex.grant(engine, subject=PERSON, legal_rep=None, product=product, branch="B01",
                    amount=D(amount), unified_limit=D("100000"), decision_id="D1",
                    **kw)  # fmt: skip


def _rows(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(str(v) for v in r) for r in conn.execute(select(t)).all())
            for t in ex.metadata.sorted_tables
        }


def test_a_frozen_line_counts_but_takes_no_drawdown_increase_or_second_line(
    engine: Engine,
) -> None:
    line = _grant(engine).line_id
    frozen = lines.move(engine, line, "frozen", cause="warning:W1")
    assert frozen.changed and (frozen.status_before, frozen.status) == ("active", "frozen")
    refused = ex.draw(engine, line_id=line, amount=D("1"), branch="B01")
    assert not refused.drawn and refused.reason == "line_frozen" and refused.available == 0
    again = _grant(engine, "60000", up_to=D("60000"))  # a new decision for the same product
    assert not again.granted and again.reason == "line_frozen" and again.line_id == line
    # Its 50,000 still count: another product gets at most the other 50,000.
    assert not _grant(engine, "60000", product="business").granted
    assert _grant(engine, "50000", product="business").granted
    report = ex.exposure(engine, PERSON)
    assert report["granted"] == "100000.00" and report["available"] == "0.00"
    thawed = lines.move(engine, line, "unfrozen", cause="officer:wang")
    assert thawed.status == "active"
    assert ex.draw(engine, line_id=line, amount=D("100"), branch="B01").drawn


def test_reduce_never_below_drawn_nor_above_the_limit(engine: Engine) -> None:
    line = _grant(engine).line_id
    assert ex.draw(engine, line_id=line, amount=D("20000"), branch="B01").drawn
    before = _rows(engine)
    with pytest.raises(Invalid, match="drawn") as low:
        lines.reduce(engine, line, D("19999.99"), cause="officer:wang")
    assert low.value.field == "limit"
    with pytest.raises(Invalid, match="decision"):
        lines.reduce(engine, line, D("50000.01"), cause="officer:wang")
    assert _rows(engine) == before  # refused: nothing written, not even an event
    cut = lines.reduce(engine, line, D("30000"), cause="warning:W7")
    assert cut.changed and (cut.limit_before, cut.limit) == (D("50000.00"), D("30000.00"))
    over = ex.draw(engine, line_id=line, amount=D("10000.01"), branch="B01")
    assert not over.drawn and over.available == D("10000.00")
    assert ex.exposure(engine, PERSON)["granted"] == "30000.00"


def test_expired_and_closed_lines_free_the_unified_limit(engine: Engine) -> None:
    line = _grant(engine, "100000").line_id
    assert not _grant(engine, "1", product="business").granted
    assert lines.move(engine, line, "expired", cause="system:eod").status == "expired"
    assert ex.draw(engine, line_id=line, amount=D("1"), branch="B01").reason == "line_expired"
    assert _grant(engine, "100000", product="business").granted
    assert lines.move(engine, line, "closed", cause="officer:li").status == "closed"
    with pytest.raises(Conflict):
        lines.move(engine, line, "unfrozen", cause="officer:li")  # a closed line stays closed


def test_every_change_is_an_event_with_its_cause_and_repeats_are_harmless(
    engine: Engine,
) -> None:
    line = _grant(engine, "40000").line_id
    _grant(engine, "45000", up_to=D("45000"))  # an increase by a new decision
    lines.move(engine, line, "frozen", cause="warning:W9")
    assert not lines.move(engine, line, "frozen", cause="warning:W9").changed
    lines.reduce(engine, line, D("10000"), cause="officer:zhao")
    lines.move(engine, line, "closed", cause="officer:zhao")
    events = lines.history(engine, line)
    assert [(e["event"], e["status"], e["limit"], e["cause"]) for e in events] == [
        ("granted", "active", "40000.00", "decision:D1"),
        ("increased", "active", "45000.00", "decision:D1"),
        ("frozen", "frozen", "45000.00", "warning:W9"),
        ("reduced", "frozen", "10000.00", "officer:zhao"),
        ("closed", "closed", "10000.00", "officer:zhao"),
    ]


def test_bad_changes_are_named_and_write_nothing(engine: Engine) -> None:
    line = _grant(engine).line_id
    before = _rows(engine)
    with pytest.raises(Invalid) as no_cause:
        lines.move(engine, line, "frozen", cause="someone")
    assert no_cause.value.field == "cause"
    with pytest.raises(Invalid) as bad_event:
        lines.move(engine, line, "melted", cause="officer:li")
    assert bad_event.value.field == "event"
    with pytest.raises(NotFound):
        lines.move(engine, "Lnone", "frozen", cause="officer:li")
    assert not lines.move(engine, line, "unfrozen", cause="officer:li").changed  # not frozen
    assert _rows(engine) == before


def test_the_cli_changes_a_line_and_shows_its_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    get_settings.cache_clear()
    engine = ledger_engine(get_settings())
    ex.create_tables(engine)
    line = _grant(engine).line_id
    runner = CliRunner()
    frozen = runner.invoke(app, ["line", "freeze", line, "--cause", "officer:wang", "--json"])
    assert frozen.exit_code == 0, frozen.output
    assert json.loads(frozen.output)["status"] == "frozen"
    cut = runner.invoke(app, ["line", "reduce", line, "--to", "abc", "--cause", "officer:wang"])
    assert cut.exit_code != 0 and "to" in cut.output
    shown = runner.invoke(app, ["line", "history", line, "--json"])
    assert [e["event"] for e in json.loads(shown.output)] == ["granted", "frozen"]
    engine.dispose()
    get_settings.cache_clear()
