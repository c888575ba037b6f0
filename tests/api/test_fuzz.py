"""Fuzzing the gateway over its published spec (issue 7): schemathesis generates requests for
every operation of `/openapi.json`, valid ones (positive) and invalid ones (negative), sent
authenticated (a bearer token) and, for writes under /v1, signed over the exact bytes and path
as sent. At least 1,000 requests; none may get a 5xx, an undocumented status, a content type
the spec does not declare for it, or a body that breaks the response schema.

Generated identifiers would only ever meet 404s, so half the cases use real ones instead (a
consent, an approved application, its decision, customer and credit line, made before the
run), which takes the fuzzer into the routes' answers. Generation is derandomized, so CI
sees the same requests every run; every failure is collected and reported together, once
per (operation, check, status), with a request that shows it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from purecredit.api import idempotency, signing
from purecredit.api.clients import SCOPES, Credentials
from purecredit.decide.counter import CONSENT_SOURCES
from purecredit.decide.exposure import credit_lines
from tests.api.conftest import OUTLET, Gate
from tests.monitor.test_cases import open_case

pytestmark = pytest.mark.slow

MINIMUM_REQUESTS = 1_000
# Examples per operation and mode: 14 operations, most with both modes, well over the minimum
# (operations without inputs exhaust after a handful; the count is asserted, not assumed).
EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 45}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = frozenset({"authorization", "x-timestamp", "x-nonce", "x-signature"})


class Signer(requests.auth.AuthBase):
    """A client as docs/api.md describes it: the bearer token on every call and, on a write
    under /v1, X-Timestamp, X-Nonce and X-Signature over the prepared request's own body
    bytes and path (with its query), exactly what goes on the wire."""

    def __init__(self, creds: Credentials, token: str) -> None:
        self.creds, self.token = creds, token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = request.path_url
        if path.startswith("/oauth/"):
            return request  # the token endpoint takes client credentials, fuzzed as generated
        request.headers["Authorization"] = f"Bearer {self.token}"
        method = (request.method or "").upper()
        if method in WRITES and path.startswith("/v1/"):
            body = request.body or b""
            content = body.encode() if isinstance(body, str) else bytes(body)
            timestamp, nonce = int(time.time()), uuid.uuid4().hex
            request.headers["X-Timestamp"] = str(timestamp)
            request.headers["X-Nonce"] = nonce
            request.headers["X-Signature"] = signing.sign(
                self.creds.client_secret, method, path, timestamp, nonce, content
            )
        if method == "POST" and path.startswith("/v1/"):
            request.headers[idempotency.HEADER] = uuid.uuid4().hex  # as a client must: fresh
        return request


@dataclass
class Findings:
    requests: int = 0
    statuses: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    failures: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)

    def add(self, label: str, title: str, status: int, detail: str) -> None:
        seen = self.failures.setdefault((label, title, status), [])
        if not seen:
            seen.append(detail)
        seen.append("")  # one mark per occurrence

    def report(self) -> str:
        lines = []
        for (label, title, status), seen in sorted(self.failures.items()):
            lines.append(f"{label}: {title} (status {status}, {len(seen) - 1} times)\n{seen[0]}")
        return "\n\n".join(lines)


@dataclass(frozen=True)
class Known:
    """Real identifiers, made through the gateway before the run."""

    path: dict[str, str]
    body: dict[str, Any]
    withdrawable: str  # a consent of its own for DELETE, so the others stay usable


def _known(gate: Gate, creds: Credentials) -> Known:
    def consent(person: str) -> str:
        body = {"subject_id": person, "purposes": list(CONSENT_SOURCES), "valid_days": 90}
        response = gate.send("POST", "/v1/consents", creds, body)
        assert response.status_code == 201, response.text
        return str(response.json()["consent_id"])

    for person in gate.people[:20]:
        consent_id = consent(person)
        body = {"subject_id": person, "consent_id": consent_id, "product": "household",
                "amount": 30_000, "branch": OUTLET}  # fmt: skip
        response = gate.send("POST", "/v1/applications", creds, body)
        assert response.status_code == 201, response.text
        applied = response.json()
        if applied["decision"] == "approve" and applied["credit_line_id"]:
            break
    else:
        pytest.fail("none of the best 20 applicants was approved")
    line = applied["credit_line_id"]
    drawn = gate.send("POST", f"/v1/credit-lines/{line}/drawdowns", creds,
                      {"amount": 100, "branch": OUTLET})  # fmt: skip
    assert drawn.status_code == 201, drawn.text
    return Known(
        path={
            "loan_id": drawn.json()["loan_id"],
            "consent_id": consent_id,
            "application_id": applied["application_id"],
            "decision_id": applied["decision_id"],
            "customer_ref": applied["customer_ref"],
            "line_id": applied["credit_line_id"],
            "case_id": _watched(gate, line),
        },
        body={
            "subject_id": person,
            "consent_id": consent(person),
            "product": "household",
            "branch": OUTLET,
        },
        withdrawable=consent(person),
    )


def _watched(gate: Gate, line_id: str) -> str:
    """A warning case on the line's borrower, opened as the daily batch opens one."""
    with gate.engine.connect() as connection:
        query = select(credit_lines.c.subject).where(credit_lines.c.line_id == line_id)
        subject = str(connection.execute(query).scalar_one())
    return open_case(gate.engine, subject, "pd_downgrade", branch=OUTLET)


