"""The same county through DuckDB and through Spark: identical records, resolution, graph,
features, training table and scores, row for row and bit for bit (issue 11).

One Spark session (local[2]) for the file; the county is the session's `county_home`
(6,000 people, ingested, profiled, models trained)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import Invalid
from purecredit.core.settings import Settings, get_settings
from purecredit.core.subjects import subject_key
from purecredit.profile.build import subjects
from purecredit.profile.compute import prepare, profile
from purecredit.profile.feature import Kind
from purecredit.profile.spine import make_spine
from purecredit.score.batch import SCORES_SCHEMA, score_subjects
from purecredit.score.sample import build_sample, observation_dates
from purecredit.store.duck import arrow
from purecredit.store.spark import SparkSql
from tests.county import AS_OF, CountyHome, population_register

Engines = tuple[duckdb.DuckDBPyConnection, SparkSql]
EARLIER = date(2025, 6, 30)  # before the copies and bureau extracts were known: other values


@pytest.fixture(scope="module")
def engines(
    county_home: CountyHome, spark_sql: SparkSql
) -> Iterator[tuple[duckdb.DuckDBPyConnection, SparkSql]]:
    """Both engines prepared over the county's lake (records, resolution, graph)."""
    duck = prepare(county_home.lake, county_home.catalog)
    assert isinstance(duck, duckdb.DuckDBPyConnection)
    prepare(county_home.lake, county_home.catalog, con=spark_sql)
    yield duck, spark_sql
    duck.close()


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def _same(left: pa.Table, right: pa.Table) -> None:
    """Equal schemas and values; on failure, name the first column and row that differ."""
    assert left.schema == right.schema
    assert left.num_rows == right.num_rows
    for name in left.column_names:
        a, b = left.column(name).to_pylist(), right.column(name).to_pylist()
        bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y and x == x]
        assert not bad, f"{name} differs at row {bad[0]}: {a[bad[0]]!r} != {b[bad[0]]!r}"


def test_records_resolution_and_graph_are_identical(
    engines: Engines,
) -> None:
    duck, spark = engines
    for query, keys in (
        ("SELECT source, COUNT(*) AS n FROM unresolved_records GROUP BY source", ["source"]),
        (
            "SELECT src, dst, kind, weight, valid_from, _known_at FROM edges",
            ["src", "dst", "kind", "valid_from"],
        ),
        (
            "SELECT person, _batch, _record, _known_at, _method FROM r_bank_deposits",
            ["_batch", "_record"],
        ),
    ):
        left, right = arrow(duck.sql(query)), arrow(spark.sql(query))
        assert left.num_rows > 0, query
        _same(_sorted(left, keys), _sorted(right.cast(left.schema), keys))


@pytest.mark.parametrize("kind", ["person", "enterprise"])
def test_profiles_are_identical_row_for_row(
    engines: Engines, county_home: CountyHome, kind: Kind
) -> None:
    """Every feature of every subject at two dates (one before most sources were known, so
    point-in-time NULLs are compared too)."""
    duck, spark = engines
    found = subjects(duck, county_home.catalog, kind, AS_OF)
    assert found.equals(subjects(spark, county_home.catalog, kind, AS_OF))
    people = found.to_pylist()
    spine = make_spine(people * 2, [AS_OF] * len(people) + [EARLIER] * len(people))
    left, right = profile(duck, kind, spine), profile(spark, kind, spine)
    _same(left, right)
    # Not vacuous: most features hold values, and the floats are not all whole numbers.
    filled = [c for c in left.column_names[2:] if left.column(c).null_count < left.num_rows]
    assert len(filled) > 0.8 * (left.num_columns - 2)
    floats = [c for c in left.column_names if pa.types.is_floating(left.schema.field(c).type)]
    assert any(v % 1 for c in floats for v in left.column(c).drop_null().to_pylist())


