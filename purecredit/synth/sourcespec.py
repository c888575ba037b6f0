"""What one synthetic source looks like when its owner delivers it.

A `SourceSpec` is the contract between the world simulation (which produces one clean table per
source, with internal ASCII column names) and the delivery layer (which renders that table the
way the owning agency would hand it over: headers, file format, encoding, monthly files). The
ingest stage's tests read the same facts back from the manifest, so everything a defect may
touch (IDs, USCCs, dates, keys, nullable cells) is declared here rather than guessed from data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Format = Literal["csv", "jsonl", "parquet", "xlsx"]
Encoding = Literal["utf-8", "gbk"]

FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet", "xlsx")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "gbk")

# A source name becomes a directory and a file-name stem, so keep it portable.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_COLUMN_GROUPS = ("id_columns", "uscc_columns", "date_columns", "key_columns", "nullable_columns")


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """How one source is delivered; every column group names internal columns.

    `headers` maps internal column name -> delivered header and fixes both the delivered
    columns and their order. `id_columns` hold resident identity numbers (GB 11643, 18
    characters), `uscc_columns` unified social credit codes (GB 32100); both are where
    checksum defects go. `key_columns` identify one record, so they never go missing.
    `monthly_by` names a date column; when set, the source is one file per calendar month.
    """

    name: str
    owner: str
    description: str
    entity: str
    fmt: Format
    headers: Mapping[str, str] = field(hash=False)
    encoding: Encoding = "utf-8"
    id_columns: tuple[str, ...] = ()
    uscc_columns: tuple[str, ...] = ()
    date_columns: tuple[str, ...] = ()
    key_columns: tuple[str, ...] = ()
    nullable_columns: tuple[str, ...] = ()
    monthly_by: str | None = None

    def __post_init__(self) -> None:
        # Freeze the mapping and coerce lists to tuples so a spec cannot change after checks.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        for group in _COLUMN_GROUPS:
            object.__setattr__(self, group, tuple(getattr(self, group)))
        self._check_identity()
        self._check_columns()

    def _check_identity(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"source name {self.name!r} must be lower-case ASCII [a-z0-9_]")
        if self.fmt not in FORMATS:
            raise ValueError(f"{self.name}: unknown format {self.fmt!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"{self.name}: unknown encoding {self.encoding!r}")
        if self.encoding != "utf-8" and self.fmt != "csv":
            # JSON lines are UTF-8 by RFC 8259; Parquet and XLSX carry their own encoding.
            raise ValueError(f"{self.name}: only CSV may be delivered as {self.encoding}")

    def _check_columns(self) -> None:
        if not self.headers:
            raise ValueError(f"{self.name}: headers must not be empty")
        delivered = list(self.headers.values())
        if len(set(delivered)) != len(delivered):
            raise ValueError(f"{self.name}: delivered headers must be unique")
        for group in _COLUMN_GROUPS:
            unknown = [c for c in getattr(self, group) if c not in self.headers]
            if unknown:
                raise ValueError(f"{self.name}: {group} not in headers: {unknown}")
        if self.monthly_by is not None and self.monthly_by not in self.date_columns:
            raise ValueError(f"{self.name}: monthly_by {self.monthly_by!r} must be a date column")
        keys_nullable = sorted(set(self.key_columns) & set(self.nullable_columns))
        if keys_nullable:
            raise ValueError(f"{self.name}: key columns cannot be nullable: {keys_nullable}")
        typed = (*self.id_columns, *self.uscc_columns, *self.date_columns)
        if len(set(typed)) != len(typed):
            raise ValueError(f"{self.name}: a column is at most one of id, uscc or date")

    @property
    def columns(self) -> tuple[str, ...]:
        """Internal column names in delivered order."""
        return tuple(self.headers)

    @property
    def extension(self) -> str:
        """File-name extension of the delivered files."""
        return self.fmt

    def file_name(self, month: str | None) -> str:
        """`NAME.ext` for a single file, `NAME_YYYY-MM.ext` for a monthly one."""
        stem = self.name if month is None else f"{self.name}_{month}"
        return f"{stem}.{self.extension}"
