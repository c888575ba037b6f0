"""The data zone for risk staff: the source catalogue (owners, formats, how each arrives)
with each source's freshness in the lake, the quarantine's counts and reasons, and the
cross-source conflicts of the latest check.

Counts and reasons only, never a record's values (results-only egress, DESIGN.md): a
quarantined record's raw text stays encrypted in the lake, a conflict is shown as an item
and two sources with how many entities disagree, and a reason is masked besides
(`present.shown`) in case a validator's words ever quote an ID number or phone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.crosscheck import CROSSCHECK_SOURCE, conflict_summary
from purecredit.ingest.quarantine import quarantine_summary
from purecredit.store.lake import Lake
from purecredit.ui.auth import ConsoleRoute, SignedDep, require_page
from purecredit.ui.present import shown
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def freshness(lake: Lake) -> dict[str, dict[str, Any]]:
    """Per source: committed batches, rows landed, the latest delivery (when it reached the
    bank, `observed_at`) and its age in days."""
    out: dict[str, dict[str, Any]] = {}
    for marker in lake.committed_batches():
        if marker["source"] == CROSSCHECK_SOURCE:
            continue
        seen = out.setdefault(marker["source"], {"batches": 0, "rows": 0, "latest": None})
        seen["batches"] += 1
        seen["rows"] += int(marker["tables"].get("facts", {}).get("rows", 0))
    if out:
        with lake.connect() as con:
            latest = con.execute(
                "SELECT source, max(observed_at) FROM facts GROUP BY source"
            ).fetchall()
        today = datetime.now(UTC).date()
        for source, when in latest:
            if source in out and when is not None:
                out[source] |= {"latest": when.date(), "age_days": (today - when.date()).days}
    return out


@router.get("/data")
def data(request: Request, who: SignedDep) -> Response:
    staff = require_page(who, "data")
    settings: Settings = request.app.state.settings
    lake = Lake(settings.home / "lake")
    quarantine = [row | {"example": shown(row["example"])} for row in quarantine_summary(lake)]
    return page(
        request,
        "data.html",
        staff=staff,
        csrf=who.csrf,
        sources=load_catalog().sources,
        fresh=freshness(lake),
        quarantine=quarantine,
        conflicts=conflict_summary(lake),
    )
