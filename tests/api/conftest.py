"""The gateway's tests run against the small county of tests/decide (built once per session),
on a ledger of their own copied from its pristine ledger, through FastAPI's test client.

`gate` is the app with helpers: register a client, get a token, send a signed request.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from purecredit.api import clients, idempotency, signing
from purecredit.api.app import create_app
from purecredit.api.auth import Gateway
from purecredit.api.clients import Credentials
from purecredit.core.settings import Settings
from tests.county import CountyHome, Desk

OUTLET = "341602001"
OTHER_BRANCH = "341602002"


@dataclass
class Gate:
    http: TestClient
    settings: Settings
    gateway: Gateway
    people: list[str]  # resident IDs with a profile, lowest PD first
    county: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.gateway.engine

    def client(self, *scopes: str, branches: tuple[str, ...] = ()) -> Credentials:
        name = f"test {uuid.uuid4().hex[:6]}"
        return clients.create_client(self.engine, self.settings, name, scopes, branches)

    def token(self, creds: Credentials) -> str:
        if creds.client_id not in self._tokens:
            response = self.http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                },
            )
            assert response.status_code == 200, response.text
            self._tokens[creds.client_id] = response.json()["access_token"]
        return self._tokens[creds.client_id]

    def send(
        self,
        method: str,
        path: str,
        creds: Credentials,
        body: Any = None,
        *,
        raw: bytes | None = None,
        token: str | None = None,
        sign: bool = True,
        nonce: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        idempotency_key: str | bool = True,
    ) -> httpx.Response:
        """A request as a client sends it: bearer token, signed (over the exact bytes), and a
        POST with an `Idempotency-Key` (a fresh one unless given; False: none)."""
        content = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token or self.token(creds)}"}
        if method.upper() == "POST" and idempotency_key is not False:
            fresh = uuid.uuid4().hex if idempotency_key is True else idempotency_key
            headers[idempotency.HEADER] = str(fresh)
        if content:
            headers["Content-Type"] = "application/json"
        if sign:
            ts = timestamp if timestamp is not None else int(time.time())
            once = nonce or uuid.uuid4().hex
            key = secret or creds.client_secret
            headers |= {
                "X-Timestamp": str(ts),
                "X-Nonce": once,
                "X-Signature": signing.sign(key, method, path, ts, once, content),
            }
        return self.http.request(method, path, content=content, headers=headers)


@pytest.fixture(scope="module")
def gate(
    county_home: CountyHome,
    desk: Desk,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gate]:
    ledger = tmp_path_factory.mktemp("gateway") / "ledger.sqlite"
    shutil.copy(county_home.pristine, ledger)
    settings = Settings(home=county_home.home, database_url=f"sqlite:///{ledger}")
    app = create_app(settings)
    with TestClient(app) as http:
        people = [str(x) for x in desk.people["resident_id"]]
        yield Gate(http, settings, app.state.gateway, people, county_home.county)
