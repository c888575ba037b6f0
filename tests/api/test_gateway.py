"""The gateway end to end: consent, application decided as the CLI decides it, reading it back
(only by its client), explanation, human review, profile, credit lines and drawdowns,
validation errors naming their field, metrics, the published spec, and the audit log: one
entry per call, a chain that verifies, and no raw ID number, name or phone anywhere."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from purecredit.api import audit
from purecredit.api.clients import SCOPES, Credentials
from purecredit.api.schemas import Source
from purecredit.core.errors import PolicyViolation
from purecredit.decide import store
from purecredit.decide.counter import CONSENT_SOURCES
from tests.api.conftest import OUTLET, Gate

PROBLEM = "application/problem+json"
# The fields `purecredit apply --json` prints (Applied.summary), which the API answers too.
CLI_FIELDS = {
    "application_id", "decision_id", "decision", "grade", "pd", "limit", "unified_limit",
    "rate", "term_months", "refer_to", "reasons",
}  # fmt: skip


@pytest.fixture(scope="module")
def channel(gate: Gate) -> Credentials:
    """A mobile-banking channel with every scope but metrics, for every branch."""
    return gate.client(*(s for s in SCOPES if s != "metrics:read"))


def _consent(gate: Gate, creds: Credentials, person: str) -> dict[str, Any]:
    body = {"subject_id": person, "purposes": list(CONSENT_SOURCES), "valid_days": 90}
    response = gate.send("POST", "/v1/consents", creds, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _apply(gate: Gate, creds: Credentials, person: str, amount: int = 30_000) -> Any:
    consent = _consent(gate, creds, person)
    body = {"subject_id": person, "consent_id": consent["consent_id"], "product": "household",
            "amount": amount, "branch": OUTLET}  # fmt: skip
    return gate.send("POST", "/v1/applications", creds, body)


@pytest.fixture(scope="module")
def approved(gate: Gate, channel: Credentials) -> dict[str, Any]:
    """An approved application with a credit line, from the best applicants."""
    for person in gate.people[:20]:
        response = _apply(gate, channel, person)
        assert response.status_code == 201, response.text
        if response.json()["decision"] == "approve" and response.json()["credit_line_id"]:
            return dict(response.json())
    pytest.fail("none of the best 20 applicants was approved")


def test_consent_sources_agree_with_the_counter() -> None:
    assert set(Source.__args__) == set(CONSENT_SOURCES)


def test_an_application_is_decided_as_the_cli_decides(gate: Gate, approved: dict[str, Any]) -> None:
    assert set(approved) >= CLI_FIELDS
    assert set(approved) - CLI_FIELDS == {"customer_ref", "credit_line_id"}
    row = store.decision(gate.engine, approved["decision_id"])
    record = row["record"]
    assert row["application_id"] == approved["application_id"]
    assert (record["outcome"], record["grade"], record["pd"], record["line"], record["rate"]) == (
        approved["decision"], approved["grade"], approved["pd"], approved["limit"],
        approved["rate"],
    )  # fmt: skip
    assert [r["code"] for r in approved["reasons"]] == [r["code"] for r in record["reasons"]]
    assert approved["customer_ref"].startswith("cr_") and row["subject"] not in str(approved)
    # The CLI's own summary of a decision made by the same counter has exactly these fields.
    cli = gate.gateway.counter.apply(gate.people[1], product="household", amount=20_000,
                                     branch=OUTLET).summary()  # fmt: skip
    assert set(cli) == CLI_FIELDS
    read = gate.send("GET", f"/v1/applications/{approved['application_id']}", gate_client(gate))
    assert read.status_code == 404  # another client


def gate_client(gate: Gate) -> Credentials:
    return gate.client(*SCOPES)


def test_only_the_client_that_applied_reads_it(
    gate: Gate, channel: Credentials, approved: dict[str, Any]
) -> None:
    mine = gate.send("GET", f"/v1/applications/{approved['application_id']}", channel)
    assert mine.status_code == 200 and mine.json() == approved
    other = gate_client(gate)
    paths = [
        f"/v1/applications/{approved['application_id']}",
        f"/v1/decisions/{approved['decision_id']}/explanation",
        f"/v1/customers/{approved['customer_ref']}/profile",
        f"/v1/credit-lines/{approved['credit_line_id']}",
    ]
    for path in paths:
        response = gate.send("GET", path, other)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    review = gate.send("POST", f"/v1/decisions/{approved['decision_id']}/human-review", other,
                       {"reason": "not mine"})  # fmt: skip
    assert review.status_code == 404
    # Nor may it draw on the line: another client's line does not exist for it.
    draw = gate.send("POST", f"/v1/credit-lines/{approved['credit_line_id']}/drawdowns", other,
                     {"amount": 100, "branch": OUTLET})  # fmt: skip
    assert draw.status_code == 404


def test_explanation_and_human_review(
    gate: Gate, channel: Credentials, approved: dict[str, Any]
) -> None:
    decision = approved["decision_id"]
    explained = gate.send("GET", f"/v1/decisions/{decision}/explanation", channel)
    assert explained.status_code == 200
    body = explained.json()
    assert body["decision"] == approved["decision"] and body["summary_zh"] and body["summary_en"]
    assert body["reasons"] == approved["reasons"]
    assert all(r["zh"] and r["en"] for r in body["reasons"])
    assert body["versions"]["policy"] and body["versions"]["model"]["version"]
    path = f"/v1/decisions/{decision}/human-review"
    asked = gate.send("POST", path, channel, {"reason": "我的收入被低估了"})
    assert asked.status_code == 202 and asked.json() == {"decision_id": decision, "status": "open"}
    again = gate.send("POST", path, channel, {"reason": "again"})
    assert again.status_code == 409 and again.json()["field"] == "decision_id"


def test_credit_line_and_drawdowns(
    gate: Gate, channel: Credentials, approved: dict[str, Any]
) -> None:
    path = f"/v1/credit-lines/{approved['credit_line_id']}"
    line = gate.send("GET", path, channel)
    assert line.status_code == 200, line.text
    assert line.json()["customer_ref"] == approved["customer_ref"]
    assert line.json()["drawn"] == "0.00"
    drawn = gate.send("POST", f"{path}/drawdowns", channel, {"amount": "1000.50", "branch": OUTLET})
    assert drawn.status_code == 201, drawn.text
    assert drawn.json()["drawn"] and drawn.json()["line_drawn"] == "1000.50"
    too_much = gate.send("POST", f"{path}/drawdowns", channel,
                         {"amount": 10**9, "branch": OUTLET})  # fmt: skip
    assert too_much.status_code == 409 and too_much.json()["field"] == "amount"
    assert gate.send("GET", path, channel).json()["drawn"] == "1000.50"
    float_amount = gate.send("POST", f"{path}/drawdowns", channel,
                             {"amount": 10.5, "branch": OUTLET})  # fmt: skip
    assert float_amount.status_code == 422 and float_amount.json()["field"].startswith("amount")


def test_a_withdrawn_consent_stops_further_use(gate: Gate, channel: Credentials) -> None:
    person = gate.people[2]
    consent = _consent(gate, channel, person)
    other = gate_client(gate)
    assert gate.send("DELETE", f"/v1/consents/{consent['consent_id']}", other).status_code == 404
    gone = gate.send("DELETE", f"/v1/consents/{consent['consent_id']}", channel)
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    body = {"subject_id": person, "consent_id": consent["consent_id"], "product": "household",
            "amount": 30_000, "branch": OUTLET}  # fmt: skip
    refused = gate.send("POST", "/v1/applications", channel, body)
    assert refused.status_code == 422 and refused.json()["field"] == "consent_id"
    assert refused.json()["title"] == "Policy violation"
    again = gate.send("DELETE", f"/v1/consents/{consent['consent_id']}", channel)
    assert again.status_code == 200 and again.json() == gone.json()
    # The ledger holds the withdrawal, so it binds the counter (CLI) too.
    with pytest.raises(PolicyViolation, match="withdrawn"):
        gate.gateway.counter.apply(person, product="household", amount=30_000, branch=OUTLET,
                                   consent_id=consent["consent_id"])  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "30000"}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 30000.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"product": "yacht"}, "product"),
        ({"branch": "999999999"}, "branch"),
        ({"subject_id": "341602199001011230"}, "subject_id"),  # bad check digit
        ({"consent_id": "Cnone"}, "consent_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(
    gate: Gate, channel: Credentials, change: dict[str, Any], field: str
) -> None:
    consent = _consent(gate, channel, gate.people[3])
    body = {"subject_id": gate.people[3], "consent_id": consent["consent_id"],
            "product": "household", "amount": 30_000, "branch": OUTLET} | change  # fmt: skip
    response = gate.send("POST", "/v1/applications", channel, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field
    assert gate.people[3] not in response.text
    if field == "subject_id":  # not even masked: an answer echoes nothing of what was sent
        sent = body["subject_id"]
        assert sent[:6] not in response.text and sent[-4:] not in response.text


def test_a_whole_number_with_a_point_is_an_integer(gate: Gate, channel: Credentials) -> None:
    """JSON Schema's "integer" includes 30000.0, so a client's JSON encoder may send it."""
    consent = _consent(gate, channel, gate.people[4])
    body = {"subject_id": gate.people[4], "consent_id": consent["consent_id"],
            "product": "household", "amount": 30_000.0, "branch": OUTLET}  # fmt: skip
    response = gate.send("POST", "/v1/applications", channel, body)
    assert response.status_code == 201, response.text
    assert response.json()["decision"] in ("approve", "refer", "decline")


def test_malformed_json_is_a_422_naming_the_body(gate: Gate, channel: Credentials) -> None:
    response = gate.send("POST", "/v1/applications", channel, raw=b'{"amount": 3')
    assert response.status_code == 422 and response.json()["field"] == "body"
    missing = gate.send("POST", "/v1/consents", channel, {"purposes": ["tax"], "valid_days": 1})
    assert missing.status_code == 422 and missing.json()["field"] == "subject_id"


def test_unknown_paths_are_problems(gate: Gate) -> None:
    response = gate.http.get("/v1/nothing/341602199001011234")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert "341602199001011234" not in response.text


def test_profile_is_masked_by_module_and_carries_no_pii(
    gate: Gate, channel: Credentials, approved: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = gate.send("GET", f"/v1/customers/{approved['customer_ref']}/profile", channel)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "person" and len(body["modules"]) >= 3
    texts = [response.text, caplog.text]
    register = pd.read_parquet(
        gate.county / "sources" / "population_register" / "population_register.parquet"
    )
    ids = set(gate.people[:20])
    people = register[register["公民身份号码"].astype(str).isin(ids)]
    assert len(people) >= 1
    for number, name, phone in people[["公民身份号码", "姓名", "联系电话"]].astype(str).values:
        for text in texts:
            assert number not in text
            assert len(name) < 2 or name not in text
            assert phone in ("None", "nan") or phone not in text


def test_metrics_in_prometheus_format(gate: Gate) -> None:
    creds = gate.client("metrics:read")
    response = gate.send("GET", "/metrics", creds)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "# TYPE purecredit_http_requests_total counter" in response.text
    assert 'endpoint="/oauth/token"' in response.text


def test_openapi_describes_the_gateway(gate: Gate) -> None:
    spec = gate.http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/oauth/token", "/v1/consents", "/v1/consents/{consent_id}",
                 "/v1/applications", "/v1/applications/{application_id}",
                 "/v1/decisions/{decision_id}/explanation",
                 "/v1/decisions/{decision_id}/human-review",
                 "/v1/customers/{customer_ref}/profile", "/v1/credit-lines/{line_id}",
                 "/v1/credit-lines/{line_id}/drawdowns", "/metrics"):  # fmt: skip
        assert path in spec["paths"], path
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "X-Timestamp", "X-Nonce", "X-Signature"} <= set(schemes)
    write = spec["paths"]["/v1/applications"]["post"]["security"]
    assert write == [{"HTTPBearer": [], "X-Timestamp": [], "X-Nonce": [], "X-Signature": []}]
    assert spec["paths"]["/v1/applications/{application_id}"]["get"]["security"] == [
        {"HTTPBearer": []}
    ]


def test_every_call_is_audited_once_and_the_chain_verifies(
    gate: Gate, channel: Credentials, approved: dict[str, Any]
) -> None:
    gate.token(channel)  # the token is fetched before counting
    before = audit.last_seq(gate.engine)
    responses = [
        gate.send("GET", f"/v1/applications/{approved['application_id']}", channel),
        gate.send("GET", f"/v1/applications/{approved['application_id']}", channel, token="x"),
        gate.http.get("/v1/nothing"),
        _apply(gate, channel, gate.people[4]),  # two calls: consent, then application
    ]
    assert audit.last_seq(gate.engine) == before + 5
    with gate.engine.connect() as connection:
        rows = connection.execute(
            select(audit.audit_log).where(audit.audit_log.c.seq > before).order_by("seq")
        ).mappings().all()  # fmt: skip
    assert [r["endpoint"] for r in rows] == [
        "/v1/applications/{application_id}", "/v1/applications/{application_id}",
        audit.UNMATCHED, "/v1/consents", "/v1/applications",
    ]  # fmt: skip
    assert [r["status"] for r in rows][:3] == [200, 401, 404]
    assert rows[0]["client_id"] == channel.client_id and rows[1]["client_id"] is None
    assert rows[0]["request_id"] == responses[0].headers["x-request-id"]
    assert rows[4]["request_id"] == responses[3].headers["x-request-id"]
    assert rows[4]["outcome"] == responses[3].json()["decision"]
    assert rows[4]["subject"].startswith("id:") and rows[3]["subject"] == rows[4]["subject"]
    result = audit.verify(gate.engine)
    assert result.ok and result.entries == audit.last_seq(gate.engine)
    for row in rows:
        assert gate.people[4] not in str(dict(row))
