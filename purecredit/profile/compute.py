"""Batch computation: records and resolution over the lake, then every module for a spine.

One path serves both uses (DESIGN.md, "one definition, two uses"): a training table is
`compute` over many (subject, as_of) pairs; the online profile is `compute` over every
subject as of one date, written to the ledger by `online.materialise`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from purecredit.ingest.catalog import Catalog
from purecredit.profile.feature import DType, Kind, Module
from purecredit.profile.records import load_records
from purecredit.profile.resolve import create_resolution
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
    lake: Lake, catalog: Catalog, progress: Progress | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding every source's records and their resolution."""
    con = duckdb.connect()
    if progress:
        progress("records")
    load_records(con, lake, catalog, None)
    if progress:
        progress("resolution")
    create_resolution(con, catalog)
    return con


def schema(modules: Sequence[Module]) -> pa.Schema:
    fields = [pa.field("subject", pa.string()), pa.field("as_of", pa.date32())]
    for module in modules:
        fields += [pa.field(f.name, ARROW_TYPES[f.dtype]) for f in module.features]
    return pa.schema(fields)


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
    return table.cast(schema([module]))


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
