"""The HTTP app factory. Tests and `purecredit serve` each build their own app from their own
settings; nothing is created at import time. The ledger engine and the counter are made once
per app, at startup (`auth.Gateway`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from purecredit import __version__
from purecredit.api import (
    county,
    errors,
    routes_applications,
    routes_consents,
    routes_credit_lines,
    routes_customers,
    routes_loans,
    routes_metrics,
    routes_monitoring,
    routes_oauth,
    routes_portfolio,
)
from purecredit.api.auth import Gateway
from purecredit.api.calls import AuditMiddleware
from purecredit.api.limits import BodyLimit
from purecredit.core.settings import Settings
from purecredit.report import ReportMaker

# Requests served at once per worker (Starlette's thread pool; anyio's default is 40). The
# routes are CPU-bound Python between short ledger round trips: more threads than this only
# queue on the GIL and hold more connections.
THREADS = 16

GATEWAY_ROUTERS = (
    routes_oauth.router,
    routes_consents.router,
    routes_applications.router,
    routes_customers.router,
    routes_credit_lines.router,
    routes_loans.router,
    routes_monitoring.router,
    routes_metrics.router,
    routes_portfolio.router,
)


def create_app(settings: Settings, *, routers: Iterable[APIRouter] = ()) -> FastAPI:
    """Build the gateway; ``routers`` lets the edge (the CLI) mount the console beside it."""
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = THREADS
        await run_in_threadpool(gateway.start)
        # Reports are made off the request path, by a thread of their own (0 s: none).
        maker = ReportMaker(gateway.engine, settings)
        await run_in_threadpool(maker.start)
        try:
            yield
        finally:
            await run_in_threadpool(maker.stop)
            gateway.stop()

    # Interactive docs (Swagger UI at /docs, ReDoc at /redoc) from the files fastapi-offline
    # ships, not a CDN: the data zone has no internet.
    app = FastAPIOffline(
        title="purecredit",
        version=__version__,
        docs_url="/docs",
        redoc_url="/redoc",
        lifespan=lifespan,
        description="The purecredit gateway: authenticated (OAuth 2.0 client credentials), "
        "scoped, signed (write requests under /v1: X-Timestamp, X-Nonce, X-Signature; see "
        "docs/api.md), audited, results-only.",
    )
    app.state.settings = settings
    app.state.gateway = gateway
    errors.install(app)
    # A middleware added later wraps those added before it. Inside: bodies over 1 MiB are
    # refused (413) before anything reads them. Outermost: every call gets a request id and
    # an audit entry, whatever happens inside, refusals included.
    app.add_middleware(BodyLimit)
    app.add_middleware(AuditMiddleware, resources=gateway.resources)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, str]:
        return {"status": "ready", "version": __version__}

    app.include_router(county.router)
    for router in (*GATEWAY_ROUTERS, *routers):
        app.include_router(router)
    _all_schemes_required(app)
    return app


def _all_schemes_required(app: FastAPI) -> None:
    """FastAPI lists each security dependency as an alternative (OpenAPI ORs the objects of
    `security`); a signed write needs the token *and* the three signature headers, so the
    published spec puts them in one requirement object."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    alternatives = operation.get("security")
                    if isinstance(alternatives, list) and len(alternatives) > 1:
                        operation["security"] = [{k: v for a in alternatives for k, v in a.items()}]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
