"""One handler renders every error as RFC 9457 problem details; nothing internal leaks."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from purecredit.core.errors import PurecreditError

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def install(app: FastAPI) -> None:
    @app.exception_handler(PurecreditError)
    async def _known(request: Request, exc: PurecreditError) -> JSONResponse:
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
        )

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSONResponse:
        # The stack trace goes to the log (which never holds PII), never to the client.
        logger.exception("unhandled error on %s", request.url.path)
        problem = {
            "type": "https://purecredit.dev/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "The server could not complete the request.",
            "instance": request.url.path,
        }
        return JSONResponse(problem, status_code=500, media_type=PROBLEM_JSON)
