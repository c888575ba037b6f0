"""A whole county on disk: files match the manifest, identifiers are valid except exactly the
declared defects, and the same seed gives the same bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county
from purecredit.synth.manifest import Manifest, SourceEntry

GARBLING = {"wrong_column_count", "bad_encoding"}


def _records(path: Path, entry: SourceEntry) -> Iterator[tuple[int, dict[str, object] | None]]:
    """(record number, values by header) of every data record; None where it can't be read."""
    if entry.format == "parquet":
        for number, row in enumerate(pd.read_parquet(path).to_dict("records"), start=1):
            yield number, row
        return
    if entry.format == "xlsx":
        sheets = pd.read_excel(path, sheet_name=None, dtype=str)
        rows = pd.concat(list(sheets.values()), ignore_index=True)
        for number, row in enumerate(rows.to_dict("records"), start=1):
            yield number, row
        return
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode(entry.encoding)])) if entry.format == "csv" else None
    for number, raw in enumerate((line for line in lines[1 if header else 0 :] if line), start=1):
        try:
            text = raw.decode(entry.encoding)
        except UnicodeDecodeError:
            yield number, None
            continue
        if entry.format == "jsonl":
            yield number, json.loads(text)
            continue
        values = next(csv.reader(io.StringIO(text)))
        yield (
            number,
            dict(zip(header or [], values, strict=False))
            if len(values) == len(header or [])
            else None,
        )


def _invalid(value: object, parse: object) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return False
    try:
        parse(str(value))  # type: ignore[operator]
    except Invalid:
        return True
    return False


def test_files_match_the_manifest(small_county: tuple[Path, Manifest]) -> None:
    county, manifest = small_county
    assert len(manifest.sources) == 27
    for entry in manifest.sources.values():
        assert entry.rows == sum(f.rows for f in entry.files)
        for file in entry.files:
            data = (county / file.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == file.sha256, file.path


def test_identifiers_are_valid_except_the_declared_defects(
    small_county: tuple[Path, Manifest],
) -> None:
    county, manifest = small_county
    defects = pd.read_parquet(county / manifest.truth["defects"])
    checked = 0
    for name, entry in manifest.sources.items():
        columns = [(c, parse_resident_id) for c in entry.id_columns] + [
            (c, parse_uscc) for c in entry.uscc_columns
        ]
        if not columns:
            continue
        logged = defects[defects["source"] == name]
        for file in entry.files:
            here = logged[logged["file"] == file.path]
            checksum = set(here.loc[here["defect"] == "bad_checksum", "record"])
            garbled = set(here.loc[here["defect"].isin(GARBLING), "record"])
            invalid = set()
            for number, row in _records(county / file.path, entry):
                if row is None:
                    assert number in garbled, (file.path, number)
                    continue
                if any(_invalid(row.get(column), parse) for column, parse in columns):
                    invalid.add(number)
                checked += 1
            # Every declared checksum defect is invalid; nothing else is, but garbled lines.
            assert checksum <= invalid, (name, sorted(checksum - invalid)[:5])
            assert invalid <= checksum | garbled, (name, sorted(invalid - checksum - garbled)[:5])
    assert checked > 50_000


def test_defects_come_at_the_declared_rate(small_county: tuple[Path, Manifest]) -> None:
    _, manifest = small_county
    for name, entry in manifest.sources.items():
        if entry.rows < 5_000:
            continue
        applicable = ["exact_duplicate", "near_duplicate"]
        applicable += ["impossible_date"] if entry.date_columns else []
        applicable += ["missing"] if entry.defects.get("missing") else []  # nullable fields only
        for defect in applicable:
            rate = entry.defects.get(defect, 0) / entry.rows
            assert rate == pytest.approx(0.005, abs=0.0015), (name, defect, rate)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    config = SynthConfig(people=1200, seed=9)
    first = build_county(config, tmp_path / "a")
    second = build_county(config, tmp_path / "b")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()
    assert first == second
    for path in (tmp_path / "a" / "truth").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / "truth" / path.name).read_bytes(), path.name
    other = build_county(SynthConfig(people=1200, seed=10), tmp_path / "c")
    assert (
        other.sources["population_register"].files[0].sha256
        != first.sources["population_register"].files[0].sha256
    )


def test_bureau_reports_are_monthly_files_of_the_archive(
    small_county: tuple[Path, Manifest],
) -> None:
    county, manifest = small_county
    expected = ["2022-12", "2023-06", "2023-12", "2024-06", "2024-12", "2025-06", "2025-12"]
    for name in ("credit_bureau_accounts", "credit_bureau_queries", "credit_bureau_public_records"):
        entry = manifest.sources[name]
        paths = [f.path for f in entry.files]
        assert paths == [f"sources/{name}/{name}_{m}.jsonl" for m in expected], name
        assert sorted(p.name for p in (county / "sources" / name).iterdir()) == [
            Path(p).name for p in paths
        ]
        assert all(f.rows > 0 for f in entry.files)
        assert entry.defects.get("late_arriving", 0) == 0  # no report month 1-3 months later
        first = next(_records(county / paths[0], entry))[1]
        assert first is not None and str(first["报告日期"]).startswith(expected[0][:4])


def test_truth_keeps_the_pd_history(small_county: tuple[Path, Manifest]) -> None:
    county, manifest = small_county
    assert manifest.truth["pd_history"] == "truth/pd_history.parquet"
    history = pd.read_parquet(county / manifest.truth["pd_history"])
    borrowers = pd.read_parquet(county / manifest.truth["borrowers"])
    assert list(history.columns) == [
        "entity_key",
        "entity_type",
        "as_of",
        "true_pd_12m",
        "eligible",
    ]
    assert history["true_pd_12m"].dtype == "float64" and history["eligible"].dtype == bool
    dates = sorted(set(history["as_of"]))
    assert len(dates) == 13 and str(dates[0]) == "2022-12-31" and str(dates[-1]) == "2025-12-31"
    assert [d.month for d in dates] == [12, 3, 6, 9] * 3 + [12]
    assert (history.groupby("as_of").size() == borrowers.shape[0]).all()
    now = history[history["as_of"] == dates[-1]].reset_index(drop=True)
    assert (now["entity_key"] == borrowers["entity_key"]).all()
    assert (now["entity_type"] == borrowers["entity_type"]).all()
    assert (now["true_pd_12m"] == borrowers["true_pd_12m"]).all()  # bit for bit
    assert (now["eligible"] == borrowers["eligible"]).all()
