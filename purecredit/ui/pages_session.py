"""Logging in and out, and the console's stylesheet (served from the package: no CDN)."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from purecredit.core.errors import Unauthorized
from purecredit.ui import accounts, sessions
from purecredit.ui.auth import ConsoleRoute, PostedDep, engine_of
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/login")
def login_form(request: Request) -> Response:
    return page(request, "login.html")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """A new session on success; on failure one message, whichever of the two was wrong."""
    engine = engine_of(request)
    try:
        staff = accounts.authenticate(engine, username.strip(), password)
    except Unauthorized as exc:
        return page(request, "login.html", status=401, error=exc.detail, username=username)
    token = sessions.open_session(engine, staff.username)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=int(sessions.ABSOLUTE.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, _who: PostedDep) -> Response:
    token = request.cookies.get(sessions.COOKIE)
    if token:
        sessions.close(engine_of(request), token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.get("/static/console.css")
def stylesheet() -> Response:
    css = files("purecredit.ui").joinpath("static/console.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
