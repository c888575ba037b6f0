"""The packaged source catalogue against what a synthetic county delivers; the catalogue's
own validation; matching a delivery's files to sources; `purecredit catalog`; the docs page."""

from __future__ import annotations

import copy
import csv
import io
import json
import unicodedata
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from rich.console import Console
from typer.testing import CliRunner

from purecredit.cli.catalog import catalog as catalog_command
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.identifiers import parse_resident_id
from purecredit.ingest.catalog import FieldDef, SourceDef, load_catalog
from purecredit.ingest.catalog_check import match_files
from purecredit.ingest.catalog_doc import REGENERATE, catalog_reference_markdown
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county
from purecredit.synth.manifest import read_manifest
from purecredit.synth.sources import bank, bureau, market, population, social, tax
from purecredit.synth.sources.government import (
    civil,
    courts,
    estate,
    health,
    licences,
    pension,
    registry,
)
from purecredit.synth.sourcespec import SourceSpec

REPO = Path(__file__).resolve().parents[2]
PACKAGED = REPO / "purecredit" / "ingest" / "catalog.yaml"
CATALOG = load_catalog()
RIC = r"[0-9]{17}[0-9X]"  # GB 11643 shape; the checksum is validation's business
USCC = r"[0-9A-HJ-NPQRTUWXY]{18}"  # GB 32100 shape
PHONE = r"1[3-9][0-9]{9}"

runner = CliRunner()


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small county as delivered, defects and all."""
    out = tmp_path_factory.mktemp("catalog_county")
    build_county(SynthConfig(people=1500, seed=3), out)
    return out


@pytest.fixture(scope="module")
def clean_county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same county without defects: every record is one the catalogue must accept."""
    out = tmp_path_factory.mktemp("catalog_clean_county")
    build_county(SynthConfig(people=1500, seed=3, defect_rate=0.0), out)
    return out


@pytest.fixture(scope="module")
def clean_records(clean_county: Path) -> dict[str, pd.DataFrame]:
    """Every record of the clean county, by source."""
    return {
        name: pd.concat([_records(p, source) for p in _files(clean_county, name)])
        for name, source in CATALOG.sources.items()
    }


def _files(root: Path, source: str) -> list[Path]:
    return sorted(p for p in (root / "sources" / source).iterdir() if p.is_file())


def _headers(path: Path, source: SourceDef) -> list[str]:
    """Delivered headers: CSV header line, first JSON object's keys, Parquet schema names,
    XLSX first row."""
    if source.format == "csv":
        first = path.read_bytes().split(b"\n", 1)[0].decode(source.encoding)
        return next(csv.reader(io.StringIO(first)))
    if source.format == "jsonl":
        for line in path.read_bytes().splitlines():
            try:  # a line in the wrong encoding is a defect, not a header
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            return list(record)
        raise AssertionError(f"{path} holds no JSON object")
    if source.format == "parquet":
        return list(pq.read_schema(path).names)
    sheet = openpyxl.load_workbook(path, read_only=True).active
    return [str(cell) for cell in next(sheet.iter_rows(values_only=True))]


def _records(path: Path, source: SourceDef) -> pd.DataFrame:
    """A defect-free delivered file as Python values (object columns, None for empty)."""
    rows: list[dict[str, Any]]
    if source.format == "csv":
        text = path.read_text(encoding=source.encoding)
        rows = [{k: v or None for k, v in r.items()} for r in csv.DictReader(io.StringIO(text))]
    elif source.format == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    elif source.format == "parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        sheet = openpyxl.load_workbook(path, read_only=True).active
        header, *body = list(sheet.iter_rows(values_only=True))
        rows = [dict(zip(header, r, strict=True)) for r in body]
    return pd.DataFrame(rows, dtype=object)


