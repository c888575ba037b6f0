"""Facts back into typed records: one table per source, one row per delivered record version.

Facts are long (one row per field) so that the lake never needs a schema change; features want
records (an instalment's due and paid dates side by side). A record is every fact of one
(batch, record number); its columns are typed from the catalogue. Meta columns start with `_`
so no source field can clash with them: `_entity`, `_entity_type`, `_batch`, `_record`,
`_valid_from`, `_observed_at`.

The pivot is portable SQL (GROUP BY with CASE, CAST): Spark runs the same text.
"""

from __future__ import annotations

from collections.abc import Iterable

from purecredit.ingest.catalog import Catalog, FieldDef, SourceDef
from purecredit.store.batch import compact
from purecredit.store.lake import Lake
from purecredit.store.lake.schemas import TABLE_SCHEMAS
from purecredit.store.lake.views import table_select
from purecredit.store.spark import BatchSql, SparkSql

# The SQL type each catalogue field type is read back as; text-like types stay VARCHAR.
# Decimals stay exact (money has two places, rates four): a sum of exact values is the same
# whatever order rows arrive in, so a feature is the same whichever spine it is computed for
# (batch and online agree to the last bit); a sum of doubles is not. 14 integer digits hold
# any amount in 元 a county will see.
SQL_TYPES = {"int": "BIGINT", "decimal": "DECIMAL(18,4)", "date": "DATE", "bool": "BOOLEAN"}
META = ("_entity", "_entity_type", "_batch", "_record", "_valid_from", "_observed_at")


def record_table(source: SourceDef) -> str:
    return f"rec_{source.name}"


def _column(name: str, field: FieldDef) -> str:
    value = f"MAX(CASE WHEN field = '{name}' THEN value END)"
    kind = SQL_TYPES.get(field.type)
    return f"CAST({value} AS {kind}) AS {name}" if kind else f"{value} AS {name}"


def pivot_sql(source: SourceDef, facts: str) -> str:
    """The SELECT turning `facts` (a table expression holding this source's facts) into
    records."""
    columns = ",\n  ".join(_column(name, field) for name, field in source.fields.items())
    return f"""SELECT
  entity AS _entity, entity_type AS _entity_type, batch_id AS _batch, record AS _record,
  MIN(valid_from) AS _valid_from, MAX(observed_at) AS _observed_at,
  {columns}
FROM {facts}
WHERE source = '{source.name}'
GROUP BY entity, entity_type, batch_id, record"""


def load_records(
    con: BatchSql,
    lake: Lake,
    catalog: Catalog,
    sources: Iterable[str] | None,
) -> None:
    """Materialise `rec_<source>` tables on `con` from the lake's committed fact files.

    Each source reads only its own files (a view over the whole lake would open every file's
    footer for every source). Materialised, not a view: every module reads them several times.
    """
    names = sorted(catalog.sources) if sources is None else sorted(sources)
    for name in names:
        source = catalog.source(name)
        files = lake.files("facts", name)
        if isinstance(con, SparkSql):
            con.parquet("source_facts", files, TABLE_SCHEMAS["facts"])
            facts = "source_facts"
        else:
            facts = f"({table_select('facts', files)}) AS f"
        con.execute(f"CREATE OR REPLACE TABLE {record_table(source)} AS {pivot_sql(source, facts)}")
        compact(con)
