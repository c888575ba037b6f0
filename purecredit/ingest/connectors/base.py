"""What every connector hands to validation: a `RawBatch` of one delivered file (or one API or
SQL read), with the records it could read and the ones it could not.

Connectors never judge values; they only turn bytes into records. A record whose bytes cannot
become a record at all (undecodable line, wrong number of fields, invalid JSON) is a reject
here, with a reason a data steward can act on; everything else goes on to validation. Column
names are catalogue field names, so nothing downstream depends on how an owner spells a header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from purecredit.core.errors import Invalid, PurecreditError
from purecredit.ingest.catalog import SourceDef

RECORD = "_record"  # 1-based record number within the file, header excluded
FILE = "_file"  # the file's path relative to the delivery root (POSIX)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("record", pa.int64()),  # null: the whole file could not be read
        pa.field("field", pa.string()),
        pa.field("raw", pa.string()),  # may hold PII: encrypted before it is stored
        pa.field("reason", pa.string(), nullable=False),
    ]
)


class SourceUnavailable(PurecreditError):
    """A source could not be read at all (server down, still failing after retries, database
    unreachable); the run should stop or skip the source, since no record was judged."""

    status: ClassVar[int] = 503
    title: ClassVar[str] = "Source unavailable"
    slug: ClassVar[str] = "source-unavailable"


@dataclass(frozen=True)
class RawBatch:
    """One file's records as read: ``table`` has one column per catalogue field plus
    ``_record`` and ``_file``; ``rejects`` follows `REJECT_SCHEMA`. ``read`` counts every record
    the file holds, so ``read == landed + quarantined + duplicates`` can be checked later."""

    source: str
    file: str
    table: pa.Table
    rejects: pa.Table
    content_hash: str
    unknown_headers: tuple[str, ...] = field(default=())

    @property
    def read(self) -> int:
        return int(self.table.num_rows + self.rejects.num_rows)


@dataclass(frozen=True)
class Delivered:
    """A file as its owner delivered it: columns named by delivered header, plus ``_record``.
    The API server serves this shape; `to_batch` turns it into a `RawBatch`."""

    table: pa.Table
    rejects: pa.Table
    content_hash: str


def rejects_table(
    file: str,
    records: Sequence[int | None],
    raws: Sequence[str | None],
    reasons: Sequence[str],
) -> pa.Table:
    """Rejects of one file in `REJECT_SCHEMA`, ordered by record number."""
    table = pa.table(
        {
            "file": pa.array([file] * len(records), pa.string()),
            "record": pa.array(records, pa.int64()),
            "field": pa.nulls(len(records), pa.string()),
            "raw": pa.array(raws, pa.string()),
            "reason": pa.array(reasons, pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return table.sort_by([("record", "ascending")]) if len(records) > 1 else table


def no_rejects() -> pa.Table:
    return REJECT_SCHEMA.empty_table()


def to_batch(delivered: Delivered, source: SourceDef, file: str) -> RawBatch:
    """Map delivered headers to field names: unknown headers are dropped and reported, missing
    fields become all-null text columns, text columns are plain ``string``."""
    table = delivered.table
    wanted = source.header_map()
    columns: dict[str, pa.ChunkedArray] = {}
    unknown: list[str] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name == RECORD:
            continue
        target = wanted.get(name)
        if target is None or target in columns:  # unknown, or a repeated header
            unknown.append(name)
            continue
        columns[target] = _plain(column)
    rows = table.num_rows
    arrays = [columns.get(name, pa.nulls(rows, pa.string())) for name in source.fields]
    records = pc.cast(table.column(RECORD), pa.int64())
    arrays += [records, pa.repeat(pa.scalar(file, pa.string()), rows)]
    names = [*source.fields, RECORD, FILE]
    return RawBatch(
        source=source.name,
        file=file,
        table=pa.table(arrays, names=names),
        rejects=delivered.rejects,
        content_hash=delivered.content_hash,
        unknown_headers=tuple(unknown),
    )


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``string`` for every text column (large and view strings included), null columns too."""
    kind = column.type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind) or pa.types.is_null(kind):
        return pc.cast(column, pa.string())
    return column


def to_array(values: Sequence[object]) -> pa.Array:
    """Values from Python (an XLSX column, JSON records, SQL rows) as one Arrow array: typed
    when they agree on a type, else as text, so a stray value never fails the read."""
    try:
        array = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        array = pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if pa.types.is_nested(array.type) or pa.types.is_binary(array.type):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return array


def relative_name(path: Path, root: Path) -> str:
    """The POSIX path of a delivered file relative to its delivery root (the name quarantine
    rows and facts carry)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise Invalid(f"{path.name} is not inside the delivery root", field="path") from None
