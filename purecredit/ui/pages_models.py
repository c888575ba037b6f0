"""The model registry for risk staff: each segment's versions, which is champion, their
cross-validated and out-of-time AUC (as `purecredit model list`), and each version's
validation report, served read-only as `purecredit model train` wrote it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from purecredit.core.errors import NotFound
from purecredit.core.settings import Settings
from purecredit.score import registry
from purecredit.score.train import REPORT_FILE
from purecredit.ui.auth import ConsoleRoute, SignedDep, require_page
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _home(request: Request) -> Path:
    settings: Settings = request.app.state.settings
    return settings.home


def _segments(home: Path) -> dict[str, list[dict[str, Any]]]:
    """The registry's models by segment, each marked with whether it has a report."""
    out: dict[str, list[dict[str, Any]]] = {}
    for model in registry.list_models(home):
        where = registry.models_dir(home) / model["segment"] / model["version"] / REPORT_FILE
        out.setdefault(model["segment"], []).append(model | {"report": where.is_file()})
    return out


@router.get("/models")
def models(request: Request, who: SignedDep) -> Response:
    staff = require_page(who, "models")
    return page(request, "models.html", staff=staff, csrf=who.csrf,
                segments=_segments(_home(request)))  # fmt: skip


@router.get("/models/{segment}/{version}/validation")
def validation_report(request: Request, who: SignedDep, segment: str, version: str) -> Response:
    """The report beside the model file; `registry.load` checks the names (no path escapes
    the registry) and that the model is the one registered."""
    require_page(who, "models")
    model = registry.load(_home(request), segment, version)
    report = model.path.with_name(REPORT_FILE)
    if not report.is_file():
        raise NotFound(f"no validation report for {segment}/{version}", field="version")
    return HTMLResponse(report.read_text(encoding="utf-8"))
