"""Batch computation: records and resolution over the lake, then every module for a spine.

One path serves both uses (DESIGN.md, "one definition, two uses"): a training table is
`profile` over many (subject, as_of) pairs; the online profile is `profile` over every
subject as of one date, written to the ledger by `online.materialise`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from purecredit.ingest.catalog import Catalog
from purecredit.profile.feature import SPINE_COLUMNS, DType, Kind, Module
from purecredit.profile.features import (
    ENTERPRISE_MODULES,
    LEGAL_REP_PREFIX,
    LEGAL_REP_SQL,
    PERSON_MODULES,
    columns,
)
from purecredit.profile.graph import create_graph
from purecredit.profile.records import load_records, record_table
from purecredit.profile.resolve import create_resolution, resolved_sources
from purecredit.store.batch import duck
from purecredit.store.duck import arrow
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql

ARROW_TYPES: dict[DType, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
Progress = Callable[[str], None]


def prepare(
    lake: Lake,
    catalog: Catalog,
    progress: Progress | None = None,
    *,
    memory: str = "4GB",
    con: BatchSql | None = None,
) -> BatchSql:
    """`con` (a new DuckDB connection bounded by `memory`, unless given one, e.g. Spark's)
    holding every source's resolved records (`r_<source>`, the reference sources' as
    `rec_<source>`) and the graph."""
    con = con if con is not None else duck(lake.root, memory)
    if progress:
        progress("records")
    load_records(con, lake, catalog, None)
    if progress:
        progress("resolution")
    create_resolution(con, catalog)
    if progress:
        progress("graph")
    create_graph(con)
    # Each resolved table carries all its record's columns, so the unresolved copies are not
    # read again: dropped, they stop taking half of what the engine holds (at a million
    # people, tens of GB DuckDB would otherwise spill).
    for name in resolved_sources(catalog):
        con.execute(f"DROP TABLE IF EXISTS {record_table(catalog.source(name))}")
    return con


def schema(modules: Sequence[Module]) -> pa.Schema:
    return _schema([(f.name, f.dtype) for m in modules for f in m.features])


def profile_schema(kind: Kind) -> pa.Schema:
    return _schema(columns(kind))


def _schema(features: Sequence[tuple[str, DType]]) -> pa.Schema:
    fields = [pa.field("subject", pa.string()), pa.field("as_of", pa.date32())]
    return pa.schema(fields + [pa.field(name, ARROW_TYPES[kind]) for name, kind in features])


# The SQL type each declared feature type is cast to, in the engine (portable names).
SQL_TYPES: dict[DType, str] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "date": "DATE",
}


def _count(con: BatchSql, table: str) -> int:
    return int(con.sql(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


def run_module(con: BatchSql, module: Module, into: str) -> None:
    """One module's columns for every spine row, typed as declared, as the engine's table
    `into`; fails loudly when the SQL and the declared features disagree or a spine row is
    lost or repeated.

    A DECIMAL bound for a double is cast by the engine: both round the exact value to the
    nearest double (3.8 stays 3.8), which Arrow's own decimal-to-double cast does not."""
    names = arrow(con.sql(f"SELECT * FROM ({module.sql}) m LIMIT 0")).column_names
    expected = ["subject", "as_of", *module.columns]
    if names != expected:
        raise ValueError(f"module {module.name} returns {names}, declares {expected}")
    typed = ", ".join(
        f"CAST({f.name} AS {SQL_TYPES[f.dtype]}) AS {f.name}" for f in module.features
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {into} AS SELECT subject, as_of, {typed} FROM ({module.sql}) m"
    )
    rows, spine = _count(con, into), _count(con, "spine")
    if rows != spine:
        raise ValueError(f"module {module.name} returns {rows} rows for {spine} spine rows")