def test_training_tables_are_identical(
    engines: Engines,
) -> None:
    """The point-in-time training sample: labels and every feature at every observation."""
    duck, spark = engines
    dates = observation_dates(duck)
    assert dates == observation_dates(spark)
    left = build_sample(duck, "person", dates)
    right = build_sample(spark, "person", dates)
    assert len(left) > 1000 and left["bad"].sum() > 0
    assert left.equals(right)


def _scores(out: Path) -> pa.Table:
    parts = [pq.read_table(p) for p in sorted(out.rglob("*.parquet"))]
    table = pa.concat_tables([t.select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA) for t in parts])
    return _sorted(table, ["kind", "subject"])


def test_batch_scores_are_identical(
    engines: Engines, county_home: CountyHome, tmp_path: Path
) -> None:
    duck, spark = engines
    scored = {}
    for name, con in (("duckdb", duck), ("spark", spark)):
        out = tmp_path / name
        counts = score_subjects(
            con, county_home.lake, county_home.catalog, county_home.home, AS_OF, str(out)
        )
        assert counts["person"] > 1000 and counts["enterprise"] > 10
        assert sorted(p.name for p in out.iterdir()) == ["enterprise", "person"]
        scored[name] = _scores(out)
    _same(scored["duckdb"], scored["spark"])
    table = scored["duckdb"]
    assert len(set(table.column("grade").to_pylist())) >= 3
    pds = table.column("pd").to_pylist()
    assert min(pds) >= 0 and max(pds) <= 1 and len(set(pds)) > 100
    assert sum(1 for r in table.column("reason_codes").to_pylist() if r) > table.num_rows / 2


def _listed_people(county_home: CountyHome, duck: duckdb.DuckDBPyConnection, n: int) -> list[str]:
    """`n` resident ID numbers of the register that have a profile (the register has defects
    on purpose: some numbers fail their checksum)."""
    settings = Settings(home=county_home.home)
    profiled = set(subjects(duck, county_home.catalog, "person", AS_OF).to_pylist())
    out: list[str] = []
    for number in population_register(county_home.county)["公民身份号码"].astype(str):
        try:
            _, key, _ = subject_key(str(number), settings)
        except Invalid:
            continue
        if key in profiled and number not in out:
            out.append(str(number))
        if len(out) == n:
            return out
    raise AssertionError("the county has too few profiled people")


def test_the_cli_scores_a_list_on_spark_reading_the_lake_by_uri(
    county_home: CountyHome,
    engines: Engines,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`score batch --engine spark` with a subjects file, the lake read through a `file://`
    URI (as from HDFS); it agrees with DuckDB's scores of the same people. A bad line in the
    file is an error naming it, and nothing is written."""
    monkeypatch.setenv("PURECREDIT_HOME", str(county_home.home))
    monkeypatch.setenv("PURECREDIT_SPARK_LAKE_URI", county_home.lake.root.resolve().as_uri())
    get_settings.cache_clear()
    ids = _listed_people(county_home, engines[0], 25)
    listing = tmp_path / "ids.txt"
    listing.write_text("# a list\n" + "\n".join(ids) + "\n", encoding="utf-8")
    results = {}
    runner = CliRunner()
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        args = ["score", "batch", "--as-of", str(AS_OF), "--out", str(out)]
        done = runner.invoke(app, [*args, "--subjects", str(listing), "--engine", engine, "--json"])
        assert done.exit_code == 0, done.output
        counts = json.loads(done.output.strip().splitlines()[-1])["rows"]
        assert counts == {"person": 25}
        results[engine] = _scores(out)
    _same(results["duckdb"], results["spark"])

    listing.write_text(ids[0] + "\nnot-an-id\n", encoding="utf-8")
    out = tmp_path / "bad"
    done = runner.invoke(app, ["score", "batch", "--out", str(out), "--subjects", str(listing)])
    assert done.exit_code == 1
    assert ":2:" in done.output and not out.exists()
    get_settings.cache_clear()
