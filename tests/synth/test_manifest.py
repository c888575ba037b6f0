"""The manifest round-trips and is written byte-for-byte the same for the same content."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pydantic
import pytest

from purecredit.synth.defects import DefectRates
from purecredit.synth.manifest import (
    FileEntry,
    Manifest,
    SourceEntry,
    read_manifest,
    write_manifest,
)


def _source(month: str | None = "2023-01") -> SourceEntry:
    return SourceEntry(
        owner="亳州市市场监督管理局 / Bozhou Market Regulation Bureau",
        description="Enterprise registry",
        entity="enterprise",
        format="csv",
        encoding="gbk",
        files=[FileEntry(path="sources/er/er_2023-01.csv", rows=3, sha256="ab" * 32, month=month)],
        rows=3,
        columns={"uscc": "统一社会信用代码", "name": "企业名称"},
        id_columns=[],
        uscc_columns=["统一社会信用代码"],
        key_columns=["统一社会信用代码"],
        defects={"missing": 1, "bad_checksum": 0},
    )


def _manifest(**extra: object) -> Manifest:
    return Manifest(
        purecredit_version="0.1.0",
        seed=42,
        people=10_000,
        months=36,
        study_date=date(2025, 6, 30),
        history_start=date(2022, 7, 1),
        default_rate=0.021,
        defect_rates=DefectRates().as_dict(),
        sources={"zz_last": _source(), "enterprise_registry": _source(None)},
        conflicts={"legal_rep": {"sources": ["registry", "tax"], "count": np.int64(12)}},
        truth={"defects": "truth/defects.parquet"},
        extra={"households": np.int64(4_100), "share": np.float64(0.25), **extra},
    )


def test_round_trip(tmp_path: Path) -> None:
    manifest = _manifest(pairs=np.array([1, 2]))
    write_manifest(manifest, tmp_path / "m" / "manifest.json")
    back = read_manifest(tmp_path / "m" / "manifest.json")
    assert back == manifest
    assert back.study_date == date(2025, 6, 30)
    assert back.sources["zz_last"].files[0].month == "2023-01"
    assert back.extra == {"households": 4_100, "share": 0.25, "pairs": [1, 2]}
    assert back.conflicts["legal_rep"] == {"sources": ["registry", "tax"], "count": 12}


def test_same_manifest_same_bytes_sorted_and_readable(tmp_path: Path) -> None:
    write_manifest(_manifest(), tmp_path / "a.json")
    write_manifest(_manifest(), tmp_path / "b.json")
    raw = (tmp_path / "a.json").read_bytes()
    assert raw == (tmp_path / "b.json").read_bytes()
    assert raw.endswith(b"}\n")
    assert "亳州市".encode() in raw  # not \\u-escaped
    text = raw.decode("utf-8")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert text.index('"enterprise_registry"') < text.index('"zz_last"')


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        FileEntry(path="a", rows=1, sha256="x", month=None, extra_field=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        Manifest.model_validate({**_manifest().model_dump(), "typo": 1})


def test_dates_are_iso_in_the_file(tmp_path: Path) -> None:
    write_manifest(_manifest(), tmp_path / "m.json")
    payload = json.loads((tmp_path / "m.json").read_text("utf-8"))
    assert payload["study_date"] == "2025-06-30"
    assert payload["defect_rates"]["late_arriving"] == 0.005
