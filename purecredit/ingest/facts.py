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
    absence, not a value)."""
    n = table.num_rows
    entity, entity_type = entity_keys(table, source.entity)
    observed_day = pa.scalar(observed_at.date(), pa.date32())
    if source.valid_from:
        valid_from = pc.fill_null(table.column(source.valid_from), observed_day)
    else:
        valid_from = pa.repeat(observed_day, n)
    record = pa.array(np.arange(first_record, first_record + n, dtype=np.int64))
    pieces = []
    for name in source.fields:
        if name not in table.column_names:
            continue
        value = canonical_text(table.column(name))
        keep = pc.is_valid(value)
        piece = pa.table(
            {
                "entity": entity,
                "entity_type": entity_type,
                "field": pa.repeat(pa.scalar(name, pa.string()), n),
                "value": value,
                "valid_from": valid_from,
                "record": record,
            }
        ).filter(keep)
        pieces.append(piece)
    long = pa.concat_tables(pieces) if pieces else FACTS_SCHEMA.empty_table()
    m = long.num_rows
    return pa.table(
        {
            "entity": pc.cast(long.column("entity"), pa.string()),
            "entity_type": pc.cast(long.column("entity_type"), pa.string()),
            "source": pa.repeat(pa.scalar(source.name, pa.string()), m),
            "field": long.column("field"),
            "value": long.column("value"),
            "valid_from": pc.cast(long.column("valid_from"), pa.date32()),
            "observed_at": pa.repeat(pa.scalar(observed_at, pa.timestamp("us")), m),
            "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), m),
            "record": long.column("record"),
        },
        schema=FACTS_SCHEMA,
    )
