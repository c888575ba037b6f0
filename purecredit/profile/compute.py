"""Batch computation: records and resolution over the lake, then every module for a spine.

One path serves both uses (DESIGN.md, "one definition, two uses"): a training table is
`profile` over many (subject, as_of) pairs; the online profile is `profile` over every
subject as of one date, written to the ledger by `online.materialise`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from purecredit.ingest.catalog import Catalog
from purecredit.profile.feature import DType, Kind, Module
from purecredit.profile.features import (
    ENTERPRISE_MODULES,
    LEGAL_REP_PREFIX,
    LEGAL_REP_SQL,
    PERSON_MODULES,
    columns,
)
from purecredit.profile.graph import create_graph
from purecredit.profile.records import load_records
from purecredit.profile.resolve import create_resolution
from purecredit.profile.spine import make_spine
from purecredit.store.duck import arrow
from purecredit.store.lake import Lake

ARROW_TYPES: dict[DType, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
Progress = Callable[[str], None]


def prepare(
    lake: Lake, catalog: Catalog, progress: Progress | None = None, *, memory: str = "4GB"
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding every source's records, their resolution and the graph.

    DuckDB would otherwise take up to 80% of the machine's memory (a 100,000-person training
    table reached 15 GiB); with a limit, its joins, sorts and tables spill to a folder beside
    the lake instead, at some cost in time.
    """
    spill = lake.root.parent / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory, "temp_directory": str(spill)})
    if progress:
        progress("records")
    load_records(con, lake, catalog, None)
    if progress:
        progress("resolution")
    create_resolution(con, catalog)
    if progress:
        progress("graph")
    create_graph(con)
    return con


def schema(modules: Sequence[Module]) -> pa.Schema:
    return _schema([(f.name, f.dtype) for m in modules for f in m.features])


def profile_schema(kind: Kind) -> pa.Schema:
    return _schema(columns(kind))


def _schema(features: Sequence[tuple[str, DType]]) -> pa.Schema:
    fields = [pa.field("subject", pa.string()), pa.field("as_of", pa.date32())]
    return pa.schema(fields + [pa.field(name, ARROW_TYPES[kind]) for name, kind in features])


def run_module(con: duckdb.DuckDBPyConnection, module: Module) -> pa.Table:
    """One module's columns for every spine row, typed as declared; fails loudly when the SQL
    and the declared features disagree or a spine row is lost or repeated."""
    table = arrow(con.sql(module.sql))
    expected = ["subject", "as_of", *module.columns]
    if table.column_names != expected:
        raise ValueError(f"module {module.name} returns {table.column_names}, declares {expected}")
    rows = con.sql("SELECT COUNT(*) FROM spine").fetchall()[0][0]
    if table.num_rows != rows:
        raise ValueError(
            f"module {module.name} returns {table.num_rows} rows for {rows} spine rows"
        )
    target = schema([module])
    return _exact_decimals(table, target).cast(target)


def _exact_decimals(table: pa.Table, target: pa.Schema) -> pa.Table:
    """Decimal columns bound for doubles go through text, so each value rounds correctly
    (3.8 stays 3.8): Arrow's direct decimal-to-double cast scales by a power of ten and can
    land one bit off, which a bank's figures must not show."""
    for i, column in enumerate(table.columns):
        if pa.types.is_decimal(column.type) and pa.types.is_floating(target.field(i).type):
            table = table.set_column(i, table.field(i).name, column.cast(pa.string()))
    return table


def compute(
    con: duckdb.DuckDBPyConnection,
    modules: Sequence[Module],
    spine: pa.Table,
    progress: Progress | None = None,
) -> pa.Table:
    """Every module's features for every spine row, one wide table ordered like the spine."""
    kinds: set[Kind] = {m.kind for m in modules}
    if len(kinds) > 1:
        raise ValueError(f"modules of several kinds: {sorted(kinds)}")
    # One thread: a parallel SUM or AVG over doubles adds in whatever order the threads
    # finish, so two runs could differ in the last bit, and batch and online must agree
    # exactly. Loading records and resolving them (no floating-point sums) stays parallel.
    con.execute("SET threads = 1")
    con.register("spine_input", spine)
    con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT * FROM spine_input")
    con.unregister("spine_input")
    result = spine.select(["subject", "as_of"])
    for module in modules:
        if progress:
            progress(module.name)
        part = run_module(con, module)
        con.register("part", part)
        con.register("result", result)
        result = arrow(
            con.sql(
                "SELECT result.*, "
                + ", ".join(f"part.{c}" for c in module.columns)
                + " FROM result JOIN part USING (subject, as_of) ORDER BY as_of, subject"
            )
        )
        con.unregister("part")
        con.unregister("result")
    return result.cast(schema(modules))


def profile(
    con: duckdb.DuckDBPyConnection, kind: Kind, spine: pa.Table, progress: Progress | None = None
) -> pa.Table:
    """A kind's whole profile for every spine row: a person's modules; or an enterprise's
    own modules and then its legal representative's person profile as of the same date
    (columns prefixed `legal_rep_`, missing where the firm names no representative)."""
    if kind == "person":
        return compute(con, PERSON_MODULES, spine, progress)
    firms = compute(con, ENTERPRISE_MODULES, spine, progress)
    reps = arrow(con.sql(LEGAL_REP_SQL))  # (subject, as_of, person) over the firms' spine
    rep_spine = make_spine(reps.column("person"), reps.column("as_of"))
    people = compute(con, PERSON_MODULES, rep_spine, progress)
    people = people.rename_columns(
        ["person", "as_of", *(LEGAL_REP_PREFIX + name for name in people.column_names[2:])]
    )
    for name, table in (("firms", firms), ("reps", reps), ("rep_profiles", people)):
        con.register(name, table)
    joined = arrow(
        con.sql(
            "SELECT firms.*, "
            + ", ".join(f"rep_profiles.{c}" for c in people.column_names[2:])
            + """ FROM firms
            LEFT JOIN reps ON reps.subject = firms.subject AND reps.as_of = firms.as_of
            LEFT JOIN rep_profiles
              ON rep_profiles.person = reps.person AND rep_profiles.as_of = reps.as_of
            ORDER BY firms.as_of, firms.subject"""
        )
    )
    for name in ("firms", "reps", "rep_profiles"):
        con.unregister(name)
    return joined.cast(profile_schema(kind))
