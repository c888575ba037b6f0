"""The online profile: the current features of every subject in one ledger table per kind, so
a decision reads a profile with one primary-key lookup (no DuckDB, no pandas on that path).

The table is rebuilt whole by `materialise` inside one transaction (drop, create, insert), so
readers see the old profile or the new one, never a mix, on SQLite and PostgreSQL alike. Its
columns follow the feature registry, which is why it is created here from the registry rather
than declared once: a new feature is a new column at the next build.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.types import TypeEngine

from purecredit.profile.feature import DType, Kind
from purecredit.profile.features import columns as feature_columns
from purecredit.store.ledger import replace_table

SQL_TYPES: dict[DType, Callable[[], TypeEngine[Any]]] = {
    "int": BigInteger,
    "float": Float,
    "text": Text,
    "bool": Boolean,
    "date": Date,
}


def table_name(kind: Kind) -> str:
    return f"profile_{kind}"


def profile_table(kind: Kind, metadata: MetaData | None = None) -> Table:
    columns: list[Column[Any]] = [
        Column("subject", String(100), primary_key=True),
        Column("as_of", Date, nullable=False),
        Column("built_at", DateTime, nullable=False),
    ]
    columns += [Column(name, SQL_TYPES[dtype]()) for name, dtype in feature_columns(kind)]
    return Table(table_name(kind), metadata or MetaData(), *columns)


def materialise(
    engine: Engine,
    kind: Kind,
    features: pa.Table,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replace the online table of `kind` with `features` (one row per subject, one as_of)."""
    dates = set(features.column("as_of").to_pylist())
    if len(dates) > 1:
        raise ValueError(f"an online profile holds one as-of date, got {sorted(dates)}")
    built_at = datetime.now().replace(microsecond=0)
    return replace_table(
        engine, profile_table(kind), features, constants={"built_at": built_at}, progress=progress
    )


class OnlineProfiles:
    """Indexed lookups of the online profile; one per process, reused across requests."""

    def __init__(self, engine: Engine, kind: Kind) -> None:
        self.engine = engine
        self.table = profile_table(kind)
        self._by_subject = select(self.table).where(self.table.c.subject == bindparam("subject"))

    def get(self, subject: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(self._by_subject, {"subject": subject}).mappings().first()
        return None if row is None else dict(row)

    def as_of(self) -> date | None:
        with self.engine.connect() as connection:
            return connection.execute(select(self.table.c.as_of).limit(1)).scalar()
