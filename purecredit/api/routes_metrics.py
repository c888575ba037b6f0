"""`GET /metrics`: the worker's call counters and latencies for Prometheus (scope
`metrics:read`); counts only, no subject and no client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from purecredit.api.auth import GatewayDep, scoped
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES
from purecredit.api.tokens import Claims

router = APIRouter(tags=["metrics"], responses=PROBLEM_RESPONSES)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text format


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(
    request: Request,
    gw: GatewayDep,
    _claims: Annotated[Claims, Depends(scoped("metrics:read"))],
) -> PlainTextResponse:
    """Calls by route template and status, outcomes, and latency histograms of this worker."""
    current(request).outcome = "read"
    return PlainTextResponse(gw.metrics.render(), media_type=CONTENT_TYPE)
