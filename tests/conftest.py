"""Shared fixtures: small synthetic worlds at fixed seeds, and the ledger backends.

PostgreSQL is not optional for the test suite: a test that needs it fails when it is missing
(deselect with ``-m "not postgres"`` on a machine without it). With
``PURECREDIT_FORBID_SKIPS=1`` (CI), any skipped test fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from purecredit.store.ledger import make_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county
from purecredit.synth.manifest import Manifest
from purecredit.synth.world import World, build_world
from tests.county import county_home, desk  # noqa: F401 - session fixtures, registered once

POSTGRES_URL = os.environ.get(
    "PURECREDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SMALL = SynthConfig(people=3000, seed=11)


@pytest.fixture(scope="session")
def small_world() -> World:
    return build_world(SMALL)


@pytest.fixture(scope="session")
def small_county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("county")
    return out, build_county(SMALL, out)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every ledger test runs on both backends; PostgreSQL missing is a failure, not a skip."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL}: {exc}")
    finally:
        engine.dispose()
    yield POSTGRES_URL


@pytest.fixture
def fresh_ledger_url(ledger_url: str) -> Iterator[str]:
    """`ledger_url`, and on PostgreSQL a fresh schema of its own (dropped afterwards), so a
    module's tables start empty and tests never see each other's rows."""
    if not ledger_url.startswith("postgresql"):
        yield ledger_url
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(ledger_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{ledger_url}{'&' if '?' in ledger_url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("PURECREDIT_FORBID_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; CI forbids skips", red=True)
