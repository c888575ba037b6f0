"""The small county the counter's, the gateway's and the book's tests decide on, built once
per session and worker (`tests/conftest.py` registers the fixtures here; a test module that
imported them would register, and build, them again) (a county of 6,000
people, ingested, profiled, with branches and trained models: about a minute on two cores).

`county_home` is the built home (lake, keys, models) and a copy of its ledger as built, before
any application (`pristine`), from which a module can start a ledger of its own; `desk` is a
counter on the home's own ledger, shared by the tests of one module.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from purecredit.core.settings import Settings
from purecredit.core.subjects import subject_key
from purecredit.decide import store
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import Catalog, load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.profile.build import build_profiles
from purecredit.score.train import train_county
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county

AS_OF = date(2026, 1, 5)


@dataclass(frozen=True)
class CountyHome:
    county: Path
    home: Path
    lake: Lake
    catalog: Catalog
    pristine: Path  # the home's ledger as built: profiles, edges, branches; no decision yet


@dataclass
class Desk:
    county: Path
    home: Path
    counter: Counter
    people: pd.DataFrame  # resident IDs, with the model's PD, best first


@pytest.fixture(scope="session")
def county_home(tmp_path_factory: pytest.TempPathFactory) -> CountyHome:
    county = tmp_path_factory.mktemp("county")
    build_county(SynthConfig(people=6000, seed=5), county)
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home)
    engine = ledger_engine(settings)
    lake = Lake(home / "lake")
    catalog = load_catalog()
    protector = Protector.from_settings(settings, engine)
    ingest_directory(county, catalog=catalog, lake=lake, protector=protector,
                     observed_at=datetime(2026, 1, 5))  # fmt: skip
    build_profiles(lake, catalog, engine, AS_OF)
    # Only the pooled person model and the enterprise models: enough to decide, and quick.
    train_county(lake, catalog, home, n_folds=3, min_bads=10**9)
    Counter(settings, engine)  # the decision tables, empty
    store.sync_branches(engine, lake, catalog)
    engine.dispose()
    pristine = tmp_path_factory.mktemp("pristine") / "ledger.sqlite"
    source, copy = sqlite3.connect(home / "ledger.sqlite"), sqlite3.connect(pristine)
    try:
        source.backup(copy)  # a consistent copy, WAL included
    finally:
        source.close()
        copy.close()
    return CountyHome(county, home, lake, catalog, pristine)


def copy_home(county_home: CountyHome, home: Path) -> None:
    """A copy of the county's home (lake, keys, models) at `home`, with its pristine ledger."""
    shutil.copytree(county_home.home, home, ignore=shutil.ignore_patterns("ledger.sqlite*"))
    source, target = sqlite3.connect(county_home.pristine), sqlite3.connect(home / "ledger.sqlite")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def population_register(county: Path) -> pd.DataFrame:
    return pd.read_parquet(county / "sources" / "population_register" /
                           "population_register.parquet")  # fmt: skip


@pytest.fixture(scope="module")
def desk(county_home: CountyHome) -> Desk:
    settings = Settings(home=county_home.home)
    counter = Counter(settings, ledger_engine(settings))
    register = population_register(county_home.county)
    ids = register["公民身份号码"].astype(str)
    born = pd.to_datetime(register["出生日期"], errors="coerce")  # the register has defects
    working_age = (born < pd.Timestamp("1990-01-01")) & (born > pd.Timestamp("1966-01-01"))
    adults: list[str] = ids.loc[working_age].tolist()
    model = counter.model_for("person", "other")
    rows = []
    for resident_id in adults[:400]:
        _, key, _ = subject_key(resident_id, settings)
        profile = counter.profiles["person"].get(key)
        if profile is not None:
            columns = {f: [profile.get(f)] for f in model.features}
            rows.append((resident_id, float(model.pd_batch(columns)[0])))  # type: ignore[arg-type]
    people = pd.DataFrame(rows, columns=["resident_id", "pd"]).sort_values("pd")
    return Desk(county_home.county, county_home.home, counter, people.reset_index(drop=True))
