"""The portfolio drift report (`monitor.portfolio`, charts inline) for all-branch staff.

The report aggregates the whole book (with its minimum cell size), not one branch's, so only
those whose scope is every branch (risk managers and admins without a branch) may read it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from purecredit.core.errors import Forbidden
from purecredit.monitor.portfolio_cache import current_page
from purecredit.ui.auth import ConsoleRoute, SignedDep, engine_of

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/portfolio")
def portfolio_page(request: Request, who: SignedDep) -> Response:
    if who.staff.scope is not None or who.staff.role not in ("risk_manager", "admin"):
        raise Forbidden(
            "组合报告仅限全行风险经理 / the portfolio report is for all-branch risk staff"
        )
    return HTMLResponse(current_page(engine_of(request)))