def _strategy(
    operation: schemathesis.APIOperation, mode: GenerationMode, known: Known
) -> st.SearchStrategy[tuple[Any, bool]]:
    """Cases as generated, or (half the time) with real identifiers in the path."""
    names = {p.name for p in operation.path_parameters}
    strategy = operation.as_strategy(generation_mode=mode)
    if names:
        fixed = {name: known.path[name] for name in names}
        if operation.method.upper() == "DELETE":
            fixed = {name: known.withdrawable for name in names}
        strategy = st.one_of(strategy, operation.as_strategy(mode, path_parameters=fixed))
    return st.tuples(strategy, st.booleans())


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    known: Known,
    signer: Signer,
    findings: Findings,
) -> None:
    label = f"{operation.method.upper()} {operation.path} [{mode.value}]"

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=_strategy(operation, mode, known))
    def run(drawn: tuple[Any, bool]) -> None:
        case, real_body = drawn
        if real_body and isinstance(case.body, dict):
            case.body.update({k: v for k, v in known.body.items() if k in case.body})
        findings.requests += 1
        try:
            response = case.call(auth=signer)
        except Exception as exc:  # the app raised through the transport: as bad as a 500
            findings.add(label, f"exception {type(exc).__name__}", 0, f"{exc}\n{case!r}")
            return
        findings.statuses[(label, response.status_code, _problem_field(response))] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                findings.add(label, failure.title, response.status_code, str(group))

    run()


def _problem_field(response: schemathesis.Response) -> str:
    """The input a refusal names (problem details' `field`), for the run's summary."""
    if response.status_code < 400:
        return ""
    try:
        problem = response.json()
    except ValueError:
        return ""
    name = str(problem.get("field") or "") if isinstance(problem, dict) else ""
    return name if name.isascii() and name.isprintable() else "(a name sent)"


def _has_inputs(operation: schemathesis.APIOperation) -> bool:
    """Anything to negate but the credentials, which the signer sets on every request."""
    names = {p.name.lower() for p in operation.iter_parameters()} - SECURITY_HEADERS
    return bool(names) or bool(operation.body)


def _operations(schema: Any) -> list[schemathesis.APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_gateway_survives_fuzzing_over_its_own_spec(gate: Gate) -> None:
    creds = gate.client(*SCOPES)
    signer = Signer(creds, gate.token(creds))
    known = _known(gate, creds)
    app = gate.http.app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = _operations(schema)
    assert len(operations) >= 14, [f"{o.method} {o.path}" for o in operations]

    findings = Findings()
    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue
            _fuzz(operation, mode, known, signer, findings)
    elapsed = time.monotonic() - started

    summary = "\n".join(f"  {label}: {status} {at} x{n}" for (label, status, at), n in
                        sorted(findings.statuses.items()))  # fmt: skip
    print(f"{findings.requests} requests in {elapsed:.1f} s\n{summary}")
    assert not findings.failures, findings.report()
    assert findings.requests >= MINIMUM_REQUESTS, summary
