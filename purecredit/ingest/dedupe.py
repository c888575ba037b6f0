"""Duplicates: the same record delivered twice, or facts the lake already holds.

Near duplicates (whitespace, full-width digits, another date format) are caught here too,
because validation has already normalised them to the same values as their originals.

A fact the lake already holds is one with the same entity, field, value and valid_from in a
committed batch of the same source: re-delivered unchanged data adds nothing, a changed value
adds a version. A version is of the whole record: a record with any new fact lands with all
its facts, so every batch holds complete records and the profile stage can read a record's
latest version by its key without stitching fields from several deliveries.

Joining each new batch against every earlier batch of its source in DuckDB cost a county's
ingest more than anything else (48 monthly files, each joined against all the months before
it), so `KnownFacts` answers the question from memory instead:

* each committed batch is summarised by the valid_from range of its facts (from the run that
  wrote it, or from its Parquet statistics) and, once needed, the sorted 64-bit hashes of its
  facts' keys; a batch whose range misses every incoming valid_from is never read;
* an incoming fact whose hash is in no overlapping batch is new, for certain;
* a hash that is found may be a collision, so those facts (and only those) are confirmed by
  an exact join against the files of the batches they were found in.

The answer is therefore exactly the anti-join's, at the cost of one hash per fact.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from purecredit.ingest.facts import META_COLUMNS
from purecredit.store.duck import arrow
from purecredit.store.lake import Lake
from purecredit.store.lake.views import table_select

KEY_COLUMNS = ("entity", "field", "value", "valid_from")
# DuckDB's hash of the key columns: the same function hashes incoming Arrow facts and
# committed Parquet facts, and is only ever compared within one process.
_KEY_HASH = "hash(entity, field, value, valid_from)"
_MATCHABLE = " AND ".join(f"{column} IS NOT NULL" for column in KEY_COLUMNS)
# Hashes kept in memory at most (8 bytes each): about the facts of a 1,000,000-person
# county's largest monthly file several times over. Least recently used batches go first and
# are read back from the lake if needed again.
DEFAULT_BUDGET = 1 << 25

Hashes = npt.NDArray[np.uint64]
Days = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def drop_repeated_records(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep the first of identical records (all fields equal, nulls equal); return (kept,
    dropped)."""
    fields = [c for c in table.column_names if c not in META_COLUMNS]
    if table.num_rows == 0 or not fields:
        return table, 0
    numbered = table.select(fields).append_column("_row", pa.array(np.arange(table.num_rows)))
    firsts = numbered.group_by(fields, use_threads=False).aggregate([("_row", "min")])
    keep = np.sort(firsts.column("_row_min").to_numpy())
    return table.take(keep), table.num_rows - keep.size


@dataclass(frozen=True)
class FactKeys:
    """The keys of a batch's facts: hashes of those that can match (no null key column), in
    no order, and the valid_from range they span in days since 1970 (None: no such fact)."""

    hashes: Hashes | None  # None: not computed (read back from the lake when needed)
    span: tuple[int, int] | None

    @classmethod
    def of(cls, hashes: Hashes, days: Days) -> FactKeys:
        if hashes.size == 0:
            return cls(np.empty(0, np.uint64), None)
        return cls(hashes, (int(days.min()), int(days.max())))

    @classmethod
    def unhashed(cls, days: Days) -> FactKeys:
        if days.size == 0:
            return cls(np.empty(0, np.uint64), None)
        return cls(None, (int(days.min()), int(days.max())))


@dataclass(frozen=True)
class NewFacts:
    """`KnownFacts.new_facts`' answer: the facts to land, and their keys, to `remember` once
    the batch is committed."""

    table: pa.Table
    keys: FactKeys


@dataclass
class _Batch:
    span: tuple[int, int] | None  # None: no fact of the batch can match anything
    hashes: Hashes | None = None  # None until loaded, or after eviction
    # Sorted only when first searched: most batches (a source's only file, or a month no
    # later file reaches back to) never are.
    is_sorted: bool = False


