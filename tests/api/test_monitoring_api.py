"""Post-loan monitoring through the gateway (`routes_monitoring`): the scopes, branch scoping,
a signed and idempotent step, and no borrower token or ID number in any answer.

Cases are raised as the daily batch raises them (`tests.monitor.test_cases.open_case`) on the
gateway's own ledger: one at this module's outlet, one at another branch."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from purecredit.api.clients import Credentials
from purecredit.decide import exposure
from purecredit.monitor.tables import case_steps
from tests.api.conftest import OTHER_BRANCH, OUTLET, Gate
from tests.monitor.test_cases import borrower, line_status, open_case

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Watched:
    here: str  # a red case at OUTLET (its line frozen by the warning)
    here_subject: str
    here_line: str
    there: str  # an orange case at OTHER_BRANCH
    there_subject: str


@pytest.fixture(scope="module")
def watched(gate: Gate) -> Watched:
    subject, line_id = borrower(gate.engine, branch=OUTLET)
    other, _ = borrower(gate.engine, branch=OTHER_BRANCH)
    here = open_case(gate.engine, subject, "court_enforcement", branch=OUTLET)
    there = open_case(gate.engine, other, "pd_downgrade", branch=OTHER_BRANCH)
    return Watched(here, subject, line_id, there, other)


def _steps(gate: Gate, case_id: str) -> int:
    with gate.engine.connect() as connection:
        query = select(func.count()).select_from(case_steps)
        return int(connection.execute(query.where(case_steps.c.case_id == case_id)).scalar_one())


def _no_token(watched: Watched, text: str) -> None:
    """Results only: the lake's token of a borrower never leaves the data zone."""
    assert watched.here_subject not in text and watched.there_subject not in text
    assert '"subject"' not in text and "id:" not in text


def test_each_route_needs_its_scope(gate: Gate, watched: Watched) -> None:
    reader = gate.client("credit-lines:read", "credit-lines:write")
    before = _steps(gate, watched.here)
    for path in ("/v1/warnings", "/v1/cases", f"/v1/cases/{watched.here}"):
        refused = gate.send("GET", path, reader)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM and refused.json()["field"] == "scope"
        assert gate.send("GET", path, reader, token="not-a-token").status_code == 401
    read_only = gate.client("monitoring:read")
    assert gate.send("GET", "/v1/cases", read_only).status_code == 200
    step = gate.send("POST", f"/v1/cases/{watched.here}/steps", read_only, {"step": "verify"})
    assert step.status_code == 403 and step.json()["field"] == "scope"
    unsigned = gate.send(
        "POST", f"/v1/cases/{watched.here}/steps", gate.client("monitoring:write"),
        {"step": "verify"}, sign=False,
    )  # fmt: skip
    assert unsigned.status_code == 401
    assert _steps(gate, watched.here) == before == 2  # the batch's "opened" and "frozen"


def test_a_branch_client_sees_and_works_only_its_branches(gate: Gate, watched: Watched) -> None:
    outlet = gate.client("monitoring:read", "monitoring:write", branches=(OUTLET,))
    everyone = gate.client("monitoring:read")
    listed = gate.send("GET", "/v1/cases", outlet)
    assert listed.status_code == 200, listed.text
    ids = {c["case_id"] for c in listed.json()}
    assert watched.here in ids and watched.there not in ids
    assert {c["branch"] for c in listed.json()} == {OUTLET}
    warned = gate.send("GET", "/v1/warnings", outlet).json()
    assert {w["branch"] for w in warned} == {OUTLET}
    assert {w["case_id"] for w in warned} >= {watched.here}
    both = {c["case_id"] for c in gate.send("GET", "/v1/cases", everyone).json()}
    assert {watched.here, watched.there} <= both
    hidden = gate.send("GET", f"/v1/cases/{watched.there}", outlet)
    assert hidden.status_code == 404 and hidden.json()["field"] == "case_id"
    acted = gate.send("POST", f"/v1/cases/{watched.there}/steps", outlet, {"step": "verify"})
    assert acted.status_code == 404
    assert _steps(gate, watched.there) == 1
    shown = gate.send("GET", f"/v1/cases/{watched.here}", outlet)
    assert shown.status_code == 200, shown.text
    case = shown.json()
    assert case["customer_ref"] == gate.gateway.customer_ref(watched.here_subject)
    assert case["severity"] == "red" and case["warnings"][0]["kind"] == "court_enforcement"
    for response in (listed, shown):
        _no_token(watched, response.text)
    _no_token(watched, json.dumps(warned))