def compute_into(
    con: BatchSql,
    modules: Sequence[Module],
    spine: pa.Table | str,
    into: str,
    progress: Progress | None = None,
) -> None:
    """Every module's features for every spine row, as the engine's table `into` (one wide
    row per spine row). `spine` is Arrow or a SELECT of the spine's columns; nothing leaves
    the engine, so Spark computes a province's table across its cluster."""
    kinds: set[Kind] = {m.kind for m in modules}
    if len(kinds) > 1:
        raise ValueError(f"modules of several kinds: {sorted(kinds)}")
    # One thread: a parallel SUM or AVG over doubles adds in whatever order the threads
    # finish, so two runs could differ in the last bit, and batch and online must agree
    # exactly. Loading records and resolving them (no floating-point sums) stays parallel.
    # (Spark sums only exact DECIMALs and integers in the modules: `feature.mean`.)
    con.execute("SET threads = 1")
    if isinstance(spine, str):
        con.execute(f"CREATE OR REPLACE TEMP TABLE spine AS {spine}")
    else:
        con.register("spine_input", spine)
        con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT * FROM spine_input")
        con.unregister("spine_input")
    parts = []
    for i, module in enumerate(modules):
        if progress:
            progress(module.name)
        run_module(con, module, f"module_{i}")
        parts.append((f"module_{i}", module))
    selected = ", ".join(f"{t}.{c}" for t, m in parts for c in m.columns)
    joins = "\n".join(
        f"JOIN {t} ON {t}.subject = s.subject AND {t}.as_of = s.as_of" for t, _ in parts
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {into} AS SELECT s.subject, s.as_of, {selected} "
        f"FROM spine s\n{joins}"
    )
    for table, _ in parts:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def fetch(con: BatchSql, table: str, target: pa.Schema) -> pa.Table:
    """The engine's table as Arrow, ordered by date then subject, typed as `target`."""
    return arrow(con.sql(f"SELECT * FROM {table} ORDER BY as_of, subject")).cast(target)


def compute(
    con: BatchSql,
    modules: Sequence[Module],
    spine: pa.Table,
    progress: Progress | None = None,
) -> pa.Table:
    """Every module's features for every spine row, one wide table ordered like the spine."""
    compute_into(con, modules, spine, "features", progress)
    return fetch(con, "features", schema(modules))


def profile_into(
    con: BatchSql, kind: Kind, spine: pa.Table, into: str, progress: Progress | None = None
) -> None:
    """A kind's whole profile for every spine row, as the engine's table `into`: a person's
    modules; or an enterprise's own modules and then its legal representative's person
    profile as of the same date (columns prefixed `legal_rep_`, missing where the firm names
    no representative)."""
    if kind == "person":
        compute_into(con, PERSON_MODULES, spine, into, progress)
        return
    compute_into(con, ENTERPRISE_MODULES, spine, "firm_features", progress)
    con.execute(f"CREATE OR REPLACE TABLE reps AS {LEGAL_REP_SQL}")  # over the firms' spine
    windows = ", ".join(f"w.{c}" for c in SPINE_COLUMNS[1:])
    con.execute(f"""CREATE OR REPLACE TABLE rep_spine AS SELECT DISTINCT r.person AS subject,
  {windows}
FROM reps r JOIN (SELECT DISTINCT {", ".join(SPINE_COLUMNS[1:])} FROM spine) w
  ON w.as_of = r.as_of""")
    compute_into(con, PERSON_MODULES, "SELECT * FROM rep_spine", "rep_features", progress)
    reps = ", ".join(
        f"p.{f.name} AS {LEGAL_REP_PREFIX}{f.name}" for m in PERSON_MODULES for f in m.features
    )
    con.execute(f"""CREATE OR REPLACE TABLE {into} AS SELECT f.*, {reps}
FROM firm_features f
LEFT JOIN reps r ON r.subject = f.subject AND r.as_of = f.as_of
LEFT JOIN rep_features p ON p.subject = r.person AND p.as_of = r.as_of""")
    for table in ("firm_features", "reps", "rep_spine", "rep_features"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def profile(
    con: BatchSql, kind: Kind, spine: pa.Table, progress: Progress | None = None
) -> pa.Table:
    """`profile_into`, fetched as Arrow and ordered like the spine."""
    profile_into(con, kind, spine, "profile_rows", progress)
    return fetch(con, "profile_rows", profile_schema(kind))
