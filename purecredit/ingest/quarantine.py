"""Quarantine: every record that could not land is kept, with where it came from, the field
at fault, its raw value (encrypted: it may hold PII) and a reason a data steward can act on.
Nothing is lost; a later corrected delivery simply lands.
"""

from __future__ import annotations

import re
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.protect import Protector, encrypt_raw
from purecredit.store.lake import QUARANTINE_SCHEMA, Lake

# When a reader or validator gives no defect class, it is inferred from the reason's words.
_CLASSES = (
    ("encoding", re.compile(r"not valid (GBK|UTF-8)|encoding|decode", re.I)),
    ("columns", re.compile(r"expected \d+ fields|fields, found", re.I)),
    ("json", re.compile(r"JSON", re.I)),
    ("checksum", re.compile(r"check (digit|character)|checksum", re.I)),
    ("date", re.compile(r"date", re.I)),
    ("missing", re.compile(r"missing|required", re.I)),
)


def defect_class(reason: str) -> str:
    for name, pattern in _CLASSES:
        if pattern.search(reason):
            return name
    return "invalid"


def quarantine_rows(
    rejects: pa.Table,
    *,
    source: str,
    batch_id: str,
    observed_at: datetime,
    protector: Protector,
) -> pa.Table:
    """Rejected records (columns file, record, field, raw, reason[, defect]) as quarantine
    rows, with the raw value encrypted."""
    n = rejects.num_rows
    if n == 0:
        return QUARANTINE_SCHEMA.empty_table()
    reasons = rejects.column("reason").to_pylist()
    if "defect" in rejects.column_names:
        given = rejects.column("defect").to_pylist()
        defects = [d or defect_class(r) for d, r in zip(given, reasons, strict=True)]
    else:
        defects = [defect_class(r) for r in reasons]
    raw = encrypt_raw(pc.cast(rejects.column("raw"), pa.string()).to_pylist(), protector)
    return pa.table(
        {
            "source": pa.repeat(pa.scalar(source, pa.string()), n),
            "file": pc.cast(rejects.column("file"), pa.string()),
            "record": pc.cast(rejects.column("record"), pa.int64()),
            "field": pc.cast(rejects.column("field"), pa.string()),
            "raw": pa.array(raw, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "defect": pa.array(defects, pa.string()),
            "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), n),
            "observed_at": pa.repeat(pa.scalar(observed_at, pa.timestamp("us")), n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def quarantine_summary(lake: Lake, source: str | None = None) -> list[dict[str, object]]:
    """Quarantined records by source, defect class and reason pattern (no raw values)."""
    with lake.connect() as con:
        rows = con.execute(
            """
            SELECT source, defect, count(*) AS records, min(reason) AS example
            FROM quarantine WHERE ? IS NULL OR source = ?
            GROUP BY source, defect ORDER BY source, defect
            """,
            [source, source],
        ).fetchall()
    return [{"source": s, "defect": d, "records": n, "example": e} for s, d, n, e in rows]


def quarantine_records(
    lake: Lake, *, source: str | None = None, defect: str | None = None, limit: int = 50
) -> list[dict[str, object]]:
    """Quarantined records with their location and reason; ``id`` names one for ``show``."""
    with lake.connect() as con:
        rows = con.execute(
            """
            SELECT batch_id || '-' || record AS id, source, file, record, field, defect, reason
            FROM quarantine
            WHERE (? IS NULL OR source = ?) AND (? IS NULL OR defect = ?)
            ORDER BY source, file, record LIMIT ?
            """,
            [source, source, defect, defect, limit],
        ).fetchall()
    names = ("id", "source", "file", "record", "field", "defect", "reason")
    return [dict(zip(names, row, strict=True)) for row in rows]


def quarantine_record(
    lake: Lake, record_id: str, protector: Protector | None = None
) -> dict[str, object]:
    """One quarantined record; its raw value is decrypted only when a protector is given."""
    from purecredit.core.errors import NotFound

    batch_id, _, number = record_id.rpartition("-")
    with lake.connect() as con:
        row = con.execute(
            "SELECT source, file, record, field, defect, reason, raw, batch_id, observed_at "
            "FROM quarantine WHERE batch_id = ? AND record = ?",
            [batch_id, int(number) if number.isdigit() else -1],
        ).fetchone()
    if row is None:
        raise NotFound(f"no quarantined record {record_id}", field="id")
    names = (
        "source",
        "file",
        "record",
        "field",
        "defect",
        "reason",
        "raw",
        "batch_id",
        "observed_at",
    )
    out = dict(zip(names, row, strict=True))
    out["raw"] = protector.reveal_raw(str(out["raw"])) if protector is not None else "(encrypted)"
    return out
