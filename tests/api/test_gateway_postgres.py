"""The gateway on PostgreSQL (in a schema of its own): tokens, a signed consent recorded and
withdrawn, a replay refused, and an audit chain that verifies with one entry per call. The
decisions themselves run on SQLite in test_gateway (the county's profiles live there)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from stdnum.cn import ric

from purecredit.api import audit, clients
from purecredit.api.app import create_app
from purecredit.core.settings import Settings
from purecredit.store.ledger import make_engine
from tests.api.conftest import Gate
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres
PERSON = "34160219800101123"
PERSON += ric.calc_check_digit(PERSON + "0")  # stdnum wants a placeholder digit


@pytest.fixture(scope="module")
def pg_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    schema = f"gateway_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL}: {exc}")
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    home: Path = tmp_path_factory.mktemp("pg_home")
    settings = Settings(home=home, database_url=url)
    app = create_app(settings)
    try:
        with TestClient(app) as http:
            yield Gate(http, settings, app.state.gateway, [PERSON], home)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_gateway_on_postgresql(pg_gate: Gate) -> None:
    gate = pg_gate
    assert gate.engine.dialect.name == "postgresql"
    creds = gate.client("consents:write")
    gate.token(creds)
    before = audit.last_seq(gate.engine)
    body = {"subject_id": PERSON, "purposes": ["tax", "bank"], "valid_days": 10}
    nonce = uuid.uuid4().hex
    recorded = gate.send("POST", "/v1/consents", creds, body, nonce=nonce)
    assert recorded.status_code == 201, recorded.text
    assert PERSON not in recorded.text
    replayed = gate.send("POST", "/v1/consents", creds, body, nonce=nonce)
    assert replayed.status_code == 401 and replayed.json()["field"] == "X-Nonce"
    consent = recorded.json()["consent_id"]
    withdrawn = gate.send("DELETE", f"/v1/consents/{consent}", creds)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    bad = gate.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "client_id": creds.client_id,
                                                "client_secret": "no"})  # fmt: skip
    assert bad.status_code == 401
    assert audit.last_seq(gate.engine) == before + 4
    assert audit.verify(gate.engine).ok
    assert clients.get_client(gate.engine, creds.client_id).enabled
