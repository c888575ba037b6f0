"""Applications and their decisions: `POST /v1/applications`, `GET /v1/applications/{id}`,
`GET /v1/decisions/{id}/explanation`, `POST /v1/decisions/{id}/human-review`.

The counter decides and records (`Counter.apply`); the gateway keeps, per application, the
client that made it and the answer it got (`api_applications`), so that only that client
reads it again, and a branch client only while it still acts for the branch. Another
client's application is a 404, as if it did not exist.

The POSTs take an `Idempotency-Key` (see `idempotency`): the key's claim, the decision with
its consent, grant and review, the gateway's rows and the stored answer are one transaction,
so a retry gets the first answer and never a second decision or line, and a failure part-way
leaves nothing behind. The key is optional, so a client that sends none gets no such promise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import JSON, Column, Connection, DateTime, Engine, MetaData, String, Table, select

from purecredit.api import idempotency, routes_customers
from purecredit.api.auth import GatewayDep, scoped, signed
from purecredit.api.calls import current
from purecredit.api.routes_consents import subject_of
from purecredit.api.schemas import (
    PROBLEM_RESPONSES,
    ApplicationIn,
    ApplicationOut,
    Explanation,
    ReviewIn,
    ReviewOut,
)
from purecredit.api.tokens import Claims, require_branch
from purecredit.core.errors import Conflict, Invalid, NotFound, PolicyViolation
from purecredit.decide import review, store

router = APIRouter(tags=["applications"], responses=PROBLEM_RESPONSES)
metadata = MetaData()

API_APPLICATIONS = Table(
    "api_applications",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("decision_id", String(40), nullable=False, unique=True),
    Column("client_id", String(40), nullable=False, index=True),
    Column("customer_ref", String(40), nullable=False),
    Column("branch", String(9), nullable=False),
    Column("answer", JSON, nullable=False),  # the ApplicationOut the client got
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# The counter names the inputs its way; the API body names them these.
_FIELDS = {"identifier": "subject_id", "consent": "consent_id", "term": "term_months"}
_SAID = {
    "approve": ("批准", "approved"),
    "refer": ("转人工审批", "referred to a person for review"),
    "decline": ("拒绝", "declined"),
}


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


@router.post(
    "/v1/applications",
    status_code=201,
    response_model=ApplicationOut,
    responses=idempotency.RESPONSES,
)
def apply(
    body: ApplicationIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("applications:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
) -> Response:
    """Decide an application (approve, refer or decline) with the fields of
    `purecredit apply --json`, plus the customer's opaque `customer_ref` and the credit line
    granted, if any. The consent must be the subject's, valid and not withdrawn.

    A retry with the same `Idempotency-Key` and body answers the first answer byte for byte
    (``Idempotent-Replayed: true``) and decides nothing again; the same key with another body
    is a 422, one still in progress a 409."""
    require_branch(claims, body.branch)
    kind, subject = subject_of(gw.settings, body.subject_id)
    call = current(request)
    call.subject = subject
    ref = gw.customer_ref(subject)

    def work(connection: Connection) -> idempotency.Answer:
        try:
            applied = gw.counter.apply(
                body.subject_id,
                product=body.product,
                amount=body.amount,
                branch=body.branch,
                consent_id=body.consent_id,
                officer=f"api:{claims.client_id}",
                term_months=body.term_months,
                connection=connection,
            )
        except (Invalid, NotFound, PolicyViolation) as exc:
            # Everything here is about the body: a 422 naming the body's field, never a 404.
            field = _FIELDS.get(exc.field or "", exc.field)
            refusal = PolicyViolation if isinstance(exc, PolicyViolation) else Invalid
            raise refusal(exc.detail, field=field) from None
        routes_customers.remember(
            connection, ref=ref, client_id=claims.client_id, subject=subject, kind=kind
        )
        grant = applied.grant or {}
        shown = applied.summary() | {"customer_ref": ref, "credit_line_id": grant.get("line_id")}
        done = idempotency.answer(201, ApplicationOut, shown)
        row = {
            "application_id": shown["application_id"],
            "decision_id": applied.decision_id,
            "client_id": claims.client_id,
            "customer_ref": ref,
            "branch": body.branch,
            "answer": shown,
            "created_at": datetime.now(UTC),
        }
        connection.execute(API_APPLICATIONS.insert(), row)
        call.outcome = shown["decision"]
        return done

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    if done.replayed:
        call.outcome = "replayed"
    return done.response()


def _mine(engine: Engine, claims: Claims, **key: str) -> dict[str, Any]:
    """This client's application row by application or decision id, or `NotFound`."""
    ((column, value),) = key.items()
    query = select(API_APPLICATIONS).where(
        API_APPLICATIONS.c[column] == value, API_APPLICATIONS.c.client_id == claims.client_id
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        raise NotFound(
            f"no {column.removesuffix('_id')} with this id for this client", field=column
        )
    require_branch(claims, row["branch"])
    return dict(row)


@router.get("/v1/applications/{application_id}", response_model=ApplicationOut)
def read(
    application_id: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("applications:read"))],
) -> dict[str, Any]:
    """The answer this client got for its application."""
    row = _mine(gw.engine, claims, application_id=application_id)
    current(request).outcome = "read"
    answer: dict[str, Any] = row["answer"]
    return answer


@router.get("/v1/decisions/{decision_id}/explanation", response_model=Explanation)
def explanation(
    decision_id: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("applications:read"))],
) -> dict[str, Any]:
    """Why the decision is what it is: every reason code with the rule in plain words (zh and
    en), and the policy and model versions that made it."""
    row = _mine(gw.engine, claims, decision_id=decision_id)
    answer = row["answer"]
    stored = store.decision(gw.engine, decision_id)
    record = stored["record"]
    current(request).subject = stored["subject"]
    zh, en = _SAID.get(answer["decision"], (answer["decision"], answer["decision"]))
    versions = record.get("versions", {})
    model = versions.get("model") or {}
    current(request).outcome = "read"
    return {
        "decision_id": decision_id,
        "application_id": answer["application_id"],
        "decision": answer["decision"],
        "summary_zh": f"申请{zh}",
        "summary_en": f"The application was {en}.",
        "reasons": answer["reasons"],
        "versions": {
            "policy": versions.get("policy"),
            "model": {"segment": model.get("segment"), "version": model.get("version")},
        },
    }


@router.post(
    "/v1/decisions/{decision_id}/human-review",
    status_code=202,
    response_model=ReviewOut,
    responses=idempotency.RESPONSES,
)
def human_review(
    decision_id: str,
    body: ReviewIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("applications:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
) -> Response:
    """The applicant asks a person to review an automated decision (PIPL art. 24); a
    decision already under review (a referral, or an earlier request) is a 409. With an
    `Idempotency-Key` (optional; send one), a retry answers the first 202 again."""
    _mine(gw.engine, claims, decision_id=decision_id)
    current(request).subject = store.decision(gw.engine, decision_id)["subject"]
    query = select(store.REVIEWS.c.status).where(store.REVIEWS.c.decision_id == decision_id)

    def work(connection: Connection) -> idempotency.Answer:
        if connection.execute(query).first() is not None:
            raise Conflict("this decision already has a review", field="decision_id")
        review.request_review(connection, decision_id, body.reason)
        return idempotency.answer(202, ReviewOut, {"decision_id": decision_id, "status": "open"})

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    current(request).outcome = "replayed" if done.replayed else "review_requested"
    return done.response()
