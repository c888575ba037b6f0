"""The source catalogue: what the data zone knows about every source it takes in.

The catalogue is data (``catalog.yaml`` beside this module, or another file), loaded and
validated at start: a catalogue that does not validate never loads, and the error names the
source and field at fault. It says, per source, who owns it, how it arrives (live feed,
static copy, API call, manual entry), its format and encoding, its fields with their types,
units and protection, which entity a record describes, and which data items it is the
authoritative source for or only cross-checks ("one item, one source; several sources
cross-check").
"""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from purecredit.core.errors import Invalid

Mode = Literal["feed", "copy", "api", "manual"]
FileFormat = Literal["csv", "jsonl", "parquet", "xlsx"]
FieldType = Literal[
    "text",  # free text, stripped and NFKC-normalised
    "int",
    "decimal",  # a money amount or measure; kept exact as a decimal string in facts
    "date",  # YYYY-MM-DD; YYYY/MM/DD and YYYYMMDD are accepted and normalised
    "resident_id",  # GB 11643, 18 digits (15-digit old form converted), checksum verified
    "uscc",  # GB 32100, checksum verified
    "phone",  # 11-digit mainland mobile number
    "enum",  # one of `values`
    "bool",
]
Pii = Literal["id", "name", "phone", "address"]
EntityType = Literal["person", "enterprise", "household", "loan", "account", "market", "branch"]
Authority = Literal["authoritative", "crosscheck"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldDef(_Model):
    """One delivered column. ``pii`` fields never reach the lake in plain text: they become
    keyed tokens there, and their plain value is kept encrypted in the vault."""

    header: str = Field(description="Column header (or JSON key) as the owner delivers it.")
    type: FieldType
    description: str = ""
    unit: str | None = None
    required: bool = False
    pii: Pii | None = None
    values: tuple[str, ...] | None = None  # for enum
    min: float | date | None = None
    max: float | date | None = None
    pattern: str | None = None  # regular expression a text value must match

    @model_validator(mode="after")
    def _consistent(self) -> FieldDef:
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("an enum field needs `values`, and only an enum field has them")
        if self.type == "resident_id" and self.pii != "id":
            raise ValueError("a resident_id field must be protected as pii: id")
        if self.type == "phone" and self.pii != "phone":
            raise ValueError("a phone field must be protected as pii: phone")
        return self


class EntityDef(_Model):
    """Which entity a record describes, and the fields whose (protected) values key it.

    Some sources describe people and firms alike (court cases, credit reports): their records
    carry a resident ID or a USCC. ``alternate`` keys the records whose own key is empty."""

    type: EntityType
    key: tuple[str, ...]
    alternate: EntityDef | None = None

    def fields(self) -> tuple[str, ...]:
        return self.key + (self.alternate.fields() if self.alternate else ())


class ItemDef(_Model):
    """A data item (e.g. ``marital_status``) this source speaks for, and with what authority.

    ``entity_fields`` name the entity when it is not the record's own key (a marriage record
    speaks for both parties); ``map`` turns a source's own words into the item's (a
    registration of divorce means the status "divorced")."""

    field: str
    role: Authority
    entity_fields: tuple[str, ...] = ()
    map: dict[str, str] = Field(default_factory=dict)


class HistoryDef(_Model):
    """How a register's first full copy stands in for the history the bank never took.

    A bank that starts today holds one snapshot of each register, yet models must be trained
    as of dates years back. The first copy of a source with a `history` rule is therefore taken
    as known from each record's own date (``known_from``: a date field, or an int year field
    read as that year's last day) plus ``lag_days``, the time the owner takes to publish; never
    later than its delivery. Only the first batch of a source is treated so: a record that
    first appears in a later copy is known from that copy's delivery, as it really was. Fields
    that change later without a date of their own (a status) are the price of this rule; the
    features read such states through their own dates (closed_on, removed_on, released_on)."""

    known_from: str
    lag_days: int = Field(ge=0)


class SourceDef(_Model):
    name: str
    owner: str
    description: str
    mode: Mode
    format: FileFormat
    encoding: Literal["utf-8", "gbk"] = "utf-8"
    files: str = Field(description="Glob of the delivery's files, relative to sources/<name>/.")
    entity: EntityDef
    record_key: tuple[str, ...] = Field(description="Fields that identify one record.")
    valid_from: str | None = Field(
        None, description="Date field saying when the record's facts became true; None: observed."
    )
    observed_lag_days: int = Field(
        0, ge=0, description="Days after a monthly file's month end that it reaches the bank."
    )
    monthly: bool = False
    history: HistoryDef | None = Field(
        None, description="Backfill rule for the first copy of a register (HistoryDef)."
    )
    sensitive: bool = Field(False, description="Sensitive personal information (PIPL art. 28).")
    fields: dict[str, FieldDef]
    items: dict[str, ItemDef] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields_exist(self) -> SourceDef:
        named = list(self.entity.fields()) + list(self.record_key)
        named += [self.valid_from] if self.valid_from else []
        named += [i.field for i in self.items.values()]
        named += [f for i in self.items.values() for f in i.entity_fields]
        unknown = sorted({n for n in named if n not in self.fields})
        if unknown:
            raise ValueError(f"names fields it does not have: {unknown}")
        if self.valid_from and self.fields[self.valid_from].type != "date":
            raise ValueError(f"valid_from field {self.valid_from!r} must be a date")
        if self.history is not None:
            since = self.fields.get(self.history.known_from)
            if since is None or since.type not in ("date", "int"):
                raise ValueError(
                    f"history.known_from {self.history.known_from!r} must be a date or year field"
                )
            if self.mode not in ("copy", "api"):
                raise ValueError("only a copy or api source has a first copy to backfill")
        headers = [f.header for f in self.fields.values()]
        if len(set(headers)) != len(headers):
            raise ValueError("two fields share a header")
        return self

    def header_map(self) -> dict[str, str]:
        """Delivered header -> field name."""
        return {f.header: name for name, f in self.fields.items()}


class Catalog(_Model):
    version: int
    sources: dict[str, SourceDef]

    @model_validator(mode="after")
    def _one_authority_per_item(self) -> Catalog:
        owners: dict[str, list[str]] = {}
        for source in self.sources.values():
            for item, spec in source.items.items():
                if spec.role == "authoritative":
                    owners.setdefault(item, []).append(source.name)
        doubled = {item: names for item, names in owners.items() if len(names) > 1}
        if doubled:
            raise ValueError(f"one item, one source: several authoritative sources for {doubled}")
        return self

    def source(self, name: str) -> SourceDef:
        try:
            return self.sources[name]
        except KeyError:
            raise Invalid(f"no source named {name!r} in the catalogue", field="source") from None

    def authoritative(self, item: str) -> SourceDef | None:
        for source in self.sources.values():
            spec = source.items.get(item)
            if spec is not None and spec.role == "authoritative":
                return source
        return None


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the catalogue (``None``: the packaged one). Errors name the source
    and the field at fault."""
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else files("purecredit.ingest").joinpath("catalog.yaml").read_text(encoding="utf-8")
    )
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), dict):
        raise Invalid("the catalogue must be a mapping with `sources`", field="sources")
    for name, body in raw["sources"].items():
        if isinstance(body, dict):
            body.setdefault("name", name)
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"catalogue invalid at {where}: {first['msg']}", field=where) from None
