"""The dashboard at /: the branch's day in figures, and the county the data zone holds."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from purecredit.core.errors import NotFound
from purecredit.core.settings import Settings
from purecredit.synth.summary import load_county_summary
from purecredit.ui import figures
from purecredit.ui.auth import ConsoleRoute, LoginRequired, engine_of, signed_in
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
def dashboard(request: Request) -> Response:
    """Signed in, the dashboard; else the login form above the county's counts (aggregates
    only, as `/v1/county`), so a fresh `purecredit demo` shows what it built."""
    settings: Settings = request.app.state.settings
    try:
        summary = load_county_summary(settings.county_path)
    except NotFound:
        summary = None
    try:
        who = signed_in(request)
    except LoginRequired:
        return page(request, "login.html", summary=summary)
    shown = figures.dashboard(engine_of(request), who.staff)
    return page(
        request, "dashboard.html", staff=who.staff, csrf=who.csrf, figures=shown, summary=summary
    )
