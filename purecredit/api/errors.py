"""One handler renders every error as RFC 9457 problem details; nothing internal leaks.

Validation errors (malformed JSON, wrong types, missing or unknown fields) name the field at
fault (``field``, dotted: ``purposes.0``) and list every one in ``errors``; the value sent is
never echoed, since it may be an ID number. A 401 says how to authenticate
(``WWW-Authenticate: Bearer``, RFC 6750).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from purecredit.core.errors import PROBLEM_BASE_URI, PurecreditError

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# A path is echoed as `instance`; an ID or phone number a client put in a URL is masked.
_ID_OR_PHONE = re.compile(r"\d{17}[\dXx]|\d{15}|1[3-9]\d{9}")
_HTTP_SLUGS = {404: ("not-found", "Not found"), 405: ("method-not-allowed", "Method not allowed")}


def _problem(problem: dict[str, Any], status: int) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="purecredit"'} if status == 401 else None
    return JSONResponse(problem, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def masked_path(path: str) -> str:
    """`path` with anything shaped like a resident ID or phone number starred."""
    return _ID_OR_PHONE.sub(lambda m: "*" * len(m.group(0)), path)


def instance(request: Request) -> str:
    """The request's path for `instance`, masked (`masked_path`)."""
    return masked_path(request.url.path)


def field_of(location: Sequence[int | str]) -> str:
    """The field a validation error's location names: ``("body", "purposes", 0)`` is
    ``purposes.0``; a body that is not JSON at all is ``body``."""
    where = list(location)
    if where and where[0] in ("body", "path", "query", "header") and len(where) > 1:
        where = where[1:]
    if (where and where[0] == "body") or all(isinstance(part, int) for part in where):
        return "body"
    return ".".join(str(part) for part in where)


def install(app: FastAPI) -> None:
    @app.exception_handler(PurecreditError)
    async def _known(request: Request, exc: PurecreditError) -> JSONResponse:
        response = _problem(exc.to_problem(instance=instance(request)), exc.status)
        response.headers.update(getattr(exc, "headers", {}))  # a 429's Retry-After
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": field_of(e.get("loc", ())), "detail": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ] or [{"field": "body", "detail": "invalid request"}]
        problem = {
            "type": PROBLEM_BASE_URI + "invalid",
            "title": "Invalid input",
            "status": 422,
            "detail": f"{errors[0]['field']}: {errors[0]['detail']}",
            "instance": instance(request),
            "field": errors[0]["field"],
            "errors": errors,
        }
        return _problem(problem, 422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http", "HTTP error"))
        problem = {
            "type": PROBLEM_BASE_URI + slug,
            "title": title,
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": instance(request),
        }
        response = _problem(problem, exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSONResponse:
        # The stack trace goes to the log (which never holds PII), never to the client.
        logger.exception("unhandled error on %s", request.url.path)
        problem = {
            "type": "https://purecredit.dev/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "The server could not complete the request.",
            "instance": instance(request),
        }
        return JSONResponse(problem, status_code=500, media_type=PROBLEM_JSON)
