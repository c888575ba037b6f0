"""`POST /v1/consents` records a subject's consent; `DELETE /v1/consents/{consent_id}`
withdraws it.

Both live in the decision ledger (`store.record_consent`, `store.withdraw_consent`), where the
counter checks every application's consent: a withdrawal made here binds the counter (CLI)
too. A consent recorded through the gateway is ``recorded_by`` ``api:<client_id>``, and only
that client may withdraw it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from purecredit.api import idempotency, routes_customers
from purecredit.api.auth import GatewayDep, signed
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES, ConsentIn, ConsentOut
from purecredit.api.tokens import Claims
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.settings import Settings
from purecredit.core.subjects import SubjectKind, subject_key
from purecredit.decide import store

router = APIRouter(tags=["consents"], responses=PROBLEM_RESPONSES)


def recorder(client_id: str) -> str:
    """Who a consent recorded through the gateway names as having recorded it."""
    return f"api:{client_id}"


def subject_of(settings: Settings, subject_id: str) -> tuple[SubjectKind, str]:
    """(kind, lake key) of a resident ID or USCC given in the body's `subject_id`."""
    try:
        kind, subject, _shown = subject_key(subject_id, settings)
    except Invalid as exc:
        # The parsers' detail starts with the number masked ("resident ID 3416****1230: ...");
        # an answer echoes nothing of what was sent, so only the reason after it is kept.
        reason = exc.detail.partition(": ")[2] or "not a resident ID or USCC"
        detail = f"subject_id is not a valid identifier: {reason}"
        raise Invalid(detail, field="subject_id") from None
    return kind, subject


@router.post(
    "/v1/consents",
    status_code=201,
    response_model=ConsentOut,
    responses=idempotency.RESPONSES,
)
def record(
    body: ConsentIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("consents:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
) -> Response:
    """Record a subject's consent to a credit decision reading the named sources, for
    `valid_days` days; answers its id and the customer's opaque reference. A retry with the
    same `Idempotency-Key` answers the first answer and records nothing more."""
    kind, subject = subject_of(gw.settings, body.subject_id)
    current(request).subject = subject
    ref = gw.customer_ref(subject)

    def work(connection: Connection) -> idempotency.Answer:
        now = datetime.now(UTC)
        valid_until = now.date() + timedelta(days=body.valid_days)
        consent_id = f"C{uuid.uuid4().hex[:20]}"
        routes_customers.remember(
            connection, ref=ref, client_id=claims.client_id, subject=subject, kind=kind
        )
        store.record_consent(
            connection,
            consent_id=consent_id,
            subject=subject,
            recorded_by=recorder(claims.client_id),
            sources=body.purposes,
            granted_at=now,
            valid_until=valid_until,
        )
        shown = {
            "consent_id": consent_id,
            "customer_ref": ref,
            "purpose": store.PURPOSE,
            "sources": sorted(set(body.purposes)),
            "valid_until": valid_until,
            "status": "active",
        }
        return idempotency.answer(201, ConsentOut, shown)

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    current(request).outcome = "replayed" if done.replayed else "consent_recorded"
    return done.response()


@router.delete("/v1/consents/{consent_id}", response_model=ConsentOut)
def withdraw(
    consent_id: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("consents:write"))],
) -> dict[str, Any]:
    """Withdraw a consent this client recorded: no application may use it afterwards (at
    the gateway or the counter). Withdrawing a withdrawn consent answers the same."""
    with store.writing(gw.engine) as connection:
        found = store.CONSENTS.c.consent_id == consent_id
        mine = connection.execute(store.CONSENTS.select().where(found)).mappings().first()
        if mine is None or mine["recorded_by"] != recorder(claims.client_id):
            raise NotFound("no consent with this id for this client", field="consent_id")
        consent = store.withdraw_consent(connection, consent_id, at=datetime.now(UTC))
    current(request).subject = consent["subject"]
    current(request).outcome = "consent_withdrawn"
    return {
        "consent_id": consent_id,
        "customer_ref": gw.customer_ref(consent["subject"]),
        "purpose": consent["purpose"],
        "sources": consent["sources"],
        "valid_until": consent["valid_until"],
        "status": "withdrawn",
    }
