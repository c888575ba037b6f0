"""Validation of one delivered table against its catalogue entry.

Every field is checked a whole column at a time; a record that fails is rejected once, for
the first failing field in catalogue order, with the raw value and a reason a data steward
can act on. Rows are processed in slices, so memory stays bounded and Arrow's 2 GiB string
limit never bites on a big file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.core.masking import mask_resident_id
from purecredit.ingest.catalog import FieldDef, FieldType, SourceDef
from purecredit.ingest.validate.identifiers import check_resident_ids, check_usccs
from purecredit.ingest.validate.outcome import Checked, Failure
from purecredit.ingest.validate.text import as_text, valid_mask
from purecredit.ingest.validate.values import (
    check_bool,
    check_date,
    check_decimal,
    check_enum,
    check_int,
    check_phone,
    check_text,
)

META_COLUMNS = ("_record", "_file")
SLICE_ROWS = 1 << 20
REQUIRED_MISSING = "required value missing"
_ID_SHAPED = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")
REJECT_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("record", pa.int64()),
        ("field", pa.string()),
        ("raw", pa.string()),
        ("reason", pa.string()),
        ("defect", pa.string()),
    ]
)

Check = Callable[[pa.Array, FieldDef], Checked]
CHECKS: dict[FieldType, Check] = {
    "text": check_text,
    "int": check_int,
    "decimal": check_decimal,
    "date": check_date,
    "resident_id": check_resident_ids,
    "uscc": check_usccs,
    "phone": check_phone,
    "enum": check_enum,
    "bool": check_bool,
}
ARROW_TYPES: dict[FieldType, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
    "resident_id": pa.string(),
    "uscc": pa.string(),
    "phone": pa.string(),
    "enum": pa.string(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class Validated:
    """Rows that passed (typed, normalised) and one reject row per failed record."""

    table: pa.Table
    rejects: pa.Table


def valid_schema(source: SourceDef) -> pa.Schema:
    """Schema of `Validated.table`: fields in catalogue order, then `_record`, `_file`."""
    fields = [(name, ARROW_TYPES[spec.type]) for name, spec in source.fields.items()]
    return pa.schema([*fields, ("_record", pa.int64()), ("_file", pa.string())])


def validate(raw: pa.Table, source: SourceDef) -> Validated:
    """Check and normalise a delivered table (one column per field name, plus `_record` and
    `_file`); columns the catalogue does not know are ignored, missing ones are all null."""
    absent = [name for name in META_COLUMNS if name not in raw.column_names]
    if absent:
        raise ValueError(f"a raw table needs the columns {list(META_COLUMNS)}; missing {absent}")
    starts = range(0, raw.num_rows, SLICE_ROWS) if raw.num_rows else [0]
    parts = [_validate_slice(raw.slice(start, SLICE_ROWS), source) for start in starts]
    return Validated(
        pa.concat_tables([part.table for part in parts]),
        pa.concat_tables([part.rejects for part in parts]),
    )


def _validate_slice(raw: pa.Table, source: SourceDef) -> Validated:
    n = raw.num_rows
    rejected = np.zeros(n, dtype=bool)
    found: list[tuple[str, pa.Array, Failure]] = []
    values: dict[str, pa.Array] = {}
    for name, spec in source.fields.items():
        column = _column(raw, name)
        checked = _check_present(column, spec)
        failures = list(checked.failures)
        if spec.required:
            failures += _missing(checked)
        for failed in failures:
            fresh = ~rejected[failed.rows]
            if fresh.any():
                rows = failed.rows[fresh]
                rejected[rows] = True
                reasons = [r for r, keep in zip(failed.reasons, fresh, strict=True) if keep]
                found.append((name, column, Failure(rows, failed.defect, reasons)))
        values[name] = checked.values
    schema = valid_schema(source)
    columns = [values[name] for name in source.fields]
    columns += [_column(raw, meta) for meta in META_COLUMNS]
    if rejected.any():
        keep = pa.array(~rejected)
        columns = [column.filter(keep) for column in columns]
    table = pa.Table.from_arrays(
        [c.cast(f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )
    return Validated(table, _rejects(raw, found))


def _check_present(column: pa.Array, spec: FieldDef) -> Checked:
    """Run the field's check on the rows that hold a value only: many columns (a firm's
    USCC on a deposit file of individuals) are mostly empty."""
    present = valid_mask(column)
    if present.all():
        return CHECKS[spec.type](column, spec)
    rows = np.flatnonzero(present).astype(np.int64)
    checked = CHECKS[spec.type](column.filter(pa.array(present)), spec)
    empty = pa.nulls(len(column), checked.values.type)
    return Checked(
        pc.replace_with_mask(empty, pa.array(present), checked.values),
        [Failure(rows[f.rows], f.defect, f.reasons) for f in checked.failures],
    )


def _column(raw: pa.Table, name: str) -> pa.Array:
    if name not in raw.column_names:
        return pa.nulls(raw.num_rows, pa.string())
    column = raw.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _missing(checked: Checked) -> list[Failure]:
    absent = np.asarray(checked.values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    for failed in checked.failures:
        absent[failed.rows] = False
    rows = np.flatnonzero(absent).astype(np.int64)
    if rows.size == 0:
        return []
    return [Failure(rows, "missing", [REQUIRED_MISSING] * rows.size)]


def _scrub(reason: str) -> str:
    """Mask anything shaped like a resident ID left in a reason (an ID typed into a field
    that is not protected): reasons are stored and shown in plain text."""
    return _ID_SHAPED.sub(lambda found: mask_resident_id(found.group()), reason)


def _rejects(raw: pa.Table, found: list[tuple[str, pa.Array, Failure]]) -> pa.Table:
    if not found:
        return REJECT_SCHEMA.empty_table()
    rows = np.concatenate([failed.rows for _, _, failed in found])
    taken = pa.array(rows)
    table = pa.table(
        {
            "file": _column(raw, "_file").take(taken).cast(pa.string()),
            "record": _column(raw, "_record").take(taken).cast(pa.int64()),
            "field": pa.array([name for name, _, f in found for _ in f.rows], pa.string()),
            "raw": pa.concat_arrays(
                [as_text(column.take(pa.array(f.rows))) for _, column, f in found]
            ),
            "reason": pa.array([_scrub(r) for _, _, f in found for r in f.reasons], pa.string()),
            "defect": pa.array([f.defect for _, _, f in found for _ in f.rows], pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return table.take(pa.array(np.argsort(rows, kind="stable")))