class KnownFacts:
    """The fact keys of the lake's committed batches, for one run (see the module's doc).

    Which batches count is asked of the lake at every call, so batches another process
    committed meanwhile count too; what a batch holds never changes once committed, so its
    summary is kept for the run. ``con`` is the run's scratch DuckDB connection.
    """

    def __init__(
        self, lake: Lake, con: duckdb.DuckDBPyConnection, *, budget: int = DEFAULT_BUDGET
    ) -> None:
        self._lake = lake
        self._con = con
        self._budget = budget
        self._batches: OrderedDict[str, _Batch] = OrderedDict()  # least recently used first
        self._held = 0
        self.loaded = 0  # batches read back from the lake (a test watches it)
        self.confirmed = 0  # facts whose hash was found and were checked exactly

    def new_facts(self, facts: pa.Table, source: str, *, keep_keys: bool = True) -> NewFacts:
        """The facts of ``facts`` (one source's) that no committed batch of ``source`` holds,
        in their order (an anti-join on entity, field, value and valid_from), with the other
        facts of their records: a changed record lands whole.

        ``keep_keys`` says the answer's keys will be remembered for later batches of the
        source in this run; without it (a source's last file) facts are hashed only when a
        committed batch could hold them, and the batch is read back if ever needed."""
        if facts.num_rows == 0:
            return NewFacts(facts, FactKeys.of(np.empty(0, np.uint64), np.empty(0, np.int64)))
        # Days since 1970; a null (never matchable, see `_matchable`) reads as day 0.
        day_numbers = pc.fill_null(pc.cast(facts.column("valid_from"), pa.int32()), 0)
        days = np.asarray(day_numbers.to_numpy(), dtype=np.int64)
        matchable = _matchable(facts)
        hashes = self._hash(facts) if keep_keys else None
        found = np.zeros(facts.num_rows, dtype=bool)
        holders: list[dict[str, Any]] = []
        if matchable.any():
            low, high = int(days[matchable].min()), int(days[matchable].max())
            for marker in self._markers(source):
                span = self._span(marker)
                if span is None or span[1] < low or span[0] > high:
                    continue  # no fact of this batch has an incoming valid_from
                rows = np.flatnonzero(matchable & (days >= span[0]) & (days <= span[1]))
                if rows.size == 0:
                    continue
                if hashes is None:
                    hashes = self._hash(facts)
                hit = _isin_sorted(hashes[rows], self._hashes(marker))
                if hit.any():
                    found[rows[hit]] = True
                    holders.append(marker)
        if holders:
            found = self._confirm(facts, found, holders)
        keep = _whole_records(facts, ~found)
        fresh = facts.filter(pa.array(keep)) if found.any() else facts
        kept = keep & matchable
        if hashes is None:
            return NewFacts(fresh, FactKeys.unhashed(days[kept]))
        return NewFacts(fresh, FactKeys.of(hashes[kept], days[kept]))

    def remember(self, batch_id: str, keys: FactKeys) -> None:
        """Record what a batch committed just now holds, so it is never read back."""
        self._store(batch_id, _Batch(keys.span, keys.hashes))

    def _markers(self, source: str) -> list[dict[str, Any]]:
        return [
            marker
            for marker in self._lake.committed_batches()
            if marker["source"] == source and marker["tables"].get("facts", {}).get("rows")
        ]

    def _files(self, marker: dict[str, Any]) -> list[Path]:
        root = self._lake.root.absolute()
        return [root / part["path"] for part in marker["tables"]["facts"]["files"]]

    def _span(self, marker: dict[str, Any]) -> tuple[int, int] | None:
        """A committed batch's valid_from range: remembered, or from its files' Parquet
        statistics (unbounded where a file has none, so the batch is read, never skipped)."""
        batch_id = str(marker["batch_id"])
        known = self._batches.get(batch_id)
        if known is not None:
            return known.span
        low, high = math.inf, -math.inf
        for path in self._files(marker):
            low_file, high_file = _statistics_span(path)
            low, high = min(low, low_file), max(high, high_file)
        span = (int(max(low, -(2**62))), int(min(high, 2**62))) if low <= high else None
        self._store(batch_id, _Batch(span))
        return span

    def _hashes(self, marker: dict[str, Any]) -> Hashes:
        batch_id = str(marker["batch_id"])
        known = self._batches[batch_id]  # `_span` put it there
        self._batches.move_to_end(batch_id)
        if known.hashes is None:
            files = self._files(marker)
            result = self._con.sql(
                f"SELECT {_KEY_HASH} AS h FROM ({table_select('facts', files)}) WHERE {_MATCHABLE}"
            ).fetchnumpy()
            self.loaded += 1
            self._store(batch_id, _Batch(known.span, np.array(result["h"], dtype=np.uint64)))
            known = self._batches[batch_id]
        assert known.hashes is not None
        if not known.is_sorted:
            known.hashes.sort()
            known.is_sorted = True
        return known.hashes

    def _store(self, batch_id: str, batch: _Batch) -> None:
        old = self._batches.pop(batch_id, None)
        if old is not None and old.hashes is not None:
            self._held -= old.hashes.size
        self._batches[batch_id] = batch
        if batch.hashes is not None:
            self._held += batch.hashes.size
        for other, entry in self._batches.items():  # oldest first; never the one just stored
            if self._held <= self._budget or other == batch_id:
                break
            if entry.hashes is not None:
                self._held -= entry.hashes.size
                entry.hashes = None

    def _hash(self, facts: pa.Table) -> Hashes:
        keys = facts.select(list(KEY_COLUMNS))
        self._con.register("_fact_keys", keys)
        try:
            result = self._con.sql(f"SELECT {_KEY_HASH} AS h FROM _fact_keys").fetchnumpy()
        finally:
            self._con.unregister("_fact_keys")
        return np.asarray(result["h"], np.uint64)

    def _confirm(self, facts: pa.Table, found: Mask, holders: list[dict[str, Any]]) -> Mask:
        """Of the facts whose hash was found, those an exact comparison finds in the batches
        that matched (a 64-bit hash can collide; a fact must never be lost to that)."""
        rows = np.flatnonzero(found)
        self.confirmed += rows.size
        candidates = facts.select(list(KEY_COLUMNS)).take(rows)
        candidates = candidates.append_column("_row", pa.array(rows, pa.int64()))
        low, high = pc.min_max(candidates.column("valid_from")).values()
        files = [path for marker in holders for path in self._files(marker)]
        self._con.register("_candidates", candidates)
        try:
            result = arrow(
                self._con.sql(
                    f"""
                    SELECT c._row FROM _candidates c
                    SEMI JOIN (
                        SELECT entity, field, value, valid_from
                        FROM ({table_select("facts", files)})
                        WHERE valid_from BETWEEN $low AND $high
                    ) f USING (entity, field, value, valid_from)
                    """,
                    params={"low": low.as_py(), "high": high.as_py()},
                )
            )
        finally:
            self._con.unregister("_candidates")
        known = np.zeros(facts.num_rows, dtype=bool)
        known[result.column("_row").to_numpy()] = True
        return known


