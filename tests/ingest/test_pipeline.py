"""A whole county ingests with every count reconciled and the declared defects found."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from purecredit.ingest.crosscheck import conflict_summary
from purecredit.ingest.pipeline import IngestReport
from purecredit.store.lake import Lake
from purecredit.synth.manifest import Manifest
from tests.ingest.conftest import run_ingest

Ingested = tuple[Path, Manifest, IngestReport, Lake, Path]
UNREADABLE_OR_INVALID = ("bad_checksum", "impossible_date", "wrong_column_count", "bad_encoding")


def test_every_source_reconciles_and_defects_are_found(ingested: Ingested) -> None:
    _, manifest, report, _, _ = ingested
    assert set(report.sources) == set(manifest.sources)
    for name, entry in manifest.sources.items():
        got = report.sources[name]
        assert got.read == got.landed + got.quarantined + got.duplicates, name
        assert got.read == entry.rows, name
        declared = entry.defects
        assert got.quarantined == sum(declared.get(d, 0) for d in UNREADABLE_OR_INVALID), name
        assert got.duplicates == declared.get("exact_duplicate", 0) + declared.get(
            "near_duplicate", 0
        ), name
        assert got.late == declared.get("late_arriving", 0), name


def test_quarantine_keeps_every_rejected_record_with_its_place(ingested: Ingested) -> None:
    county, manifest, _, lake, _ = ingested
    defects = pd.read_parquet(county / manifest.truth["defects"])
    bad = defects[defects["defect"].isin(UNREADABLE_OR_INVALID)]
    with lake.connect() as con:
        quarantined = con.sql(
            "SELECT source, file, record, defect, reason, raw FROM quarantine"
        ).df()
    expected = set(bad[["source", "file", "record"]].itertuples(index=False, name=None))
    found = set(quarantined[["source", "file", "record"]].itertuples(index=False, name=None))
    assert found == expected
    assert quarantined["reason"].str.len().min() > 10
    # Raw values are kept, but encrypted: no ID number or Chinese text reads through.
    assert not quarantined["raw"].str.contains(r"\d{17}[\dX]|[\u4e00-\u9fff]", regex=True).any()
    assert quarantined["raw"].str.fullmatch(r"[A-Za-z0-9_-]+").all()


def test_conflicts_are_found_and_never_invented(ingested: Ingested) -> None:
    _, manifest, report, lake, _ = ingested
    summary = {(r["item"], r["other"]): r["entities"] for r in conflict_summary(lake)}
    assert report.conflicts == sum(summary.values())
    for key, entry in manifest.conflicts.items():
        item, other = key.split(":")
        declared = int(entry["count"])  # type: ignore[call-overload]
        assert summary.get((item, other), 0) <= declared, key
    assert summary[("address", "bank_customers")] >= 0.8 * int(
        manifest.conflicts["address:bank_customers"]["count"]  # type: ignore[call-overload]
    )


def test_no_plain_personal_data_in_the_lake(ingested: Ingested) -> None:
    county, manifest, _, lake, _ = ingested
    register = pd.read_parquet(county / manifest.sources["population_register"].files[0].path)
    secrets = set(register["公民身份号码"].dropna()) | set(register["联系电话"].dropna())
    names = set(register["姓名"].dropna())
    with lake.connect() as con:
        values = set(con.sql("SELECT DISTINCT value FROM facts").df()["value"])
        entities = set(con.sql("SELECT DISTINCT entity FROM facts").df()["entity"])
    assert not (values | entities) & secrets
    assert not values & names
    assert any(v.startswith("id:") for v in entities)


def test_ingesting_the_same_delivery_again_changes_nothing(ingested: Ingested) -> None:
    county, _, _, lake, home = ingested
    before = sorted(b["batch_id"] for b in lake.committed_batches())
    report, again = run_ingest(county, home)
    after = sorted(b["batch_id"] for b in again.committed_batches())
    assert after == before
    assert all(r.files == 0 and r.skipped_files > 0 for r in report.sources.values())
    assert report.conflicts == 0
