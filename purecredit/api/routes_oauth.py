"""`POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 section 4.4).

The client authenticates with HTTP Basic (RFC 6749 section 2.3.1: id and secret each
form-urlencoded, then base64) or with ``client_id`` and ``client_secret`` in the form body,
never both. The body is ``application/x-www-form-urlencoded`` with
``grant_type=client_credentials`` and an optional ``scope`` (space-separated) that narrows
the token to part of the client's scopes.

Errors are problem details (RFC 9457), like every other error of the gateway, so a client
parses one shape; each also carries the RFC 6749 section 5.2 ``error`` code as an extension
member (``invalid_request``, ``invalid_client``, ``unsupported_grant_type``,
``invalid_scope``), so an OAuth library can still read it. The body is parsed here, not by a
form library: no multipart, no extra dependency, and every bad input is named.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import ClassVar
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from purecredit.api import clients, tokens
from purecredit.api.auth import GatewayDep
from purecredit.api.calls import current
from purecredit.api.schemas import Problem, TokenOut
from purecredit.core.errors import PurecreditError, Unauthorized

router = APIRouter(tags=["oauth"])
_FORM = "application/x-www-form-urlencoded"
_MAX_FIELD = 200


class OAuthError(PurecreditError):
    """A token request refused; `error` is its RFC 6749 section 5.2 code."""

    status = 400
    title = "Bad token request"
    slug = "oauth"
    error: ClassVar[str] = "invalid_request"

    def to_problem(self, instance: str | None = None) -> dict[str, object]:
        return super().to_problem(instance) | {"error": self.error}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class UnsupportedGrant(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidClient(OAuthError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"
    error = "invalid_client"


_FORM_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string", "maxLength": _MAX_FIELD},
        "client_secret": {"type": "string", "maxLength": _MAX_FIELD},
        "scope": {"type": "string", "maxLength": _MAX_FIELD},
    },
}
_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


@router.post(
    "/oauth/token",
    response_model=TokenOut,
    responses={400: _PROBLEM, 401: _PROBLEM},
    openapi_extra={"requestBody": {"required": True, "content": {_FORM: {"schema": _FORM_SCHEMA}}}},
)
async def token(request: Request, gw: GatewayDep) -> JSONResponse:
    """An access token for a registered client (see the module docstring)."""
    form = _form(request.headers.get("content-type", ""), await request.body())
    grant = form.get("grant_type")
    if grant is None:
        raise InvalidRequest("grant_type is required", field="grant_type")
    if grant != "client_credentials":
        raise UnsupportedGrant("only grant_type=client_credentials is served", field="grant_type")
    client_id, secret = _credentials(request.headers.get("authorization"), form)
    try:
        client = await run_in_threadpool(
            clients.authenticate, gw.engine, gw.settings, client_id, secret
        )
    except Unauthorized as exc:
        raise InvalidClient(exc.detail, field="client_id") from None
    current(request).client_id = client.client_id
    if "scope" in form:
        wanted = tuple(dict.fromkeys(form["scope"].split()))
        if not wanted or not set(wanted) <= set(client.scopes):
            raise InvalidScope("scope must be some of this client's scopes", field="scope")
        client = dataclasses.replace(client, scopes=wanted)
    access, lifetime = tokens.issue(gw.settings, client)
    current(request).outcome = "token_issued"
    return JSONResponse(
        {"access_token": access, "token_type": "Bearer", "expires_in": lifetime},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},  # RFC 6749 section 5.1
    )


_PARAMETERS = frozenset({"grant_type", "client_id", "client_secret", "scope"})


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";", 1)[0].strip().lower() != _FORM:
        raise InvalidRequest(f"the body must be {_FORM}", field="Content-Type")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid form", field="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        # RFC 6749 section 3.2: parameters it does not define are ignored, and never named
        # back (the name is the client's text); those it defines come once, of sane length.
        if name not in _PARAMETERS:
            continue
        if name in form:
            raise InvalidRequest(f"{name} given more than once", field=name)
        if len(value) > _MAX_FIELD:
            raise InvalidRequest(f"{name} is too long", field=name)
        form[name] = value
    return form


def _credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str]:
    in_body = "client_secret" in form
    if authorization is not None:
        if in_body:
            raise InvalidRequest("use HTTP Basic or the form body, not both", field="client_secret")
        return _basic(authorization)
    if "client_id" not in form or not in_body:
        raise InvalidClient("client credentials are required", field="client_id")
    return form["client_id"], form["client_secret"]


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("use HTTP Basic client authentication", field="Authorization")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed HTTP Basic credentials", field="Authorization") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient("malformed HTTP Basic credentials", field="Authorization")
    return unquote(client_id), unquote(secret)
