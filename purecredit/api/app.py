"""The HTTP app factory. Tests and `purecredit serve` each build their own app from their own
settings; nothing is created at import time."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from purecredit import __version__
from purecredit.api import county, errors
from purecredit.core.settings import Settings


def create_app(settings: Settings, *, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """Build the gateway; ``routers`` lets the edge (the CLI) mount the console beside it."""
    app = FastAPI(title="purecredit", version=__version__, docs_url=None, redoc_url=None)
    app.state.settings = settings
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, str]:
        return {"status": "ready", "version": __version__}

    app.include_router(county.router)
    for router in routers:
        app.include_router(router)
    return app
