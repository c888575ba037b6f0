"""The gateway refuses every caller it should: the token flow, then missing, expired, tampered,
unsigned (`alg: none`), foreign-key and wrong-scope tokens on every endpoint but health, and
bad, stale and replayed request signatures on the write endpoints."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from purecredit.api import clients, signing, tokens
from purecredit.api.clients import SCOPES
from purecredit.core.settings import Settings
from tests.api.conftest import OUTLET, Gate

PROBLEM = "application/problem+json"
# Every endpoint but health, with the scope it needs and whether it is a signed write.
ENDPOINTS = [
    ("POST", "/v1/consents", "consents:write"),
    ("DELETE", "/v1/consents/C0123", "consents:write"),
    ("POST", "/v1/applications", "applications:write"),
    ("GET", "/v1/applications/A0123", "applications:read"),
    ("GET", "/v1/decisions/D0123/explanation", "applications:read"),
    ("POST", "/v1/decisions/D0123/human-review", "applications:write"),
    ("GET", "/v1/customers/cr_0123/profile", "profiles:read"),
    ("POST", "/v1/credit-lines/L0123/drawdowns", "credit-lines:write"),
    ("GET", "/v1/credit-lines/L0123", "credit-lines:read"),
    ("GET", "/metrics", "metrics:read"),
]


def _b64(value: dict[str, object]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _refused(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"].startswith("req_")
    if field is not None:
        assert response.json()["field"] == field


def _form(creds: clients.Credentials, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    } | extra


# ----------------------------------------------------------------------------- tokens


def test_client_credentials_give_a_bearer_token(gate: Gate) -> None:
    creds = gate.client("applications:read", "metrics:read")
    response = gate.http.post("/oauth/token", data=_form(creds))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == tokens.LIFETIME_SECONDS
    claims = tokens.verify(gate.settings, body["access_token"])
    assert claims.client_id == creds.client_id
    assert claims.scopes == {"applications:read", "metrics:read"}
    # HTTP Basic works as well, and a scope parameter narrows the token.
    basic = httpx.BasicAuth(creds.client_id, creds.client_secret)
    narrowed = gate.http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "metrics:read"},
        auth=basic,
    )  # fmt: skip
    assert narrowed.status_code == 200
    assert tokens.verify(gate.settings, narrowed.json()["access_token"]).scopes == {"metrics:read"}


def test_bad_token_requests_are_refused_with_the_oauth_error(gate: Gate) -> None:
    creds = gate.client("metrics:read")
    cases = [
        (_form(creds, client_secret="wrong"), 401, "invalid_client"),
        (_form(creds, client_id="cl_nobody"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        (_form(creds, grant_type="password"), 400, "unsupported_grant_type"),
        ({k: v for k, v in _form(creds).items() if k != "grant_type"}, 400, "invalid_request"),
        (_form(creds, scope="profiles:read"), 400, "invalid_scope"),
    ]
    for data, status, error in cases:
        response = gate.http.post("/oauth/token", data=data)
        _refused(response, status)
        assert response.json()["error"] == error
    as_json = gate.http.post("/oauth/token", json=_form(creds))
    _refused(as_json, 400, "Content-Type")
    disabled = gate.client("metrics:read")
    clients.set_enabled(gate.engine, disabled.client_id, False)
    _refused(gate.http.post("/oauth/token", data=_form(disabled)), 401)


def test_unknown_token_parameters_are_ignored_and_never_named_back(gate: Gate) -> None:
    """RFC 6749 section 3.2: a parameter the grant does not define is ignored; one it defines
    may come only once. A client's own text is never echoed in a problem."""
    creds = gate.client("metrics:read")
    body = "&".join(f"{k}={v}" for k, v in _form(creds).items())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    extra = gate.http.post("/oauth/token", content=f"{body}&x%06odd=1&x%06odd=2", headers=form)
    assert extra.status_code == 200, extra.text
    twice = gate.http.post("/oauth/token", content=f"{body}&client_id={creds.client_id}",
                           headers=form)  # fmt: skip
    _refused(twice, 400, "client_id")


# ----------------------------------------------------------------------------- bearer tokens


