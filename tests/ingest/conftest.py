"""An ingested small county, shared by the ingest tests of one worker."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.crosscheck import crosscheck
from purecredit.ingest.pipeline import IngestReport, ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.manifest import Manifest

OBSERVED = datetime(2026, 1, 5)


def run_ingest(county: Path, home: Path) -> tuple[IngestReport, Lake]:
    settings = Settings(home=home)
    lake = Lake(home / "lake")
    protector = Protector.from_settings(settings, ledger_engine(settings))
    catalog = load_catalog()
    report = ingest_directory(
        county, catalog=catalog, lake=lake, protector=protector, observed_at=OBSERVED
    )
    report.conflicts = crosscheck(lake, catalog, OBSERVED)
    return report, lake


@pytest.fixture(scope="session")
def ingested(
    small_county: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Manifest, IngestReport, Lake, Path]:
    county, manifest = small_county
    home = tmp_path_factory.mktemp("home")
    report, lake = run_ingest(county, home)
    return county, manifest, report, lake, home
