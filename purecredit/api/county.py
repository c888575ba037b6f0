"""Aggregates of the synthetic county the data zone holds (results only, no records)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from purecredit.core.settings import Settings
from purecredit.synth.summary import load_county_summary

router = APIRouter(tags=["county"])


@router.get("/v1/county")
def county(request: Request) -> dict[str, Any]:
    """Sources, files, rows, defects and conflicts of the county: counts only."""
    settings: Settings = request.app.state.settings
    return load_county_summary(settings.county_path)
