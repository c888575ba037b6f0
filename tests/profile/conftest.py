"""A small county, ingested and prepared for profiling (records and resolution), shared by the
profile tests of one worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pytest

from purecredit.core.crypto import Tokenizer, TokenKind
from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.protect import Protector
from purecredit.profile.compute import compute, prepare
from purecredit.profile.feature import Module
from purecredit.profile.spine import make_spine
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.manifest import Manifest
from tests.ingest.conftest import OBSERVED, run_ingest

# After the ingest's observation date, so copies (observed then) are known; monthly feeds are
# observed month by month and are known earlier too.
AS_OF = date(2026, 1, 31)
assert OBSERVED.date() < AS_OF
ARRIVED = date(2026, 1, 5)  # the day the copies and the bureau extracts reached the bank
BEFORE = date(2025, 6, 30)  # before any copy, bureau extract or the loan book was known
assert OBSERVED.date() == ARRIVED


@dataclass
class LakeKeys:
    tokens: Tokenizer

    def token(self, plain: str, kind: TokenKind = "id") -> str:
        return self.tokens.lake_key(plain, kind)


@dataclass
class Profiled:
    county: Path
    manifest: Manifest
    home: Path
    lake: Lake
    con: duckdb.DuckDBPyConnection
    settings: Settings

    def tokenizer(self) -> LakeKeys:
        """`.token(plain, kind)` gives a delivered value's key in the lake (`id:…`)."""
        return LakeKeys(
            Protector.from_settings(self.settings, ledger_engine(self.settings)).tokenizer
        )

    def features(
        self, modules: Sequence[Module], subjects: Sequence[str], as_of: date = AS_OF
    ) -> pa.Table:
        """The modules' features for `subjects` as of one date."""
        spine = make_spine(list(subjects), [as_of] * len(subjects))
        return compute(self.con, modules, spine)


@pytest.fixture(scope="session")
def profiled(
    small_county: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory
) -> Profiled:
    county, manifest = small_county
    home = tmp_path_factory.mktemp("profile-home")
    _, lake = run_ingest(county, home)
    con = prepare(lake, load_catalog())
    return Profiled(county, manifest, home, lake, con, Settings(home=home))


def by_subject(table: pa.Table) -> dict[str, SimpleNamespace]:
    """Feature rows by subject, NULL as None (pandas would turn a NULL text into NaN)."""
    return {row["subject"]: SimpleNamespace(**row) for row in table.to_pylist()}


def same(got: object, expected: float | None) -> bool:
    """Equal within float rounding, NULL matching NULL (NaN or None)."""
    if expected is None or expected != expected:
        return got is None or got != got
    return got == pytest.approx(expected)
