"""What may be shown about a county outside the data zone: aggregates of its manifest only
(sources, files, row and defect counts), never records and never the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from purecredit.core.errors import NotFound
from purecredit.synth.manifest import Manifest, read_manifest


def county_summary(manifest: Manifest) -> dict[str, Any]:
    sources = [
        {
            "name": name,
            "owner": entry.owner,
            "format": entry.format,
            "encoding": entry.encoding,
            "files": len(entry.files),
            "rows": entry.rows,
            "defects": sum(entry.defects.values()),
        }
        for name, entry in sorted(manifest.sources.items())
    ]
    return {
        "people": manifest.people,
        "seed": manifest.seed,
        "history_start": manifest.history_start.isoformat(),
        "study_date": manifest.study_date.isoformat(),
        "months": manifest.months,
        "sources": sources,
        "total_rows": sum(s["rows"] for s in sources),
        "total_defects": sum(s["defects"] for s in sources),
        "conflicts": sum(int(c["count"]) for c in manifest.conflicts.values()),  # type: ignore[call-overload]
        "households": manifest.extra.get("households"),
        "enterprises": manifest.extra.get("enterprises"),
        "bank_loans": manifest.extra.get("bank_loans"),
    }


def load_county_summary(county: Path) -> dict[str, Any]:
    """Summary of the county built under ``county``; NotFound when none was built."""
    path = county / "manifest.json"
    if not path.is_file():
        raise NotFound("no county has been built yet; run `purecredit demo`", field="county")
    return county_summary(read_manifest(path))
