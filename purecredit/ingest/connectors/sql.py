"""The SQL connector: a table or a query from any database SQLAlchemy can reach -> `RawBatch`.

Some owners give the bank a read-only account on a reporting database instead of files. Rows
arrive typed by the database (numbers, decimals, dates), so they keep their types; a column
whose values disagree (SQLite lets them) arrives as text. Records are numbered in result order:
pass a query with ``ORDER BY`` when the numbering must be stable between runs.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pyarrow as pa
from sqlalchemy import create_engine, literal_column, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.sql import Executable

from purecredit.core.errors import Invalid
from purecredit.ingest.catalog import SourceDef
from purecredit.ingest.connectors.base import (
    RECORD,
    Delivered,
    RawBatch,
    SourceUnavailable,
    no_rejects,
    to_array,
    to_batch,
)

_TABLE = re.compile(r"^(?:(?P<schema>\w+)\.)?(?P<name>\w+)$")
CHUNK_ROWS = 50_000


def read_sql(url: str, query_or_table: str, source: SourceDef) -> RawBatch:
    """Read a table (``name`` or ``schema.name``) or a ``SELECT`` query; columns are matched to
    the catalogue by name, as delivered headers are. Raises `SourceUnavailable` when the
    database cannot be reached or the statement fails."""
    try:
        engine = create_engine(url)
    except (ArgumentError, ValueError, ImportError) as exc:
        raise Invalid(f"not a usable database URL: {type(exc).__name__}", field="url") from None
    where = make_url(url).render_as_string(hide_password=True)
    statement, label = _statement(query_or_table)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
                statement
            )
            headers = [str(key) for key in result.keys()]  # noqa: SIM118 (a Result, not a dict)
            columns: list[list[object]] = [[] for _ in headers]
            for chunk in result.partitions():
                for values, column in zip(zip(*chunk, strict=True), columns, strict=True):
                    column.extend(values)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise SourceUnavailable(f"could not read {label} from {where}: {reason}") from None
    finally:
        engine.dispose()
    rows = len(columns[0]) if columns else 0
    arrays = [to_array(column) for column in columns]
    records = pa.array(np.arange(1, rows + 1, dtype=np.int64))
    delivered_table = pa.table([*arrays, records], names=[*headers, RECORD])
    delivered = Delivered(delivered_table, no_rejects(), _content_hash(delivered_table))
    return to_batch(delivered, source, f"sql/{source.name}/{label}")


def _statement(query_or_table: str) -> tuple[Executable, str]:
    """A bare (optionally schema-qualified) name is a table, quoted by the dialect; anything
    else is a query, run as given."""
    named = _TABLE.match(query_or_table.strip())
    if named is None:
        return text(query_or_table), "query"
    target = table(named["name"], schema=named["schema"])
    return select(literal_column("*")).select_from(target), named["name"]


def _content_hash(delivered: pa.Table) -> str:
    """sha256 of the rows in Arrow IPC form: the same rows with the same types, the same hash."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, delivered.schema) as writer:
        writer.write_table(delivered.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
