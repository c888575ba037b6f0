"""What the gateway refuses before any work: a body over 1 MiB (413, unread, audited) and a
client over its rate (429 with Retry-After, counted per client across the app)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from purecredit.api import audit
from purecredit.api.app import create_app
from purecredit.core.settings import Settings
from tests.api.conftest import Gate
from tests.county import CountyHome

PROBLEM = "application/problem+json"


def test_a_body_over_one_mebibyte_is_refused_unread_and_audited(gate: Gate) -> None:
    creds = gate.client("applications:write", "consents:write")
    gate.token(creds)  # the token's own call is audited too: get it first
    before = audit.last_seq(gate.engine)
    huge = b'{"subject_id": "' + b"1" * (1024 * 1024) + b'"}'
    refused = gate.send("POST", "/v1/applications", creds, raw=huge)
    assert refused.status_code == 413 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["status"] == 413
    assert audit.last_seq(gate.engine) == before + 1
    assert audit.verify(gate.engine).ok


def test_a_client_over_its_rate_waits_and_others_do_not(
    county_home: CountyHome, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    shutil.copy(county_home.pristine, ledger)
    settings = Settings(home=county_home.home, database_url=f"sqlite:///{ledger}",
                        api_rate_per_minute=3)  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as http:
        gate = Gate(http, settings, app.state.gateway, [], county_home.county)
        busy, quiet = gate.client("metrics:read"), gate.client("metrics:read")
        answers = [gate.send("GET", "/metrics", busy, sign=False) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].headers["content-type"] == PROBLEM
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 20
        assert gate.send("GET", "/metrics", quiet, sign=False).status_code == 200
