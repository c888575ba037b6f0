"""Later deliveries: a month's delivery never revises what was delivered before, carries the
world's new events, and ingesting it adds facts only for what is new."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from purecredit.core.errors import Invalid
from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import EXTRACTORS, build_county, stream_seed
from purecredit.synth.later import _xlsx_rows, build_later, config_from_manifest
from purecredit.synth.manifest import Manifest, read_manifest
from purecredit.synth.world import World, build_world

# Columns a monthly feed reports as of its extract date (a bill paid after the month end).
AS_OF = {
    "utility_payments": {"paid_on", "days_late"},
    "bank_repayments": {"paid_date", "paid_amount"},
}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    build_county(SynthConfig(people=600, seed=5), out)
    build_later(out, 2)
    return out


@pytest.fixture(scope="module")
def world(county: Path) -> World:
    return build_world(config_from_manifest(read_manifest(county / "manifest.json")))


def _manifest(path: Path) -> Manifest:
    return read_manifest(path / "manifest.json")


def _records(path: Path, fmt: str) -> list[object]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "xlsx":
        return list(_xlsx_rows(path)[1])
    return path.read_bytes().splitlines()


def test_copies_keep_every_record_delivered_before(county: Path) -> None:
    """Each copy is the previous one, record for record (defects included), then new rows."""
    later = county / "later"
    for prior_dir, delivery in (
        (county, later / "2026-01"),
        (later / "2026-01", later / "2026-02"),
    ):
        before, after = _manifest(prior_dir), _manifest(delivery)
        copies = [n for n, e in after.sources.items() if e.monthly_by is None]
        assert len(copies) >= 15
        for name in copies:
            entry, old = after.sources[name], before.sources[name]
            assert [f.path for f in entry.files] == [f.path for f in old.files]
            rel = entry.files[0].path
            prior = _records(prior_dir / rel, entry.format)
            assert _records(delivery / rel, entry.format)[: len(prior)] == prior, name
            assert entry.rows >= old.rows


def test_monthly_feeds_hold_only_their_month(county: Path) -> None:
    entries = _manifest(county / "later" / "2026-01").sources
    feeds = {n: e for n, e in entries.items() if e.monthly_by is not None and e.files}
    assert {"bank_deposits", "social_security", "credit_bureau_accounts"} <= set(feeds)
    for name, entry in feeds.items():
        assert [f.month for f in entry.files] == ["2026-01"], name
        assert entry.defects["late_arriving"] == 0


def test_extractors_do_not_revise_history(world: World) -> None:
    """A source's rows up to the study date are the same whatever month it is cut at."""
    study = world.cal.study_month
    end = pd.Timestamp(world.cal.month_end(study))
    for group, extract in EXTRACTORS:
        if group == "population":
            continue
        rng = (stream_seed(world.config.seed, group) for _ in range(2))
        bureau = group == "bureau"
        extra: list[int] | int = [study + 2] if bureau else study + 2
        first = {t.spec.name: t for t in extract(world, next(rng))}  # type: ignore[call-arg]
        months = [*_archive(world), study + 2] if bureau else extra
        later = {t.spec.name: t for t in extract(world, next(rng), months)}  # type: ignore[call-arg]
        for name, table in first.items():
            spec = table.spec
            cols = [c for c in spec.columns if c not in AS_OF.get(name, set())]
            old, new = table.frame[cols].astype(str), later[name].frame
            if spec.monthly_by is not None:
                new = new[pd.to_datetime(new[spec.monthly_by]).to_numpy() <= end.to_datetime64()]
            new = new[cols].astype(str)
            kept = old.merge(new.drop_duplicates(), how="left", indicator=True)
            lost = int((kept["_merge"] == "left_only").sum())
            # Registers may show a record's change (a case closed, a licence lapsed).
            assert lost <= (0 if spec.monthly_by else max(5, len(old) // 20)), (name, lost)


def _archive(world: World) -> list[int]:
    from purecredit.synth import bureau

    return bureau.report_months(world)


def test_a_court_case_after_the_study_date_appears_in_month_one(county: Path, world: World) -> None:
    events = world.keyed(world.events)
    filed = events[
        (events["kind"] == "enforcement") & (events["month"] == world.cal.study_month + 1)
    ]
    rel = "sources/court_enforcement/court_enforcement.jsonl"
    original = pd.read_json(county / rel, lines=True, dtype=str)
    later = pd.read_json(county / "later" / "2026-01" / rel, lines=True, dtype=str)
    debtors = later["被执行人身份证号码"].fillna(later["被执行人统一社会信用代码"])
    new = later[later["立案日期"].str.startswith("2026-01", na=False)]
    assert len(new) > 0
    assert set(debtors.loc[new.index]) & set(filed["key"])
    assert not original["立案日期"].str.startswith("2026", na=False).any()


def test_ingesting_a_later_delivery_adds_only_new_facts(county: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    engine = ledger_engine(settings)
    lake, catalog = Lake(tmp_path / "lake"), load_catalog()
    protector = Protector.from_settings(settings, engine)

    def ingest(root: Path, day: datetime) -> dict[str, int]:
        report = ingest_directory(
            root, catalog=catalog, lake=lake, protector=protector, observed_at=day
        )
        assert not report.unmatched_files
        return {name: r.facts for name, r in report.sources.items()}

    ingest(county, datetime(2026, 1, 5))
    delivery = county / "later" / "2026-01"
    added = ingest(delivery, datetime(2026, 2, 5))
    before, after = _manifest(county).sources, _manifest(delivery).sources
    unchanged = [n for n, e in after.items() if e.monthly_by is None and e.rows == before[n].rows]
    assert "bank_branches" in unchanged
    for name in unchanged:
        assert added.get(name, 0) == 0, name
    grown = [n for n, e in after.items() if e.monthly_by is None and e.rows > before[n].rows]
    assert grown
    for name in grown:  # only the new rows' records, each a handful of facts
        new_rows = after[name].rows - before[name].rows
        width = len(after[name].columns)
        assert 0 < added.get(name, 0) <= new_rows * width, name
    assert added["bank_deposits"] > 0
    assert not any(ingest(delivery, datetime(2026, 2, 6)).values())  # nothing new twice
    engine.dispose()


@pytest.mark.parametrize("months", [0, 37])
def test_months_past_the_horizon_are_refused(county: Path, months: int) -> None:
    with pytest.raises(Invalid, match="months"):
        build_later(county, months)


def test_changed_months_draw_apart(world: World) -> None:
    """Two later months do not repeat one another's draws."""
    from purecredit.synth.sources import month_rng

    first, second = (month_rng(world, "herb_prices", m).random(4) for m in (48, 49))
    assert not np.allclose(first, second)
