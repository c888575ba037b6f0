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
    if source.valid_from:
        valid_from = pc.fill_null(table.column(source.valid_from), observed_day)
    else:
        valid_from = pa.repeat(observed_day, n)
    per_record = pa.table(
        {
            "entity": pc.cast(entity, pa.string()),
            "entity_type": pc.cast(entity_type, pa.string()),
            "valid_from": pc.cast(valid_from, pa.date32()),
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
            "observed_at": pa.repeat(pa.scalar(observed_at, pa.timestamp("us")), m),
            "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), m),
            "record": pc.add(long.column("record"), first_record),
        },
        schema=FACTS_SCHEMA,
    )


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
            "record": pa.array(rows + offset, pa.int64()),
        }
    )
