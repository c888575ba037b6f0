"""Batch scoring: every profile row through the champion that would decide its subject today,
with its PD, master-scale grade and reason codes.

One function, `Scorers.score`, scores one Arrow batch; the embedded engine calls it on the
whole profile table and Spark calls it on each partition's Arrow batches (`mapInArrow`), so
both engines score with the very same compiled models and code. The models travel to Spark's
workers inside the function's closure (they are plain numpy and Python objects), so a worker
needs the package, not the home folder.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from purecredit.core.errors import NotFound
from purecredit.ingest.catalog import Catalog
from purecredit.profile.build import subjects
from purecredit.profile.compute import fetch, prepare, profile_into, profile_schema
from purecredit.profile.feature import Kind
from purecredit.profile.spine import make_spine
from purecredit.score import registry
from purecredit.score.registry import RegisteredModel
from purecredit.score.sample import PERSON_SEGMENTS, SEGMENT_FEATURES, segment_of
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql, SparkSql

REASONS = 4
SCORES_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("as_of", pa.date32()),
        ("kind", pa.string()),
        ("segment", pa.string()),
        ("model", pa.string()),
        ("pd", pa.float64()),
        ("grade", pa.string()),
        ("reason_codes", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True)
class Scorers:
    """The champion scoring each segment of one kind (a firm's one segment: "enterprise")."""

    kind: Kind
    models: dict[str, RegisteredModel]

    @classmethod
    def load(cls, home: Path, kind: Kind) -> Scorers:
        """Each segment's scoring champion (`registry.scoring_segment`, as decisions choose);
        NotFound when the kind has no model at all."""
        segments = PERSON_SEGMENTS if kind == "person" else ("enterprise",)
        models = {}
        for segment in segments:
            name = registry.scoring_segment(home, kind, segment)
            if registry.champion(home, name) is None:
                raise NotFound(f"no {kind} model to score with (segment {name})", field="model")
            models[segment] = registry.load(home, name)
        return cls(kind, models)

    def segments(self, batch: pa.Table) -> np.ndarray:
        if self.kind == "enterprise":
            return np.full(batch.num_rows, "enterprise", dtype=object)
        rows = batch.select(list(SEGMENT_FEATURES)).to_pylist()
        return np.array([segment_of(row) for row in rows], dtype=object)

    def score(self, batch: pa.Table | pa.RecordBatch) -> pa.Table:
        """Scores of one batch of profile rows (`subject`, `as_of` and the kind's features),
        in the batch's order."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        segments = self.segments(table)
        n = table.num_rows
        model = np.empty(n, dtype=object)
        pds = np.full(n, np.nan)
        grades = np.empty(n, dtype=object)
        reasons: list[list[str]] = [[] for _ in range(n)]
        for segment in sorted(set(segments.tolist())):
            where = np.flatnonzero(segments == segment)
            scorer = self.models[str(segment)]
            rows = table.take(pa.array(where))
            columns = {name: _values(rows.column(name)) for name in scorer.features}
            pds[where] = scorer.pd_batch(columns)
            grades[where] = scorer.master_scale.grade(pds[where])
            model[where] = f"{scorer.segment}@{scorer.version}"
            for i, found in zip(where, scorer.reasons(columns, top=REASONS), strict=True):
                reasons[i] = [r.code for r in found]
        return pa.table(
            {
                "subject": table.column("subject"),
                "as_of": table.column("as_of"),
                "kind": pa.array([self.kind] * n, pa.string()),
                "segment": pa.array(segments.tolist(), pa.string()),
                "model": pa.array(model.tolist(), pa.string()),
                "pd": pa.array(pds, pa.float64()),
                "grade": pa.array(grades.tolist(), pa.string()),
                "reason_codes": pa.array(reasons, pa.list_(pa.string())),
            },
            schema=SCORES_SCHEMA,
        )

    def score_batches(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """`score` over a stream of batches: the shape Spark's `mapInArrow` calls."""
        for batch in batches:
            if batch.num_rows:
                yield from self.score(batch).to_batches()


def _values(column: pa.ChunkedArray) -> np.ndarray:
    """A feature column as the scorers' batch path takes it from the ledger's profiles: an
    object array with None for missing (what `monitor.rescore` hands them from pandas)."""
    return np.array(column.to_pylist(), dtype=object)


# Spark's spelling of SCORES_SCHEMA, for `mapInArrow`.
SPARK_SCHEMA = (
    "subject string, as_of date, kind string, segment string, model string, pd double, "
    "grade string, reason_codes array<string>"
)


def write_scores(con: BatchSql, scorers: Scorers, table: str, out: str) -> int:
    """Score the engine's profile table `table` into Parquet under `out` (a folder, or on
    Spark any URI it writes); returns the rows written.

    All or nothing: DuckDB's scores are written beside `out` and renamed into place; Spark's
    output committer publishes a job's files only when every task has finished (`_SUCCESS`).
    """
    if isinstance(con, SparkSql):
        frame = con.spark.table(table).mapInArrow(scorers.score_batches, SPARK_SCHEMA)
        frame.write.mode("overwrite").parquet(out)
        return int(con.spark.read.parquet(out).count())
    scores = scorers.score(fetch(con, table, profile_schema(scorers.kind)))
    folder = Path(out)
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    try:
        pq.write_table(scores, staging / "part-00000.parquet")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return int(scores.num_rows)


def score_subjects(
    con: BatchSql,
    lake: Lake,
    catalog: Catalog,
    home: Path,
    as_of: date,
    out: str,
    *,
    kinds: Sequence[Kind] = ("person", "enterprise"),
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    prepared: bool = False,
) -> dict[Kind, int]:
    """Profile and score every subject of `kinds` as of `as_of` (or those of `only`, lake
    keys), on `con`'s engine, into `out/<kind>/`. Returns the rows scored per kind.
    `prepared`: `con` already holds the lake's records and resolution (`prepare`)."""
    if not prepared:
        prepare(lake, catalog, progress, con=con)
    scored: dict[Kind, int] = {}
    for kind in kinds:
        scorers = Scorers.load(home, kind)
        found = subjects(con, catalog, kind, as_of).to_pylist()
        if only is not None:
            wanted = set(only)
            found = [s for s in found if s in wanted]
        profile_into(con, kind, make_spine(found, [as_of] * len(found)), "profile_rows", progress)
        if progress:
            progress(f"scores of {kind}s")
        scored[kind] = write_scores(con, scorers, "profile_rows", f"{out.rstrip('/')}/{kind}")
    return scored
