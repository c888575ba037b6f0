"""Rendering the console's pages: one Jinja2 environment over the package's templates,
Chinese by default with an English switch (``?lang=en``, remembered in a cookie).

Every page goes through `page`, which hands the template `t(zh, en)` for its words, the
signed-in staff member and their CSRF token for its forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from purecredit.ui.accounts import Staff

LANG_COOKIE: Final = "pc_lang"
LANGS: Final = ("zh", "en")
_env = Environment(
    loader=PackageLoader("purecredit.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGS else "zh"


def words(lang: str) -> Callable[[str, str], str]:
    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    return t


def page(
    request: Request,
    template: str,
    *,
    staff: Staff | None = None,
    csrf: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The template rendered for this request's language; sets the language cookie when
    the request switched it."""
    lang = lang_of(request)
    html = _env.get_template(template).render(
        t=words(lang), lang=lang, staff=staff, csrf=csrf, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict")
    return response