def _whole_records(facts: pa.Table, new: Mask) -> Mask:
    """Every fact of each record that has at least one new fact."""
    if new.all() or not new.any():
        return new
    records = np.asarray(facts.column("record").to_numpy(), dtype=np.int64)
    keep: Mask = np.isin(records, np.unique(records[new]))
    return keep


def _matchable(facts: pa.Table) -> Mask:
    """Facts with no null key column: SQL equality never matches a null, nor does this."""
    mask = np.ones(facts.num_rows, dtype=bool)
    for column in KEY_COLUMNS:
        values = facts.column(column)
        if values.null_count:
            mask &= np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def _isin_sorted(values: Hashes, sorted_keys: Hashes) -> Mask:
    if sorted_keys.size == 0:
        return np.zeros(values.size, dtype=bool)
    at = np.searchsorted(sorted_keys, values)
    at[at == sorted_keys.size] = 0
    return np.asarray(sorted_keys[at] == values, dtype=bool)


def _statistics_span(path: Path) -> tuple[float, float]:
    """valid_from's (min, max) in days over a fact file's row groups; unbounded when a row
    group has no statistics (another writer may not write them)."""
    metadata = pq.read_metadata(path)
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if "valid_from" not in names:
        return -math.inf, math.inf
    column = names.index("valid_from")
    low, high = math.inf, -math.inf
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(column)
        stats = chunk.statistics
        if chunk.num_values == 0:
            continue
        if stats is None or not stats.has_min_max:
            return -math.inf, math.inf
        low = min(low, _days(stats.min))
        high = max(high, _days(stats.max))
    return low, high


def _days(value: object) -> float:
    """A Parquet DATE statistic (a date, or its day number) as days since 1970."""
    if isinstance(value, int):
        return float(value)
    scalar = pa.scalar(value, pa.date32())
    return float(pc.cast(scalar, pa.int32()).as_py())