def _bad_tokens(gate: Gate, creds: clients.Credentials, tmp_settings: Settings) -> dict[str, str]:
    client = clients.get_client(gate.engine, creds.client_id)
    good = tokens.issue(gate.settings, client)[0]
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = _b64(claims | {"scope": " ".join(SCOPES)})
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "expired": tokens.issue(gate.settings, client, now=past)[0],
        "tampered": f"{header}.{forged}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        "other key": tokens.issue(tmp_settings, client)[0],
        "not a jwt": "abc.def",
    }


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_bad_token(gate: Gate, method: str, path: str, scope: str) -> None:
    creds = gate.client(scope)
    other = Settings(home=gate.settings.home, master_key="6f" * 32)
    response = gate.http.request(method, path)
    _refused(response, 401, "Authorization")
    assert response.headers["www-authenticate"].startswith("Bearer")
    for name, bad in _bad_tokens(gate, creds, other).items():
        response = gate.send(method, path, creds, {}, token=bad)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_every_endpoint_refuses_a_token_without_its_scope(
    gate: Gate, method: str, path: str, scope: str
) -> None:
    creds = gate.client(*(s for s in SCOPES if s != scope))
    _refused(gate.send(method, path, creds, {}, sign=False), 403, "scope")


def test_health_needs_no_token(gate: Gate) -> None:
    assert gate.http.get("/healthz").status_code == 200
    assert gate.http.get("/readyz").headers["x-request-id"].startswith("req_")


# ----------------------------------------------------------------------------- signatures


def _consent(gate: Gate) -> dict[str, object]:
    return {"subject_id": gate.people[0], "purposes": ["credit_bureau"], "valid_days": 30}


def test_write_endpoints_need_a_good_signature(gate: Gate) -> None:
    creds = gate.client("consents:write")
    body = _consent(gate)
    _refused(gate.send("POST", "/v1/consents", creds, body, sign=False), 401, "X-Timestamp")
    wrong_key = gate.send("POST", "/v1/consents", creds, body, secret="not-the-secret")
    _refused(wrong_key, 401, "X-Signature")
    stale = gate.send("POST", "/v1/consents", creds, body, timestamp=int(time.time()) - 301)
    _refused(stale, 401, "X-Timestamp")
    # A signature over other bytes than those sent: the body changed on the way.
    ts, nonce = int(time.time()), uuid.uuid4().hex
    signature = signing.sign(creds.client_secret, "POST", "/v1/consents", ts, nonce, b"{}")
    tampered = gate.http.post(
        "/v1/consents",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {gate.token(creds)}", "X-Timestamp": str(ts),
                 "X-Nonce": nonce, "X-Signature": signature,
                 "Content-Type": "application/json"},
    )  # fmt: skip
    _refused(tampered, 401, "X-Signature")


def test_a_replayed_request_is_refused(gate: Gate) -> None:
    creds = gate.client("consents:write")
    nonce, ts = uuid.uuid4().hex, int(time.time())
    first = gate.send("POST", "/v1/consents", creds, _consent(gate), nonce=nonce, timestamp=ts)
    assert first.status_code == 201, first.text
    again = gate.send("POST", "/v1/consents", creds, _consent(gate), nonce=nonce, timestamp=ts)
    _refused(again, 401, "X-Nonce")


def test_another_branchs_client_is_refused(gate: Gate) -> None:
    creds = gate.client("consents:write", "applications:write", branches=("341602999",))
    consent = gate.send("POST", "/v1/consents", creds, _consent(gate)).json()
    body = {"subject_id": gate.people[0], "consent_id": consent["consent_id"],
            "product": "household", "amount": 30_000, "branch": OUTLET}  # fmt: skip
    _refused(gate.send("POST", "/v1/applications", creds, body), 403, "branch")


def test_a_call_that_cannot_be_audited_gets_no_answer_but_a_500() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from purecredit.api.calls import AuditMiddleware

    def broken() -> Any:
        raise RuntimeError("the ledger is down")

    app = FastAPI()

    @app.get("/v1/thing")
    def thing() -> dict[str, str]:
        return {"secret": "the answer"}

    app.add_middleware(AuditMiddleware, resources=broken)
    response = TestClient(app).get("/v1/thing")
    assert response.status_code == 500 and "the answer" not in response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"].startswith("req_")
