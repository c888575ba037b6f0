"""Materialise the current profile of every person and enterprise as of one date, and the
current relationship graph.

The subjects are everyone the data zone can tie a record to by that date (any resolved
record known by the cutoff), so a person known only from the credit bureau still gets a
profile, most of it missing, which is itself what a credit officer needs to see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
from sqlalchemy import Engine

from purecredit.ingest.catalog import Catalog
from purecredit.profile.compute import prepare, profile
from purecredit.profile.feature import Kind
from purecredit.profile.features import ENTERPRISE_MODULES, PERSON_MODULES
from purecredit.profile.graph import edges_arrow, materialise_edges
from purecredit.profile.online import materialise
from purecredit.profile.resolve import resolved_sources, view_name
from purecredit.profile.spine import make_spine, windows
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    as_of: date
    subjects: dict[str, int] = field(default_factory=dict)
    edges: int = 0
    unresolved: dict[str, int] = field(default_factory=dict)


def subjects(con: BatchSql, catalog: Catalog, kind: Kind, as_of: date) -> pa.Array:
    """Every person (ID token) or enterprise (USCC) some record known by `as_of` is about."""
    cutoff = windows(as_of)["cutoff"]
    union = "\nUNION\n".join(
        f"SELECT {kind} AS subject FROM {view_name(name)} "
        f"WHERE {kind} IS NOT NULL AND _known_at < $cutoff AND _valid_from <= $as_of"
        for name in resolved_sources(catalog)
    )
    result = con.sql(
        f"SELECT subject FROM ({union}) ORDER BY subject", params={"cutoff": cutoff, "as_of": as_of}
    )
    return pa.array([row[0] for row in result.fetchall()], pa.string())


def build_steps() -> int:
    """How many times `build_profiles` reports progress: records, resolution and the graph;
    each module (an enterprise's, then its representatives' person modules); three writes."""
    return 3 + 2 * len(PERSON_MODULES) + len(ENTERPRISE_MODULES) + 3


def build_profiles(
    lake: Lake,
    catalog: Catalog,
    engine: Engine,
    as_of: date,
    progress: Progress | None = None,
    *,
    memory: str = "4GB",
    con: BatchSql | None = None,
) -> BuildReport:
    """Compute and materialise both kinds of profile and the graph; returns counts per kind.
    The batch SQL runs on `con` (Spark's, say), else on a new DuckDB bounded by `memory`
    (`Settings.duckdb_memory`)."""
    con = prepare(lake, catalog, progress, memory=memory, con=con)
    report = BuildReport(as_of)
    kinds: tuple[Kind, ...] = ("person", "enterprise")
    for kind in kinds:
        found = subjects(con, catalog, kind, as_of)
        table = profile(con, kind, make_spine(found, [as_of] * len(found)), progress)
        if progress:
            progress(f"online {kind} profiles")
        report.subjects[kind] = materialise(engine, kind, table)
    if progress:
        progress("online graph")
    report.edges = materialise_edges(engine, edges_arrow(con))
    unresolved = con.sql("SELECT source, COUNT(*) FROM unresolved_records GROUP BY source")
    report.unresolved = {name: int(n) for name, n in unresolved.fetchall()}
    return report