def test_filters_and_pages(gate: Gate, watched: Watched) -> None:
    everyone = gate.client("monitoring:read")
    red = gate.send("GET", "/v1/warnings?severity=red", everyone).json()
    assert red and {w["severity"] for w in red} == {"red"}
    assert gate.send("GET", "/v1/warnings?since=2100-01-01", everyone).json() == []
    assert gate.send("GET", "/v1/warnings?severity=blue", everyone).status_code == 422
    first = gate.send("GET", "/v1/cases?limit=1", everyone).json()
    second = gate.send("GET", "/v1/cases?limit=1&offset=1", everyone).json()
    assert len(first) == len(second) == 1 and first != second
    assert gate.send("GET", "/v1/cases?limit=0", everyone).status_code == 422
    closed = gate.send("GET", "/v1/cases?status=closed", everyone).json()
    assert all(c["status"] == "closed" for c in closed)


def _officer(gate: Gate) -> Credentials:
    return gate.client("monitoring:read", "monitoring:write", branches=(OUTLET,))


def test_a_step_is_signed_idempotent_and_checked(gate: Gate, watched: Watched) -> None:
    creds = _officer(gate)
    path = f"/v1/cases/{watched.here}/steps"
    first = gate.send("POST", path, creds, {"step": "verify"}, idempotency_key="visit-1")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "verifying"
    assert first.json()["steps"][-1]["actor"] == f"api:{creds.client_id}"
    _no_token(watched, first.text)
    again = gate.send("POST", path, creds, {"step": "verify"}, idempotency_key="visit-1")
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert _steps(gate, watched.here) == 3  # opened, frozen, verify: the retry took none
    other_body = gate.send("POST", path, creds, {"step": "confirm"}, idempotency_key="visit-1")
    assert other_body.status_code == 422 and other_body.json()["field"] == "Idempotency-Key"
    wrong = gate.send("POST", path, creds, {"step": "close"})
    assert wrong.status_code == 409 and wrong.json()["field"] == "status"
    missing = gate.send("POST", path, creds, {"step": "act"})
    assert missing.status_code == 422
    no_key = gate.send("POST", path, creds, {"step": "dismiss"}, idempotency_key=False)
    assert no_key.status_code == 422
    assert _steps(gate, watched.here) == 3
    # A false alarm: the warning's freeze is lifted, the case closes.
    dismissed = gate.send("POST", path, creds, {"step": "dismiss", "note": "paid in full"})
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["finding"] == "false_alarm"
    assert line_status(gate.engine, watched.here_line) == exposure.ACTIVE
    closed = gate.send("POST", path, creds, {"step": "close"})
    assert closed.json()["status"] == "closed" and closed.json()["closed_on"]
    steps = [s["step"] for s in closed.json()["steps"]]
    # The batch records "opened" and "frozen" at one instant: their order is not fixed.
    assert sorted(steps[:2]) == ["frozen", "opened"] and steps[2:] == ["verify", "dismiss", "close"]


def test_an_action_through_the_gateway(gate: Gate) -> None:
    subject, line_id = borrower(gate.engine, branch=OUTLET)
    case_id = open_case(gate.engine, subject, "query_burst", branch=OUTLET)
    creds = _officer(gate)
    path = f"/v1/cases/{case_id}/steps"
    for body in ({"step": "assign", "assignee": "wang"}, {"step": "verify"},
                 {"step": "confirm", "note": "three new lenders in a month"}):  # fmt: skip
        done = gate.send("POST", path, creds, body)
        assert done.status_code == 200, (body, done.text)
    assert done.json()["inspection"]["finding"] == "three new lenders in a month"
    bad = gate.send("POST", path, creds, {"step": "act", "action": "reduce", "to": 5})
    assert bad.status_code == 422 and bad.json()["field"].startswith("to")
    reduced = gate.send("POST", path, creds, {"step": "act", "action": "reduce", "to": "50000"})
    assert reduced.status_code == 200, reduced.text
    assert (reduced.json()["action"], reduced.json()["protected_amount"]) == ("reduce", "50000.00")
    assert reduced.json()["assignee"] == "wang"
    assert exposure.exposure(gate.engine, subject)["lines"][0]["limit"] == "50000.00"
    assert line_status(gate.engine, line_id) == exposure.ACTIVE
