"""Who is signed in to the console, and the guards every page and form goes through.

Every console route uses `ConsoleRoute`: a request without a live session is sent to the
login page; an error of the domain (`PurecreditError`: another branch's record is a
`NotFound`, a missing CSRF token a `Forbidden`) is rendered as an HTML page with its status,
not as the API's problem JSON. `Signed` is the signed-in staff member; `Posted` also checks
the form's CSRF token, so a state-changing route cannot forget it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from purecredit.core.errors import Forbidden, PurecreditError, Unauthorized
from purecredit.ui import accounts, sessions
from purecredit.ui.accounts import Staff
from purecredit.ui.render import page


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse("/login", status_code=303)
            except PurecreditError as exc:
                return page(request, "error.html", status=exc.status, detail=exc.detail)

        return guarded


def engine_of(request: Request) -> Engine:
    """The app's ledger engine (the gateway's, started with the app)."""
    engine: Engine = request.app.state.gateway.engine
    return engine


@dataclass(frozen=True)
class Signed:
    staff: Staff
    csrf: str


def signed_in(request: Request) -> Signed:
    engine = engine_of(request)
    found = sessions.find(engine, request.cookies.get(sessions.COOKIE))
    if found is None:
        raise LoginRequired
    try:
        member = accounts.staff(engine, found.username)
    except Unauthorized:
        raise LoginRequired from None
    return Signed(member, found.csrf)


SignedDep = Annotated[Signed, Depends(signed_in)]


async def posted(request: Request, who: SignedDep) -> Signed:
    """A state-changing request: the session's CSRF token must be in the form (else 403,
    and the route never runs)."""
    form = await request.form()
    sent = form.get("csrf")
    if not sessions.csrf_ok(
        sessions.Session(who.staff.username, who.csrf), sent if isinstance(sent, str) else None
    ):
        raise Forbidden("表单已失效，请刷新后重试 / the form's security token is missing or wrong")
    return who


PostedDep = Annotated[Signed, Depends(posted)]


def require_page(who: Signed, page: str) -> Staff:
    """The signed-in person if their role opens `page` (`accounts.PAGE_ROLES`), else 403."""
    if not who.staff.may_open(page):
        roles = " / ".join(sorted(accounts.PAGE_ROLES[page]))
        raise Forbidden(f"此页面仅限 {roles} / this page is for {roles} only")
    return who.staff
