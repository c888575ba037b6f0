"""Aggregates of the synthetic county the data zone holds (results only, no records), for
the risk console and monitoring: scope `metrics:read`, like the gateway's own counts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from purecredit.api.auth import scoped
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES
from purecredit.api.tokens import Claims
from purecredit.core.settings import Settings
from purecredit.synth.summary import load_county_summary

router = APIRouter(tags=["county"], responses=PROBLEM_RESPONSES)


@router.get("/v1/county")
def county(
    request: Request, _claims: Annotated[Claims, Depends(scoped("metrics:read"))]
) -> dict[str, Any]:
    """Sources, files, rows, defects and conflicts of the county: counts only (404 before a
    county is built)."""
    current(request).outcome = "read"
    settings: Settings = request.app.state.settings
    return load_county_summary(settings.county_path)
