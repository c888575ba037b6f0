"""The Arrow schemas of the lake's shared tables, and the check that a written table fits one.

The schemas live here, not with the stages that fill them, because the lake must create empty
views with the right columns before any batch exists, and because every part file of a table
must carry the same types: DuckDB and Spark read a table as one union of its files.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from purecredit.core.errors import Invalid

FACTS_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("entity_type", pa.string()),
        ("source", pa.string()),
        ("field", pa.string()),
        ("value", pa.string()),
        ("valid_from", pa.date32()),
        ("observed_at", pa.timestamp("us")),
        ("batch_id", pa.string()),
        ("record", pa.int64()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("record", pa.int64()),
        ("field", pa.string()),
        ("raw", pa.string()),
        ("reason", pa.string()),
        ("defect", pa.string()),
        ("batch_id", pa.string()),
        ("observed_at", pa.timestamp("us")),
    ]
)
CONFLICTS_SCHEMA = pa.schema(
    [
        ("item", pa.string()),
        ("entity", pa.string()),
        ("authoritative_source", pa.string()),
        ("authoritative_value", pa.string()),
        ("other_source", pa.string()),
        ("other_value", pa.string()),
        ("observed_at", pa.timestamp("us")),
        ("batch_id", pa.string()),
    ]
)
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "facts": FACTS_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA,
    "conflicts": CONFLICTS_SCHEMA,
}

# The DuckDB type of each Arrow type the shared schemas use, for the empty views.
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}

# Table names become directory and view names; partition values become `key=value` path
# segments that DuckDB and Spark parse, so neither may hold '/', '=', spaces or quotes.
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PARTITION_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_table_name(name: str) -> str:
    if not _TABLE_NAME.fullmatch(name):
        raise Invalid(f"lake table name {name!r} must be lower-case letters, digits and '_'")
    return name


def check_partition_value(kind: str, value: str) -> str:
    if not _PARTITION_VALUE.fullmatch(value):
        raise Invalid(f"{kind} {value!r} must be letters, digits, '_', '.' or '-'")
    return value


def empty_select(schema: pa.Schema) -> str:
    """A SELECT with the schema's columns and no rows, so a view exists before any data."""
    columns = ", ".join(f'CAST(NULL AS {_SQL_TYPES[f.type]}) AS "{f.name}"' for f in schema)
    return f"SELECT {columns} WHERE false"


def conform(name: str, table: pa.Table, *, source: str, batch_id: str) -> pa.Table:
    """The table as it will be stored: the shared schema's columns in order, safely cast.

    A shared table with a missing or extra column is refused rather than padded, since it
    means the caller built the wrong shape. A `source` or `batch_id` column must agree with
    the batch, or the data would contradict the partition path it is stored under. Schema
    metadata (pandas adds some) is dropped so the same rows always give the same file bytes.
    """
    schema = TABLE_SCHEMAS.get(name)
    if schema is not None:
        missing = sorted(set(schema.names) - set(table.column_names))
        extra = sorted(set(table.column_names) - set(schema.names))
        if missing or extra:
            raise Invalid(f"lake table {name!r}: missing columns {missing}, unexpected {extra}")
        table = table.select(schema.names).cast(schema)
    for column, expected in (("source", source), ("batch_id", batch_id)):
        if column in table.column_names and table.num_rows:
            agrees = pc.all(pc.equal(table[column], expected)).as_py()
            if not agrees or table[column].null_count:
                raise Invalid(f"lake table {name!r}: every {column} must be {expected!r}")
    return table.replace_schema_metadata(None)
