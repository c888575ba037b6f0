"""`kill -9` the gateway mid-load and restart it on the same ledger (SQLite and PostgreSQL).

`purecredit serve --workers 2` runs as a subprocess in a process group of its own; a few
threads drive consents and applications at it over loopback, and the whole group is killed
with SIGKILL while requests are in flight, twice, each restart on the same ledger.
Then, with the server stopped:

* every consent and application answered 2xx is in the ledger (the consent, the decision by
  its `decision_id`) and in the audit log (an entry with its `X-Request-Id` and that status),
  and the answer can still be read back (`GET /v1/applications/{id}`) after the restart;
* no half-made credit line: every active line names a decision that is stored, and every
  stored grant's line exists;
* `audit.verify` holds over the whole chain.

The county and its ledgers come from tests/decide (built once per session).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import select

from purecredit.api import audit, clients, signing
from purecredit.api.clients import Credentials
from purecredit.core.settings import Settings
from purecredit.decide import exposure, store
from purecredit.store.ledger import make_engine
from tests.county import Desk
from tests.decide.test_counter_concurrency import Ledger, pg_ledger, sqlite_ledger  # noqa: F401

OUTLET = "341602001"
THREADS = 6
ROUNDS = 2  # kill -9 mid-load, restart on the same ledger: twice
PER_ROUND = 10  # applications answered before the kill, at least
START_TIMEOUT = 180.0  # two workers importing the stack while the other test worker runs DuckDB
SCOPES = ("applications:write", "applications:read", "consents:write")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    name = "sqlite_ledger" if request.param == "sqlite" else "pg_ledger"
    found: Ledger = request.getfixturevalue(name)
    return found


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    settings: Settings
    log: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Only this server's settings: nothing another test of this worker left behind.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PURECREDIT_")}
        env = inherited | {"PURECREDIT_HOME": str(self.settings.home)}
        assert self.settings.database_url is not None
        env["PURECREDIT_DATABASE_URL"] = self.settings.database_url
        command = [
            str(Path(sys.executable).with_name("purecredit")),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "2",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"server not ready in {START_TIMEOUT} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole process group (the supervisor and its workers)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # The workers are in the group too; wait until none is left holding the port.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.kill()


@pytest.fixture
def server(ledger: Ledger, tmp_path: Path) -> Iterator[Server]:
    # A home of its own (the county's lake, keys and models, copied): the session's home is
    # shared with the other tests of this worker, and the server must not meet their state.
    home = tmp_path / "home"
    shutil.copytree(
        ledger.settings.home, home, ignore=shutil.ignore_patterns("ledger.sqlite*", "tmp")
    )
    settings = Settings(home=home, database_url=ledger.settings.database_url)
    running = Server(settings, tmp_path / "serve.log")
    try:
        yield running
    finally:
        running.stop()


# ----------------------------------------------------------------------------- the load


@dataclass
class Answer:
    kind: str  # "consent" or "application"
    status: int
    request_id: str | None
    body: dict[str, Any]


@dataclass
class Load:
    server: Server
    creds: Credentials
    people: list[str]
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _token: str | None = None

    def token(self) -> str:
        if self._token is None:
            response = httpx.post(
                f"{self.server.base}/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.creds.client_id,
                    "client_secret": self.creds.client_secret,
                },
                timeout=30,
            )
            assert response.status_code == 200, response.text
            self._token = str(response.json()["access_token"])
        return self._token

    def next_person(self) -> str | None:
        with self._lock:
            return self.people.pop() if self.people else None

    def send(self, http: httpx.Client, kind: str, path: str, body: dict[str, Any]) -> Answer:
        content = json.dumps(body).encode()
        ts, nonce = int(time.time()), uuid.uuid4().hex
        headers = {
            "Authorization": f"Bearer {self.token()}",
            "Content-Type": "application/json",
            "X-Timestamp": str(ts),
            "X-Nonce": nonce,
            "Idempotency-Key": uuid.uuid4().hex,
            "X-Signature": signing.sign(self.creds.client_secret, "POST", path, ts, nonce, content),
        }
        response = http.post(path, content=content, headers=headers)
        answer = Answer(kind, response.status_code, response.headers.get("x-request-id"), {})
        if response.headers.get("content-type", "").endswith("json"):
            answer.body = response.json()
        with self._lock:
            self.answers.append(answer)
        return answer

    def applied(self) -> int:
        with self._lock:
            return sum(a.kind == "application" and a.status == 201 for a in self.answers)

    def drive(self, stop: threading.Event) -> None:
        """Consent then application, one applicant after another, until stopped or refused
        by a dead server (a transport error ends the thread: the server is gone)."""
        with httpx.Client(base_url=self.server.base, timeout=60.0) as http:
            while not stop.is_set():
                person = self.next_person()
                if person is None:
                    return
                try:
                    consent = self.send(
                        http,
                        "consent",
                        "/v1/consents",
                        {
                            "subject_id": person,
                            "valid_days": 30,
                            "purposes": ["credit_bureau", "government", "tax", "social", "bank"],
                        },
                    )
                    if consent.status != 201:
                        with self._lock:
                            self.errors.append(f"consent {consent.status}: {consent.body}")
                        continue
                    amount = random.choice((20_000, 30_000, 50_000))
                    self.send(
                        http,
                        "application",
                        "/v1/applications",
                        {
                            "subject_id": person,
                            "consent_id": consent.body["consent_id"],
                            "product": "household",
                            "amount": amount,
                            "branch": OUTLET,
                        },
                    )
                except httpx.TransportError:
                    return

    def round(self, *, kill: bool) -> None:
        """Drive the load from THREADS threads; with `kill`, SIGKILL the server once at
        least PER_ROUND applications have been answered (at a random moment after that)."""
        stop = threading.Event()
        threads = [threading.Thread(target=self.drive, args=(stop,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        target = self.applied() + PER_ROUND
        deadline = time.monotonic() + 60
        while self.applied() < target and time.monotonic() < deadline:
            if not any(t.is_alive() for t in threads):
                break
            time.sleep(0.01)
        assert self.applied() >= target, f"no progress under load: {self.errors[-5:]}"
        if kill:
            time.sleep(random.uniform(0.0, 0.3))
            self.server.kill()  # while requests are in flight
        else:
            stop.set()
        for thread in threads:
            thread.join(timeout=90)
            assert not thread.is_alive(), "a client thread hung"


# ----------------------------------------------------------------------------- the test


def test_kill_9_mid_load_loses_no_answered_call(
    server: Server,
    ledger: Ledger,
    desk: Desk,
) -> None:
    engine = make_engine(ledger.url)
    try:
        server.start()  # creates the gateway's tables
        creds = clients.create_client(engine, ledger.settings, "crash test", SCOPES, ())
        engine.dispose()
        people = [str(x) for x in desk.people["resident_id"]]
        random.Random(7).shuffle(people)
        load = Load(server, creds, people)
        for round_ in range(ROUNDS):
            if round_:
                server.start()
            load.round(kill=True)
        server.start()  # on the ledger as the last kill left it
        load.round(kill=False)  # it still decides
        with httpx.Client(base_url=server.base, timeout=30.0) as http:
            auth = {"Authorization": f"Bearer {load.token()}"}
            applications = [a for a in load.answers if a.kind == "application"]
            for answer in applications:
                if 200 <= answer.status < 300:
                    path = f"/v1/applications/{answer.body['application_id']}"
                    again = http.get(path, headers=auth)
                    assert again.status_code == 200, (path, again.text)
                    assert again.json() == answer.body, "the answer changed across the crash"
        server.stop()
        _check_ledger(engine, load)
    finally:
        engine.dispose()


def _check_ledger(engine: Any, load: Load) -> None:
    answered = [a for a in load.answers if 200 <= a.status < 300]
    statuses = {a.status for a in load.answers}
    assert statuses <= {201}, f"unexpected answers: {load.errors[-5:]}"
    assert sum(a.kind == "application" for a in answered) >= (ROUNDS + 1) * PER_ROUND

    result = audit.verify(engine)
    assert result.ok, result
    with engine.connect() as connection:
        logged = {
            row.request_id: row
            for row in connection.execute(
                select(
                    audit.audit_log.c.request_id,
                    audit.audit_log.c.status,
                    audit.audit_log.c.endpoint,
                )
            )
        }
        consents = set(connection.execute(select(store.CONSENTS.c.consent_id)).scalars())
        decisions = {
            row.decision_id: row.record
            for row in connection.execute(
                select(store.DECISIONS.c.decision_id, store.DECISIONS.c.record)
            )
        }
        lines = connection.execute(
            select(
                exposure.credit_lines.c.line_id,
                exposure.credit_lines.c.decision_id,
                exposure.credit_lines.c.status,
            )
        ).all()

    for answer in answered:
        assert answer.request_id, "a 2xx without X-Request-Id"
        entry = logged.get(answer.request_id)
        assert entry is not None, f"{answer.kind} answered 2xx is not in the audit log"
        assert entry.status == answer.status
        if answer.kind == "consent":
            assert entry.endpoint == "/v1/consents"
            assert answer.body["consent_id"] in consents, "an answered consent was lost"
        else:
            assert entry.endpoint == "/v1/applications"
            decision_id = answer.body["decision_id"]
            stored = store.decision(engine, decision_id)  # NotFound if it was lost
            assert stored["application_id"] == answer.body["application_id"]

    # No half-made credit line, whether its caller got an answer or not.
    half_made = [
        line.line_id
        for line in lines
        if line.status == exposure.ACTIVE and (line.decision_id not in decisions)
    ]
    assert not half_made, f"active credit lines without a stored decision: {half_made}"
    line_ids = {line.line_id for line in lines}
    for decision_id, record in decisions.items():
        grant = record.get("grant") or {}
        if record.get("granted") and grant.get("line_id"):
            assert grant["line_id"] in line_ids, f"{decision_id}'s granted line is missing"
