"""Monitoring's detectors on Spark (`monitor run --engine spark`): the same events, row for row
and to the last bit of every amount, as on DuckDB.

The small county (`tests/county.py`) with its January delivery ingested on 5 February; every
person and enterprise in it watched from the day before the county's first ingest, with the
parties within two hops of them in the ledger's graph, so every detector over the whole history
and the choice among several paths to one party are compared. Then the day's batch from the
command line, on each engine, for a few borrowers: the same events in the ledger.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.settings import Settings, get_settings
from purecredit.decide import exposure
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.monitor import detect
from purecredit.monitor.rules import load_rules
from purecredit.monitor.tables import monitor_events
from purecredit.monitor.watch import watch_table
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.store.spark import BatchSql, SparkSql
from purecredit.synth.later import build_later
from tests.county import CountyHome, copy_home

DAY = date(2026, 2, 5)  # the January delivery, known on its day
SINCE = date(2026, 1, 4)  # the day before the county's first ingest: its whole history is news
BORROWERS = 40  # for the command line's batch
BANK = Settings.model_fields["bank_institution_code"].default


@dataclass(frozen=True)
class Delivered:
    home: Path
    lake: Lake
    engine: Engine
    watch: pa.Table
    duck: pa.Table  # the events on DuckDB


def _detect(con: BatchSql, watch: pa.Table) -> pa.Table:
    return detect.detect(con, watch, DAY, load_rules().events, own_institution=BANK, illness=True)


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: (r["subject"], r["kind"], r["fact"]))


@pytest.fixture(scope="module")
def delivered(county_home: CountyHome, tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    home = tmp_path_factory.mktemp("detect") / "home"
    copy_home(county_home, home)
    settings = Settings(home=home)
    engine = ledger_engine(settings)
    lake, catalog = Lake(settings.home / "lake"), load_catalog()
    (january,) = build_later(county_home.county, 1)
    ingest_directory(
        january,
        catalog=catalog,
        lake=lake,
        protector=Protector.from_settings(settings, engine),
        observed_at=datetime.combine(DAY, datetime.min.time()),
    )
    with detect.prepare(lake, catalog) as con:
        parties = [
            row[0]
            for row in con.sql(
                "SELECT person FROM r_population_register WHERE person IS NOT NULL "
                "UNION SELECT enterprise FROM r_enterprise_registry WHERE enterprise IS NOT NULL"
            ).fetchall()
        ]
        watch = watch_table(engine, con, {p: ("branch", SINCE) for p in sorted(parties)})
        found = _detect(con, watch)
    return Delivered(settings.home, lake, engine, watch, found)


def test_the_detectors_find_the_same_events_on_spark(
    delivered: Delivered, spark_sql: SparkSql
) -> None:
    on_spark = _detect(
        detect.prepare(delivered.lake, load_catalog(), con=spark_sql), delivered.watch
    )
    duck_rows, spark_rows = _rows(delivered.duck), _rows(on_spark)
    assert on_spark.schema.names == delivered.duck.schema.names
    kinds = {r["kind"] for r in duck_rows}
    assert len(kinds) >= 6, kinds  # not vacuous: most detectors fire
    assert {r["hops"] for r in duck_rows} == {0, 1, 2}
    assert len(spark_rows) == len(duck_rows)
    for mine, theirs in zip(spark_rows, duck_rows, strict=True):
        assert mine == theirs  # amounts as floats, compared exactly


def _borrowers(found: pa.Table, n: int) -> list[str]:
    """Up to `n` subjects with events of as many kinds as there are, a few of each kind."""
    by_kind: dict[str, list[str]] = {}
    for row in _rows(found):
        if row["hops"] == 0 and row["subject"] not in by_kind.setdefault(row["kind"], []):
            by_kind[row["kind"]].append(row["subject"])
    chosen: list[str] = []
    while len(chosen) < n and any(by_kind.values()):
        for subjects in by_kind.values():
            while subjects and subjects[0] in chosen:
                subjects.pop(0)
            if subjects and len(chosen) < n:
                chosen.append(subjects.pop(0))
    return chosen


def _monitor(
    delivered: Delivered, where: Path, subjects: list[str], engine_name: str
) -> tuple[dict[str, Any], list[Any]]:
    """`monitor run` for `DAY` on a copy of the delivered home whose only borrowers are
    `subjects`, each with a line granted on `SINCE`: (its JSON, the events it recorded)."""
    home = where / "home"
    shutil.copytree(delivered.home, home)
    settings = Settings(home=home)
    engine = ledger_engine(settings)
    exposure.create_tables(engine)
    for subject in subjects:
        granted = exposure.grant(
            engine,
            subject=subject,
            legal_rep=None,
            product="parity",
            branch="B001",
            amount=Decimal(10_000),
            unified_limit=Decimal(10_000),
            decision_id=None,
        )
        assert granted.granted, granted
    with engine.begin() as connection:
        connection.execute(
            update(exposure.credit_lines).values(
                created_at=datetime.combine(SINCE, datetime.min.time())
            )
        )
    mp = pytest.MonkeyPatch()
    mp.setenv("PURECREDIT_HOME", str(home))
    mp.setenv("PURECREDIT_SPARK_MASTER", "local[2]")
    get_settings.cache_clear()
    try:
        args = ["monitor", "run", "--date", DAY.isoformat(), "--json", "--engine", engine_name]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    finally:
        mp.undo()
        get_settings.cache_clear()
    with engine.connect() as connection:
        events = connection.execute(select(monitor_events).order_by(monitor_events.c.event_key))
        rows = [tuple(r) for r in events.all()]
    engine.dispose()
    return json.loads(result.stdout), rows


def test_monitor_run_on_spark_records_what_duckdb_records(
    delivered: Delivered, spark_sql: SparkSql, tmp_path: Path
) -> None:
    subjects = _borrowers(delivered.duck, BORROWERS)
    assert len(subjects) == BORROWERS
    duck_run, duck_events = _monitor(delivered, tmp_path / "duckdb", subjects, "duckdb")
    spark_run, spark_events = _monitor(delivered, tmp_path / "spark", subjects, "spark")
    assert duck_run["borrowers"] == BORROWERS and duck_run["events"] > 0
    assert spark_run == duck_run
    assert spark_events == duck_events
