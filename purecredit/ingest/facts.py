"""Records become facts: one row per (record, field) with a value, keyed by the entity the
record describes, stamped with when it became true (``valid_from``) and when the bank learned
it (``observed_at``). Long form, so a new source or field needs no schema change and "what was
known on a date" is one filter.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.catalog import EntityDef, SourceDef
from purecredit.store.lake import FACTS_SCHEMA

META_COLUMNS = ("_record", "_file")


def canonical_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A value as fact text: ISO dates, plain numbers, true/false, strings as they are."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "true", "false")
    return pc.cast(column, pa.string())


def entity_keys(
    table: pa.Table, entity: EntityDef
) -> tuple[pa.ChunkedArray | pa.Array, pa.ChunkedArray | pa.Array]:
    """(entity, entity_type) of each record: its own (already protected) key values joined by
    '|', or, where those are empty, its alternate key's (a firm in a court case)."""
    parts = [canonical_text(table.column(name)) for name in entity.key]
    key = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")
    kind = pa.repeat(pa.scalar(entity.type, pa.string()), table.num_rows)
    if entity.alternate is None:
        return key, kind
    other, other_kind = entity_keys(table, entity.alternate)
    present = pc.is_valid(key)
    return pc.if_else(present, key, other), pc.if_else(present, kind, other_kind)


def to_facts(
    table: pa.Table,
    source: SourceDef,
    *,
    batch_id: str,
    observed_at: datetime,
    first_record: int = 0,
    backfill: bool = False,
) -> pa.Table:
    """Unpivot protected, validated records into facts (nulls make no fact: missing is
    absence, not a value), ordered by record, then field name.

    Record order keeps a record's facts, and its entity's repeats, side by side: the Parquet
    file is then a third of the size of field order (a token repeated in a run encodes once)
    and quicker to write, and a batch reads back record by record."""
    n = table.num_rows
    names = sorted(name for name in source.fields if name in table.column_names)
    if n == 0 or not names:
        return FACTS_SCHEMA.empty_table()
    entity, entity_type = entity_keys(table, source.entity)
    observed_day = pa.scalar(observed_at.date(), pa.date32())
    known_at = _known_at(table, source, observed_at, backfill)
    if source.valid_from:
        valid_from = pc.fill_null(table.column(source.valid_from), observed_day)
    else:
        # Undated facts hold from when the bank learned them (a backfilled first copy's date).
        valid_from = pc.cast(known_at, pa.date32())
    per_record = pa.table(
        {
            "entity": pc.cast(entity, pa.string()),
            "entity_type": pc.cast(entity_type, pa.string()),
            "valid_from": pc.cast(valid_from, pa.date32()),
            "observed_at": known_at,
        }
    )
    values = pa.table({name: canonical_text(table.column(name)) for name in names})
    pieces = [
        _unpivot(per_record.slice(start, _SLICE), values.slice(start, _SLICE), start)
        for start in range(0, n, _SLICE)
    ]
    long = pa.concat_tables(pieces)
    m = long.num_rows
    return pa.table(
        {
            "entity": long.column("entity"),
            "entity_type": long.column("entity_type"),
            "source": pa.repeat(pa.scalar(source.name, pa.string()), m),
            "field": long.column("field"),
            "value": long.column("value"),
            "valid_from": long.column("valid_from"),
            "observed_at": long.column("observed_at"),
            "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), m),
            "record": pc.add(long.column("record"), first_record),
        },
        schema=FACTS_SCHEMA,
    )


def _known_at(
    table: pa.Table, source: SourceDef, observed_at: datetime, backfill: bool
) -> pa.Array:
    """When the bank learned each record: the delivery, or for a register's first copy under
    a `history` rule its own date plus the publication lag, never after the delivery (a
    record with no such date is known from the delivery)."""
    n = table.num_rows
    delivered = pa.scalar(observed_at, pa.timestamp("us"))
    if not (backfill and source.history):
        return pa.repeat(delivered, n)
    rule = source.history
    column = table.column(rule.known_from)
    if source.fields[rule.known_from].type == "int":
        # A year field (survey year, rating year) counts from that year's last day.
        years = column.to_numpy(zero_copy_only=False)
        valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
        safe = np.where(valid, years, 1970).astype("int64")
        ends = (safe - 1970 + 1).astype("datetime64[Y]").astype("datetime64[D]") - 1
        since = pa.array(ends, pa.date32(), mask=~valid)
    else:
        since = pc.cast(column, pa.date32())
    lag = np.timedelta64(rule.lag_days, "D")
    days = since.to_numpy(zero_copy_only=False)
    known = pa.array(
        np.asarray(days, dtype="datetime64[D]").astype("datetime64[us]") + lag,
        pa.timestamp("us"),
        mask=~pc.is_valid(since).to_numpy(zero_copy_only=False),
    )
    return pc.fill_null(pc.min_element_wise(known, delivered), delivered)


# Records unpivoted at a time: bounds the one concatenated value column far below Arrow's
# 2 GiB string limit, whatever the file's size.
_SLICE = 1 << 18


def _unpivot(per_record: pa.Table, values: pa.Table, offset: int) -> pa.Table:
    """One slice of records as long rows (entity, entity_type, field, value, valid_from,
    record), record-major and fields in the order of ``values``' columns: a single gather
    per column instead of a filter and a copy per field."""
    n = values.num_rows
    present = np.column_stack(
        [
            np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
            for column in values.columns
        ]
    )
    rows, fields = np.nonzero(present)  # row-major: by record, then field
    stacked = pa.chunked_array(
        [chunk for column in values.columns for chunk in column.chunks], pa.string()
    ).combine_chunks()
    return pa.table(
        {
            "entity": per_record.column("entity").take(rows),
            "entity_type": per_record.column("entity_type").take(rows),
            "field": pa.array(values.column_names, pa.string()).take(fields),
            "value": stacked.take(fields * n + rows),
            "valid_from": per_record.column("valid_from").take(rows),
            "observed_at": per_record.column("observed_at").take(rows),
            "record": pa.array(rows + offset, pa.int64()),
        }
    )
