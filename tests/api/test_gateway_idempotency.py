"""`Idempotency-Key` through the gateway: a retried application or drawdown answers the first
answer byte for byte and is decided or drawn once; the same key on another body is refused;
and a failure part-way leaves no decision, no line, no consent and no claim behind, so the
retry is done once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from purecredit.api import idempotency
from purecredit.api.clients import SCOPES, Credentials
from purecredit.api.idempotency import HEADER, REPLAYED
from purecredit.api.routes_applications import API_APPLICATIONS
from purecredit.core.subjects import subject_key
from purecredit.decide import exposure, store
from purecredit.decide.counter import CONSENT_SOURCES
from tests.api.conftest import OUTLET, Gate

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def channel(gate: Gate) -> Credentials:
    return gate.client(*(s for s in SCOPES if s != "metrics:read"))


def _key() -> str:
    return f"retry-{uuid.uuid4().hex}"


def _count(gate: Gate, table: Any, *where: Any) -> int:
    with gate.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


def _subject(gate: Gate, person: str) -> str:
    return subject_key(person, gate.settings)[1]


def _application(gate: Gate, channel: Credentials, person: str) -> dict[str, Any]:
    asked = {"subject_id": person, "purposes": list(CONSENT_SOURCES), "valid_days": 90}
    consent = gate.send("POST", "/v1/consents", channel, asked)
    assert consent.status_code == 201, consent.text
    return {"subject_id": person, "consent_id": consent.json()["consent_id"],
            "product": "household", "amount": 30_000, "branch": OUTLET}  # fmt: skip


def _held(gate: Gate, subject: str) -> dict[str, int]:
    """What the ledger holds for a subject: decisions, lines, consents, gateway rows, keys."""
    return {
        "decisions": _count(gate, store.DECISIONS, store.DECISIONS.c.subject == subject),
        "lines": _count(gate, exposure.credit_lines, exposure.credit_lines.c.subject == subject),
        "consents": _count(gate, store.CONSENTS, store.CONSENTS.c.subject == subject),
        "applications": _count(gate, API_APPLICATIONS),
        "keys": _count(gate, idempotency.api_idempotency),
    }


@pytest.fixture(scope="module")
def approved(gate: Gate, channel: Credentials) -> tuple[str, dict[str, Any], Any]:
    """(person, body, first response) of an application approved with a line, sent with a
    key, among the best applicants."""
    for person in gate.people[:20]:
        body = _application(gate, channel, person)
        key = _key()
        first = gate.send("POST", "/v1/applications", channel, body, idempotency_key=key)
        assert first.status_code == 201, first.text
        if first.json()["decision"] == "approve" and first.json()["credit_line_id"]:
            return key, body, first
    pytest.fail("none of the best 20 applicants was approved")


def test_a_retried_application_answers_the_first_answer_and_decides_once(
    gate: Gate, channel: Credentials, approved: tuple[str, dict[str, Any], Any]
) -> None:
    key, body, first = approved
    subject = _subject(gate, body["subject_id"])
    assert REPLAYED not in first.headers
    before = _held(gate, subject)
    assert before["decisions"] == 1 and before["lines"] == 1
    for _ in range(2):
        again = gate.send("POST", "/v1/applications", channel, body, idempotency_key=key)
        assert again.status_code == 201
        assert again.content == first.content  # byte for byte
        assert again.headers[REPLAYED] == "true"
    assert _held(gate, subject) == before
    read = gate.send("GET", f"/v1/applications/{first.json()['application_id']}", channel)
    assert read.json() == first.json()


def test_the_same_key_with_another_body_is_refused(
    gate: Gate, channel: Credentials, approved: tuple[str, dict[str, Any], Any]
) -> None:
    key, body, _first = approved
    subject = _subject(gate, body["subject_id"])
    before = _held(gate, subject)
    other = gate.send("POST", "/v1/applications", channel, body | {"amount": 40_000},
                      idempotency_key=key)  # fmt: skip
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith(PROBLEM)
    assert other.json()["field"] == HEADER
    assert _held(gate, subject) == before
    malformed = gate.send("POST", "/v1/applications", channel, body, idempotency_key="a b")
    assert malformed.status_code == 400 and malformed.json()["field"] == HEADER


def test_a_retried_drawdown_draws_once(
    gate: Gate, channel: Credentials, approved: tuple[str, dict[str, Any], Any]
) -> None:
    path = f"/v1/credit-lines/{approved[2].json()['credit_line_id']}"
    key, ask = _key(), {"amount": "700.25", "branch": OUTLET}
    first = gate.send("POST", f"{path}/drawdowns", channel, ask, idempotency_key=key)
    assert first.status_code == 201, first.text
    again = gate.send("POST", f"{path}/drawdowns", channel, ask, idempotency_key=key)
    assert again.status_code == 201 and again.content == first.content
    assert again.headers[REPLAYED] == "true"
    assert gate.send("GET", path, channel).json()["drawn"] == "700.25"
    line_id = approved[2].json()["credit_line_id"]
    assert _count(gate, exposure.drawdowns, exposure.drawdowns.c.line_id == line_id) == 1
    # A refusal stores no answer: its retry is judged afresh (and refused afresh).
    too_much = {"amount": "999999999.00", "branch": OUTLET}
    refused_key = _key()
    for _ in range(2):
        refused = gate.send("POST", f"{path}/drawdowns", channel, too_much,
                            idempotency_key=refused_key)  # fmt: skip
        assert refused.status_code == 409 and REPLAYED not in refused.headers
    # Without a key, nothing is drawn: a retry could not be told from a second draw.
    small = {"amount": "1.00", "branch": OUTLET}
    plain = gate.send("POST", f"{path}/drawdowns", channel, small, idempotency_key=False)
    assert plain.status_code == 422 and plain.json()["field"] == HEADER
    assert gate.send("GET", path, channel).json()["drawn"] == "700.25"


def test_a_failure_part_way_leaves_nothing_and_the_retry_decides_once(
    gate: Gate, channel: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = idempotency.finish

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died before its answer was stored")

    for person in gate.people[20:60]:
        body = _application(gate, channel, person)
        subject = _subject(gate, person)
        before = _held(gate, subject)
        if before["decisions"]:
            continue
        key = _key()
        monkeypatch.setattr(idempotency, "finish", crash)
        crashed = gate.send("POST", "/v1/applications", channel, body, idempotency_key=key)
        assert crashed.status_code == 500
        assert _held(gate, subject) == before  # no decision, no line, no consent, no claim
        monkeypatch.setattr(idempotency, "finish", real)
        done = gate.send("POST", "/v1/applications", channel, body, idempotency_key=key)
        assert done.status_code == 201, done.text
        assert REPLAYED not in done.headers
        after = _held(gate, subject)
        assert after["decisions"] == 1 and after["keys"] == before["keys"] + 1
        assert after["applications"] == before["applications"] + 1
        granted = done.json()["credit_line_id"] is not None
        assert after["lines"] == int(granted)
        again = gate.send("POST", "/v1/applications", channel, body, idempotency_key=key)
        assert again.content == done.content and again.headers[REPLAYED] == "true"
        assert _held(gate, subject) == after
        if granted:
            return
    pytest.fail("no applicant among 40 was granted a line")
