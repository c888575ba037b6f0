"""The registry: every feature named once per kind, documented, portable to Spark SQL, and the
generated reference current."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from purecredit.ingest.catalog import load_catalog
from purecredit.profile.doc import REGENERATE, features_markdown
from purecredit.profile.feature import Module
from purecredit.profile.features import ENTERPRISE_MODULES, LEGAL_REP_SQL, PERSON_MODULES

ALL = [*PERSON_MODULES, *ENTERPRISE_MODULES]
DOC = Path(__file__).parents[2] / "docs" / "features.md"


@pytest.mark.parametrize("modules", [PERSON_MODULES, ENTERPRISE_MODULES], ids=["person", "firm"])
def test_feature_names_are_unique_per_kind(modules: tuple[Module, ...]) -> None:
    names = [f.name for m in modules for f in m.features]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert not {"subject", "as_of", "built_at"} & set(names)


@pytest.mark.parametrize("module", ALL, ids=[m.name for m in ALL])
def test_every_feature_is_documented_with_catalogued_sources(module: Module) -> None:
    catalog = load_catalog()
    for f in module.features:
        assert f.description and f.rule and f.missing, f.name
        assert f.sources and set(f.sources) <= set(catalog.sources), f.name


@pytest.mark.parametrize("module", ALL, ids=[m.name for m in ALL])
def test_module_sql_is_portable_to_spark(module: Module) -> None:
    """The definition parses as DuckDB SQL and transpiles to Spark SQL with nothing
    unsupported (sqlglot raises on a construct Spark lacks)."""
    spark = sqlglot.transpile(
        module.sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    assert len(spark) == 1 and "spine" in spark[0]


def test_legal_rep_sql_is_portable_to_spark() -> None:
    """The firm -> legal representative mapping behind the enterprise profile's second layer."""
    spark = sqlglot.transpile(
        LEGAL_REP_SQL, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    assert len(spark) == 1 and "spine" in spark[0]


def test_generated_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == features_markdown(), f"regenerate: {REGENERATE}"
