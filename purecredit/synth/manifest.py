"""The manifest: what a synthetic county delivered, file by file, and what is wrong with it.

Ingest tests check their quarantine and row counts against it, and reproducibility is checked
by comparing manifests (the sha256 of every file), so it is written deterministically: sorted
keys, two-space indent, UTF-8 without escapes, a final newline.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One delivered file; `path` is POSIX, relative to the manifest's directory."""

    path: str
    rows: int
    sha256: str
    month: str | None = None


class SourceEntry(_Model):
    """One source as delivered; column lists name delivered headers, `columns` maps to them.

    `rows` counts data records across files, duplicates included. `defects` counts defective
    records per defect type, every type present.
    """

    owner: str
    description: str
    entity: str
    format: str
    encoding: str
    files: list[FileEntry]
    rows: int
    columns: dict[str, str]
    id_columns: list[str]
    uscc_columns: list[str]
    key_columns: list[str]
    date_columns: list[str] = Field(default_factory=list)
    monthly_by: str | None = None
    defects: dict[str, int]


class Manifest(_Model):
    """Everything about one generated county that a later stage or a test may need."""

    purecredit_version: str
    seed: int
    people: int
    months: int
    study_date: date
    history_start: date
    default_rate: float
    defect_rates: dict[str, float]
    sources: dict[str, SourceEntry]
    conflicts: dict[str, dict[str, object]] = Field(default_factory=dict)
    truth: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, object] = Field(default_factory=dict)

    @field_validator("conflicts", "extra", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        """numpy scalars and arrays from the simulation become plain JSON values."""
        return _to_plain(value)


def write_manifest(manifest: Manifest, path: Path) -> None:
    """Write `manifest` as deterministic JSON (same manifest, same bytes)."""
    payload = manifest.model_dump(mode="json")
    text = json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


def read_manifest(path: Path) -> Manifest:
    """Read and validate a manifest written by `write_manifest`."""
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_to_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
