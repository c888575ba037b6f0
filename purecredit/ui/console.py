"""The officer's console. For now one page: the county the data zone holds, in counts."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape

from purecredit.core.errors import NotFound
from purecredit.core.settings import Settings
from purecredit.synth.summary import load_county_summary

router = APIRouter(tags=["console"])
_templates = Environment(autoescape=select_autoescape(["html"]))


def _template(name: str) -> str:
    return files("purecredit.ui").joinpath(f"templates/{name}").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    try:
        summary = load_county_summary(settings.county_path)
    except NotFound:
        summary = None
    page = _templates.from_string(_template("home.html")).render(summary=summary)
    return HTMLResponse(page)
