"""`POST /v1/consents` records a subject's consent; `DELETE /v1/consents/{consent_id}`
withdraws it.

The consent itself goes to the decision ledger (`store.record_consent`), where the counter
checks it. `store` has no withdrawal yet, so the gateway keeps its own `api_consents` row per
consent it recorded (who recorded it, when it was withdrawn) and refuses a withdrawn consent
before the counter sees it (`withdrawn`). A consent recorded at the counter (CLI) cannot be
withdrawn here; and the CLI does not see withdrawals made here (see the module's TODO).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, select, update

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
metadata = MetaData()

# TODO(issue 7): a `withdrawn_at` column on store.CONSENTS, checked by store.check_consent,
# would make a withdrawal bind the counter (CLI) too; until then it binds the gateway.
API_CONSENTS = Table(
    "api_consents",
    metadata,
    Column("consent_id", String(40), primary_key=True),
    Column("client_id", String(40), nullable=False, index=True),
    Column("customer_ref", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True)),
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def subject_of(settings: Settings, subject_id: str) -> tuple[SubjectKind, str]:
    """(kind, lake key) of a resident ID or USCC given in the body's `subject_id`."""
    try:
        kind, subject, _shown = subject_key(subject_id, settings)
    except Invalid as exc:
        raise Invalid(exc.detail, field="subject_id") from None
    return kind, subject


def withdrawn(bind: store.Bind, consent_id: str) -> bool:
    query = select(API_CONSENTS.c.withdrawn_at).where(API_CONSENTS.c.consent_id == consent_id)
    with store.reading(bind) as connection:
        row = connection.execute(query).first()
    return row is not None and row.withdrawn_at is not None


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
    `valid_days` days; answers its id and the customer's opaque reference. With an
    `Idempotency-Key` (optional; send one), a retry answers the first answer and records
    nothing more (see `idempotency`)."""
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
            recorded_by=f"api:{claims.client_id}",
            sources=body.purposes,
            granted_at=now,
            valid_until=valid_until,
        )
        row = {
            "consent_id": consent_id,
            "client_id": claims.client_id,
            "customer_ref": ref,
            "created_at": now,
            "withdrawn_at": None,
        }
        connection.execute(API_CONSENTS.insert(), row)
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
    """Withdraw a consent this client recorded: no application may use it afterwards.
    Withdrawing a withdrawn consent answers the same."""
    query = select(API_CONSENTS).where(
        API_CONSENTS.c.consent_id == consent_id, API_CONSENTS.c.client_id == claims.client_id
    )
    with gw.engine.begin() as connection:
        mine = connection.execute(query).mappings().first()
        if mine is None:
            raise NotFound("no consent with this id for this client", field="consent_id")
        connection.execute(
            update(API_CONSENTS)
            .where(API_CONSENTS.c.consent_id == consent_id, API_CONSENTS.c.withdrawn_at.is_(None))
            .values(withdrawn_at=datetime.now(UTC))
        )
    consent = store.row_by_key(gw.engine, store.CONSENTS, consent_id, "no consent", "consent_id")
    current(request).subject = consent["subject"]
    current(request).outcome = "consent_withdrawn"
    return {
        "consent_id": consent_id,
        "customer_ref": mine["customer_ref"],
        "purpose": consent["purpose"],
        "sources": consent["sources"],
        "valid_until": consent["valid_until"],
        "status": "withdrawn",
    }
