"""One definition, two uses, no leakage: facts observed after a date never change that date's
features; the online profile holds exactly what batch computation gives."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import create_engine

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.profile.build import build_profiles, build_steps, subjects
from purecredit.profile.compute import prepare, profile
from purecredit.profile.feature import Kind
from purecredit.profile.online import OnlineProfiles
from purecredit.profile.spine import make_spine
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine, make_engine
from tests.profile.conftest import AS_OF, Profiled

LATER = date(2026, 3, 31)
KINDS: tuple[Kind, ...] = ("person", "enterprise")
MOVED_TO = "3401020009999999"  # a household in Hefei (340102), outside the county


def _late_delivery(county: Path, out: Path, people: int) -> list[str]:
    """A re-delivered population register in which the first `people` residents moved to a new
    household: returns their plain resident IDs."""
    name = "population_register"
    register = pd.read_parquet(county / f"sources/{name}/{name}.parquet")
    valid = register["公民身份号码"].str.fullmatch(r"34\d{15}[\dX]") & register["户号"].notna()
    moved = register.index[valid][:people]
    register.loc[moved, "户号"] = MOVED_TO
    (out / "sources" / name).mkdir(parents=True)
    register.to_parquet(out / f"sources/{name}/{name}.parquet", index=False)
    return register.loc[moved, "公民身份号码"].tolist()


def _enlarged_unit(county: Path, out: Path) -> str:
    """The property register re-delivered with one unit 100 m² larger and its registration
    date unchanged (a correction, not a new registration); every other byte as delivered,
    damaged lines included. Returns the owner's plain ID."""
    name = "property_registry"
    lines = (county / f"sources/{name}/{name}.csv").read_bytes().split(b"\n")
    owners: list[str] = []
    for line in lines[1:]:
        try:
            owners.append(next(csv.reader([line.decode("utf-8")]))[2])
        except (UnicodeDecodeError, StopIteration, IndexError):
            owners.append("")
    for number, line in enumerate(lines[1:], start=1):
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, StopIteration):
            continue
        clean = len(fields) == 8 and re.fullmatch(r"34\d{15}[\dX]", fields[2])
        if clean and re.fullmatch(r"\d+\.\d+", fields[5]) and owners.count(fields[2]) == 1:
            fields[5] = f"{float(fields[5]) + 100:.2f}"
            text = io.StringIO()
            csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="").writerow(fields)
            lines[number] = text.getvalue().encode("utf-8")
            break
    else:
        raise AssertionError("no clean single-unit owner in the register")
    (out / "sources" / name).mkdir(parents=True)
    (out / f"sources/{name}/{name}.csv").write_bytes(b"\n".join(lines))
    return fields[2]


def _two_dates(subjects: pa.Array) -> pa.Table:
    return make_spine(
        pa.concat_arrays([subjects, subjects]), [AS_OF] * len(subjects) + [LATER] * len(subjects)
    )


@pytest.mark.slow
def test_facts_observed_after_a_date_never_change_its_features(
    profiled: Profiled, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(profiled.home, home)
    settings = Settings(home=home)
    lake, catalog = Lake(home / "lake"), load_catalog()
    con = prepare(lake, catalog)
    spines = {kind: _two_dates(subjects(con, catalog, kind, AS_OF)) for kind in KINDS}
    before = {kind: profile(con, kind, spines[kind]) for kind in KINDS}

    moved = _late_delivery(profiled.county, tmp_path / "late", people=10)
    owner = _enlarged_unit(profiled.county, tmp_path / "late")
    protector = Protector.from_settings(settings, ledger_engine(settings))
    report = ingest_directory(
        tmp_path / "late", catalog=catalog, lake=lake, protector=protector,
        observed_at=datetime(2026, 3, 1),
    )  # fmt: skip
    assert report.sources["population_register"].landed > 0
    assert report.sources["property_registry"].landed == 1  # the one corrected record

    con = prepare(lake, catalog)
    after = {kind: profile(con, kind, spines[kind]) for kind in KINDS}
    for kind in KINDS:  # nothing leaked back to the earlier date
        at_date = pc.equal(after[kind].column("as_of"), pa.scalar(AS_OF, pa.date32()))
        assert after[kind].filter(at_date).equals(before[kind].filter(at_date)), kind

    at_date = pc.equal(after["person"].column("as_of"), pa.scalar(AS_OF, pa.date32()))
    later = after["person"].filter(pc.invert(at_date)).to_pandas().set_index("subject")
    earlier = before["person"].filter(pc.invert(at_date)).to_pandas().set_index("subject")
    keys = profiled.tokenizer()
    for plain in moved:  # ... and the later date does see the move
        token = keys.token(plain)
        assert later.loc[token, "district_code"] == "340102"
        assert earlier.loc[token, "district_code"] != "340102"
    # A corrected record replaces its earlier version from the date it was known: counted once.
    token = keys.token(owner)
    assert later.loc[token, "property_count"] == earlier.loc[token, "property_count"]
    assert later.loc[token, "property_area_sqm"] == pytest.approx(
        earlier.loc[token, "property_area_sqm"] + 100
    )


@pytest.mark.parametrize("kind", KINDS)
def test_online_profile_equals_batch(profiled: Profiled, ledger_url: str, kind: Kind) -> None:
    """`profile build` materialises into the ledger (SQLite and PostgreSQL) exactly what batch
    computation gives for the same subject and date, read back by one indexed lookup."""
    engine = make_engine(ledger_url)
    catalog = load_catalog()
    reported: list[str] = []
    report = build_profiles(profiled.lake, catalog, engine, AS_OF, reported.append)
    assert len(reported) == build_steps()  # the progress bar's total is right
    found = subjects(profiled.con, catalog, kind, AS_OF)
    assert report.subjects[kind] == len(found)
    sample = found.to_pylist()[:: max(1, len(found) // 150)]
    spine = make_spine(sample, [AS_OF] * len(sample))
    batch = profile(profiled.con, kind, spine).to_pylist()
    online = OnlineProfiles(engine, kind)
    for row in batch:
        stored = online.get(row["subject"])
        assert stored is not None
        stored.pop("built_at")
        assert stored == row
    assert online.get("id:nobody") is None
    engine.dispose()


def test_online_table_is_replaced_whole(profiled: Profiled, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    catalog = load_catalog()
    build_profiles(profiled.lake, catalog, engine, AS_OF)
    build_profiles(profiled.lake, catalog, engine, date(2026, 2, 28))
    online = OnlineProfiles(engine, "person")
    assert online.as_of() == date(2026, 2, 28)
