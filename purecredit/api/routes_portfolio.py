"""`GET /v1/portfolio`: the portfolio drift report (`purecredit.monitor.portfolio`) for risk
dashboards (scope `metrics:read`). Results only: aggregates, no borrower, loan or decision id,
every cell of fewer than `MIN_CELL` borrowers or loans hidden. The minimum is fixed on the
server: a client cannot ask for smaller cells."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from purecredit.api.auth import GatewayDep, scoped
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES
from purecredit.api.tokens import Claims
from purecredit.monitor.portfolio import MIN_CELL
from purecredit.monitor.portfolio_cache import current_report

router = APIRouter(tags=["portfolio"], responses=PROBLEM_RESPONSES)


class PortfolioOut(BaseModel):
    """The report's sections; their inner shape is `monitor.portfolio`'s (a suppressed cell's
    figures are null, with `suppressed: true`)."""

    generated_at: str
    min_cell: int
    suppressed_cells: int
    psi_bands: dict[str, float]
    monitoring_day: str | None
    book_day: str | None
    score_psi: dict[str, Any]
    characteristics: dict[str, list[dict[str, Any]]]
    migration: dict[str, Any]
    npl: list[dict[str, Any]]
    vintages: list[dict[str, Any]]


@router.get("/v1/portfolio", response_model=PortfolioOut)
def read(
    request: Request,
    gw: GatewayDep,
    _claims: Annotated[Claims, Depends(scoped("metrics:read"))],
) -> dict[str, Any]:
    """Score PSI on the deciles of the reference PDs, characteristic stability, grade
    migration, month-end NPL and vintage curves of the whole book."""
    current(request).outcome = "read"
    return current_report(gw.engine, min_cell=MIN_CELL)
