"""Cross-source checks: for each data item, the latest value every other source holds for an
entity is compared with the authoritative source's ("several sources cross-check").
Disagreements land in the lake's ``conflicts`` table, one batch per state of the lake, so the
check is re-run only when new batches arrive and never duplicated.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import duckdb
import pyarrow as pa

from purecredit.ingest.catalog import Catalog, SourceDef
from purecredit.store.duck import arrow
from purecredit.store.lake import Lake

CROSSCHECK_SOURCE = "crosscheck"  # the lake batch source of conflicts; no catalogue source
# Money units a catalogue may declare, in yuan; values in different units compare in yuan.
UNIT_SCALE = {"元": 1.0, "万元": 10_000.0}


def crosscheck(lake: Lake, catalog: Catalog, observed_at: datetime) -> int:
    """Check every item against its authority; returns the number of conflicts recorded
    (0 when the lake has not changed since the last check)."""
    committed = sorted(
        b["batch_id"] for b in lake.committed_batches() if b["source"] != CROSSCHECK_SOURCE
    )
    batch_id = "x" + hashlib.sha256("\n".join(committed).encode()).hexdigest()[:31]
    if not committed or lake.has_batch(batch_id):
        return 0
    tables = []
    with lake.connect() as con:
        for item, authority, other in _pairs(catalog):
            tables.append(_compare(con, item, authority, other, batch_id, observed_at))
    found = pa.concat_tables(tables) if tables else None
    with lake.batch(CROSSCHECK_SOURCE, batch_id) as writer:
        if found is not None:
            writer.write("conflicts", found)
    return found.num_rows if found is not None else 0


def _pairs(catalog: Catalog) -> list[tuple[str, SourceDef, SourceDef]]:
    pairs = []
    for source in catalog.sources.values():
        for item, spec in sorted(source.items.items()):
            if spec.role != "crosscheck":
                continue
            authority = catalog.authoritative(item)
            if authority is not None:
                pairs.append((item, authority, source))
    return sorted(pairs, key=lambda p: (p[0], p[2].name))


def _values(source: SourceDef, item: str) -> str:
    """SQL for every value the source holds for ``item``: (entity, value, valid_from,
    observed_at), in the item's words and, for money, in yuan."""
    spec = source.items[item]
    scale = UNIT_SCALE.get(source.fields[spec.field].unit or "")
    value = "v.value"
    if spec.map:
        cases = " ".join(f"WHEN '{k}' THEN '{w}'" for k, w in sorted(spec.map.items()))
        value = f"CASE v.value {cases} ELSE v.value END"
    if scale:
        value = f"CAST(CAST(v.value AS DOUBLE) * {scale} AS DECIMAL(20, 2))::VARCHAR"
    where = f"v.source = '{source.name}' AND v.field = '{spec.field}'"
    if not spec.entity_fields:
        return (
            f"SELECT v.entity, {value} AS value, v.valid_from, v.observed_at "
            f"FROM facts v WHERE {where}"
        )
    return " UNION ALL ".join(
        f"""SELECT e.value AS entity, {value} AS value, v.valid_from, v.observed_at
            FROM facts v JOIN facts e ON e.batch_id = v.batch_id AND e.record = v.record
             AND e.field = '{entity_field}'
            WHERE {where}"""
        for entity_field in spec.entity_fields
    )


def _compare(
    con: duckdb.DuckDBPyConnection,
    item: str,
    authority: SourceDef,
    other: SourceDef,
    batch_id: str,
    observed_at: datetime,
) -> pa.Table:
    """Each entity's latest value in ``other`` against what the authority said at the time that
    value was recorded (its latest value then; a snapshot authority's latest value), so a
    record that was right when made is not called wrong by later news."""
    timeless = "TRUE" if authority.valid_from is None else "FALSE"
    sql = f"""
        WITH o AS (
            SELECT entity, value, valid_from FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY entity
                                             ORDER BY valid_from DESC, observed_at DESC) AS rn
                FROM ({_values(other, item)})
            ) WHERE rn = 1
        ), a AS ({_values(authority, item)}),
        pick AS (
            SELECT o.entity, o.value AS other_value, a.value AS authoritative_value,
                   ROW_NUMBER() OVER (PARTITION BY o.entity
                                      ORDER BY a.valid_from DESC, a.observed_at DESC) AS rn
            FROM o JOIN a ON a.entity = o.entity AND ({timeless} OR a.valid_from <= o.valid_from)
        )
        SELECT '{item}' AS item, entity,
               '{authority.name}' AS authoritative_source, authoritative_value,
               '{other.name}' AS other_source, other_value,
               CAST($observed_at AS TIMESTAMP) AS observed_at, $batch_id AS batch_id
        FROM pick WHERE rn = 1 AND authoritative_value <> other_value
        ORDER BY entity
    """
    return arrow(con.sql(sql, params={"observed_at": observed_at, "batch_id": batch_id}))


def conflict_summary(lake: Lake) -> list[dict[str, object]]:
    """Conflicts of the latest check, counted by item and source pair."""
    checks = [b["batch_id"] for b in lake.committed_batches() if b["source"] == CROSSCHECK_SOURCE]
    if not checks:
        return []
    with lake.connect() as con:
        rows = con.execute(
            """
            SELECT item, authoritative_source, other_source, count(DISTINCT entity) AS entities
            FROM conflicts WHERE batch_id = ?
            GROUP BY ALL ORDER BY item, other_source
            """,
            [checks[-1]],
        ).fetchall()
    return [{"item": i, "authoritative": a, "other": o, "entities": int(n)} for i, a, o, n in rows]