def _normal(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def _broken(values: pd.Series, field: FieldDef) -> list[str]:
    """Values that break the field's type, enum, range or pattern, as validation will read
    them (NFKC-normalised, stripped text)."""
    text = values.dropna().drop_duplicates().map(_normal).reset_index(drop=True)
    ok = pd.Series(True, index=text.index)
    if field.type == "enum":
        ok &= text.isin(field.values or ())
    elif field.type in ("int", "decimal"):
        number = pd.to_numeric(text, errors="coerce")
        ok &= number.notna() & ((number.round() == number) | (field.type == "decimal"))
        ok &= number >= float(field.min) if isinstance(field.min, (int, float)) else True
        ok &= number <= float(field.max) if isinstance(field.max, (int, float)) else True
    elif field.type == "date":
        day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        ok &= day.notna()
        ok &= day >= pd.Timestamp(field.min) if field.min is not None else True
    elif field.type in ("resident_id", "uscc", "phone"):
        shape = {"resident_id": RIC, "uscc": USCC, "phone": PHONE}[field.type]
        ok &= text.str.fullmatch(shape)
    if field.pattern is not None:
        ok &= text.str.fullmatch(field.pattern)
    return text[~ok.astype(bool)].head(3).tolist()


# --- the packaged catalogue against a county -----------------------------------------------------


def test_the_packaged_catalogue_loads() -> None:
    assert CATALOG.version == 1
    assert all(name == source.name for name, source in CATALOG.sources.items())
    assert CATALOG.source("medical_serious_illness").sensitive
    assert [s.name for s in CATALOG.sources.values() if s.sensitive] == ["medical_serious_illness"]
    for item, authority in {
        "address": "population_register",
        "marital_status": "marriage_registry",
        "registered_capital": "enterprise_registry",
        "legal_representative": "enterprise_registry",
        "name": "population_register",
        "phone": "population_register",
    }.items():
        found = CATALOG.authoritative(item)
        assert found is not None and found.name == authority, item
        roles = [s.items[item].role for s in CATALOG.sources.values() if item in s.items]
        assert "crosscheck" in roles, f"nothing cross-checks {item}"


def test_every_delivered_source_is_catalogued(county: Path) -> None:
    manifest = read_manifest(county / "manifest.json")
    assert set(CATALOG.sources) == set(manifest.sources)
    for name, entry in manifest.sources.items():
        source = CATALOG.sources[name]
        assert (source.format, source.encoding) == (entry.format, entry.encoding), name
        assert source.monthly == (len(entry.files) > 1), name


def _specs() -> dict[str, SourceSpec]:
    """The synthetic owners' delivery contracts, which say where each defect may fall."""
    modules = [bank, bureau, market, population, social, tax]
    modules += [civil, courts, estate, health, licences, pension, registry]
    found = [v for m in modules for v in vars(m).values() if isinstance(v, SourceSpec)]
    return {spec.name: spec for spec in found}


def test_fields_are_typed_as_the_owners_deliver_them() -> None:
    """Where a defect may fall is where the catalogue must be able to see it: ID and USCC
    columns carry check characters, date columns dates; a column an owner may leave empty
    is never required; the owner's record key is ours; a monthly feed is dated by the date
    its files are split on (late arrivals are found against it)."""
    specs = _specs()
    assert set(specs) == set(CATALOG.sources)
    for name, spec in specs.items():
        source = CATALOG.sources[name]
        by_header = {f.header: f for f in source.fields.values()}
        named = {f.header: n for n, f in source.fields.items()}
        for column, kind in (
            *((c, "resident_id") for c in spec.id_columns),
            *((c, "uscc") for c in spec.uscc_columns),
            *((c, "date") for c in spec.date_columns),
        ):
            assert by_header[spec.headers[column]].type == kind, (name, column)
        for column in spec.nullable_columns:
            assert not by_header[spec.headers[column]].required, (name, column)
        assert {named[spec.headers[c]] for c in spec.key_columns} == set(source.record_key), name
        assert source.monthly == (spec.monthly_by is not None), name
        if spec.monthly_by is not None:
            assert source.valid_from == named[spec.headers[spec.monthly_by]], name
            assert source.files == f"{name}_*.{spec.fmt}" and source.observed_lag_days > 0, name


def test_headers_are_exactly_the_delivered_headers(county: Path) -> None:
    for name, source in CATALOG.sources.items():
        declared = {f.header for f in source.fields.values()}
        files = _files(county, name)
        assert files, name
        for path in files:
            assert set(_headers(path, source)) == declared, path.name


def test_every_delivered_file_matches_exactly_one_source(county: Path) -> None:
    delivered = sorted(p for p in (county / "sources").rglob("*") if p.is_file())
    for path in delivered:
        rel = path.relative_to(county / "sources")
        owners = [
            s.name
            for s in CATALOG.sources.values()
            if rel.parent == Path(s.name) and fnmatchcase(rel.name, s.files)
        ]
        assert len(owners) == 1, (rel, owners)
    result = match_files(CATALOG, county)
    assert result.unmatched == [] and result.silent == []
    manifest = read_manifest(county / "manifest.json")
    assert {
        n: [p.relative_to(county).as_posix() for p in files] for n, files in result.matched.items()
    } == {n: sorted(f.path for f in entry.files) for n, entry in manifest.sources.items()}


def test_person_ids_names_and_phones_are_pii(
    clean_county: Path, clean_records: dict[str, pd.DataFrame]
) -> None:
    """Found from the data: a column whose values are mostly resident IDs, or names or phones
    of the county's residents, must be protected as such."""
    register = pq.read_table(
        clean_county / "sources/population_register/population_register.parquet"
    )
    fields = CATALOG.source("population_register").fields
    names = {_normal(v) for v in register.column(fields["name"].header).to_pylist()}
    phones = {_normal(v) for v in register.column(fields["phone"].header).to_pylist() if v}
    manifest = read_manifest(clean_county / "manifest.json")
    seen = {"id": 0, "name": 0, "phone": 0}
    for name, source in CATALOG.sources.items():
        frame = clean_records[name]
        id_headers = set(manifest.sources[name].id_columns)
        for field_name, field in source.fields.items():
            values = {_normal(v) for v in frame[field.header].dropna()}
            if not values:
                continue
            where = f"{name}.{field_name}"
            if field.header in id_headers or _share(values, _is_resident_id) > 0.5:
                assert field.pii == "id", where
                seen["id"] += 1
            if _share(values, names.__contains__) > 0.5:
                assert field.pii == "name", where
                seen["name"] += 1
            if _share(values, phones.__contains__) > 0.5:
                assert field.pii == "phone", where
                seen["phone"] += 1
    assert seen["id"] >= 15 and seen["name"] >= 15 and seen["phone"] >= 4, seen


def _is_resident_id(value: str) -> bool:
    try:
        parse_resident_id(value)
    except Invalid:
        return False
    return True


def _share(values: set[str], test: Callable[[str], object]) -> float:
    return sum(1 for v in values if test(v)) / len(values)


def test_a_clean_delivery_breaks_no_field_rule(clean_records: dict[str, pd.DataFrame]) -> None:
    """Types, enums, ranges, patterns and required fields accept every record of a county
    without defects: the catalogue never quarantines good data."""
    problems: list[str] = []
    for name, source in CATALOG.sources.items():
        frame = clean_records[name]
        for field_name, field in source.fields.items():
            column = frame[field.header]
            if field.required and column.isna().any():
                problems.append(f"{name}.{field_name}: {int(column.isna().sum())} missing")
            broken = _broken(column, field)
            if broken:
                problems.append(f"{name}.{field_name}: {broken}")
    assert problems == []


# --- the catalogue's own validation -------------------------------------------------------------


def _load_changed(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    raw = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    changed = copy.deepcopy(raw)
    change(changed)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    load_catalog(path)


def test_an_enum_without_values_names_its_source_and_field(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        _load_changed(
            tmp_path, lambda c: c["sources"]["population_register"]["fields"]["sex"].pop("values")
        )
    assert caught.value.field == "sources.population_register.fields.sex"
    assert "enum" in caught.value.detail


def test_an_unknown_record_key_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        _load_changed(
            tmp_path, lambda c: c["sources"]["bank_loans"].update(record_key=["loan_id", "nope"])
        )
    assert caught.value.field == "sources.bank_loans"
    assert "'nope'" in caught.value.detail


def test_two_authorities_for_one_item_are_refused(tmp_path: Path) -> None:
    def second_authority(c: dict[str, Any]) -> None:
        c["sources"]["bank_customers"]["items"]["address"]["role"] = "authoritative"

    with pytest.raises(Invalid) as caught:
        _load_changed(tmp_path, second_authority)
    detail = caught.value.detail
    assert "'address'" in detail and "bank_customers" in detail and "population_register" in detail


def test_an_unprotected_phone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        _load_changed(
            tmp_path, lambda c: c["sources"]["bank_customers"]["fields"]["phone"].pop("pii")
        )
    assert caught.value.field == "sources.bank_customers.fields.phone"


def test_a_catalogue_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("- population_register\n- bank_customers\n", encoding="utf-8")
    with pytest.raises(Invalid) as caught:
        load_catalog(path)
    assert caught.value.field == "sources"


# --- matching a delivery ------------------------------------------------------------------------


def _delivery(root: Path, files: list[str]) -> Path:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


def test_stray_files_and_silent_sources_are_reported(tmp_path: Path) -> None:
    root = _delivery(
        tmp_path,
        [
            "sources/population_register/population_register.parquet",
            "sources/utility_payments/utility_payments_2024-01.csv",
            "sources/utility_payments/utility_payments_2024-02.csv",
            "sources/utility_payments/old/utility_payments_2023-12.csv",  # wrong depth
            "sources/utility_payments/Utility_payments_2024-03.CSV",  # globs are case-sensitive
            "sources/population_register/notes.txt",
            "sources/gas_bills/gas_bills_2024-01.csv",  # a source the catalogue lacks
            "sources/README.md",
            "manifest.json",  # outside sources/: not part of the check
        ],
    )
    result = match_files(CATALOG, root)
    assert {n: [p.name for p in files] for n, files in result.matched.items()} == {
        "population_register": ["population_register.parquet"],
        "utility_payments": ["utility_payments_2024-01.csv", "utility_payments_2024-02.csv"],
    }
    assert [p.relative_to(root / "sources").as_posix() for p in result.unmatched] == [
        "README.md",
        "gas_bills/gas_bills_2024-01.csv",
        "population_register/notes.txt",
        "utility_payments/Utility_payments_2024-03.CSV",
        "utility_payments/old/utility_payments_2023-12.csv",
    ]
    assert result.silent == sorted(set(CATALOG.sources) - set(result.matched))
    assert "bank_customers" in result.silent and "population_register" not in result.silent
    assert all(p.is_file() for files in result.matched.values() for p in files)


def test_a_directory_without_sources_is_not_a_delivery(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        match_files(CATALOG, tmp_path)


# --- the command --------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(catalog_command)
    return app


def test_catalog_prints_every_source(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's console was sized when first imported; give this test a wide one.
    monkeypatch.setattr("purecredit.cli.catalog.console", Console(width=250, stderr=True))
    result = runner.invoke(_app(), [])
    assert result.exit_code == 0, result.output
    for name in CATALOG.sources:
        assert name in result.output
    assert "marital_status (authoritative)" in result.output


def test_catalog_json_is_the_catalogue() -> None:
    result = runner.invoke(_app(), ["--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sources"].keys() == CATALOG.sources.keys()


def test_check_reports_in_json_and_exits_zero(tmp_path: Path) -> None:
    root = _delivery(
        tmp_path,
        [
            "sources/herb_prices/herb_prices.csv",
            "sources/herb_prices/herb_prices_backup.csv",
            "sources/tax_returns/tax_returns_2024-01.parquet",
            "sources/tax_returns/tax_returns_2024-02.parquet",
        ],
    )
    result = runner.invoke(_app(), ["--check", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unmatched_files"] == ["sources/herb_prices/herb_prices_backup.csv"]
    assert report["matched"] == {"herb_prices": 1, "tax_returns": 2}
    assert report["silent_sources"] == sorted(set(CATALOG.sources) - {"herb_prices", "tax_returns"})


def test_check_of_a_full_county_finds_nothing_amiss(county: Path) -> None:
    result = runner.invoke(_app(), ["--check", str(county)])
    assert result.exit_code == 0, result.output
    assert "every file matches a source and every source sent files" in result.output
    plain = runner.invoke(_app(), ["--check", str(county / "sources")])
    assert plain.exit_code == 2 and "no sources/ directory" in " ".join(plain.output.split())


# --- the reference page -------------------------------------------------------------------------


def test_docs_catalog_page_matches_the_catalogue() -> None:
    page = (REPO / "docs" / "catalog.md").read_text(encoding="utf-8")
    assert page == catalog_reference_markdown(CATALOG), f"docs/catalog.md drifted; run {REGENERATE}"


def test_reference_page_lists_every_source_and_field() -> None:
    page = catalog_reference_markdown(CATALOG)
    for name, source in CATALOG.sources.items():
        assert f"\n## {name}\n" in page
        for field_name, field in source.fields.items():
            assert f"| `{field_name}` | {field.header} | {field.type} |" in page
    assert "| `registered_capital` | enterprise_registry.`registered_capital` |" in page
