"""`GET /v1/customers/{customer_ref}/profile`: a customer's profile, masked, by module.

A customer is known to a client by its opaque `customer_ref` (`Gateway.customer_ref`), never
by ID number. The gateway remembers which client knows which reference (`api_customers`),
written when the client records a consent or an application for the subject: a client reads
the profiles of its own customers only; any other reference is a 404.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, select

from purecredit.api.auth import GatewayDep, scoped
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES, ProfileOut
from purecredit.api.tokens import Claims
from purecredit.core.errors import NotFound
from purecredit.core.masking import mask_phone, mask_resident_id
from purecredit.core.subjects import SubjectKind
from purecredit.profile.features import sections
from purecredit.store.ledger import insert_ignore

router = APIRouter(tags=["customers"], responses=PROBLEM_RESPONSES)
metadata = MetaData()

API_CUSTOMERS = Table(
    "api_customers",
    metadata,
    Column("customer_ref", String(40), primary_key=True),
    Column("client_id", String(40), primary_key=True),
    Column("subject", String(100), nullable=False),  # lake token or USCC: stays in the zone
    Column("kind", String(12), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
)
# Safety net over feature values shown: a resident ID or mobile number never leaves raw.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def remember(connection: Connection, *, ref: str, client_id: str, subject: str, kind: str) -> None:
    """Note, in the caller's transaction, that `client_id` knows the customer `ref`
    (idempotent: a concurrent call that remembered it first changes nothing)."""
    row = {
        "customer_ref": ref,
        "client_id": client_id,
        "subject": subject,
        "kind": kind,
        "first_seen": datetime.now(UTC),
    }
    insert_ignore(connection, API_CUSTOMERS, row)


def known(engine: Engine, *, ref: str, client_id: str) -> tuple[SubjectKind, str]:
    """(kind, subject) of a customer this client knows, or `NotFound`."""
    query = select(API_CUSTOMERS.c.kind, API_CUSTOMERS.c.subject).where(
        API_CUSTOMERS.c.customer_ref == ref, API_CUSTOMERS.c.client_id == client_id
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        raise NotFound("no customer with this reference for this client", field="customer_ref")
    kind: SubjectKind = "enterprise" if row.kind == "enterprise" else "person"
    return kind, str(row.subject)


def knows_subject(engine: Engine, *, subject: str, client_id: str) -> bool:
    query = select(API_CUSTOMERS.c.customer_ref).where(
        API_CUSTOMERS.c.subject == subject, API_CUSTOMERS.c.client_id == client_id
    )
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


@router.get("/v1/customers/{customer_ref}/profile", response_model=ProfileOut)
def profile(
    customer_ref: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("profiles:read"))],
) -> dict[str, Any]:
    """The customer's online profile by module, as `purecredit profile show --json`, without
    the subject: feature values only, any ID- or phone-shaped text masked."""
    kind, subject = known(gw.engine, ref=customer_ref, client_id=claims.client_id)
    current(request).subject = subject
    row = gw.counter.profiles[kind].get(subject)
    if row is None:
        raise NotFound("no profile for this customer", field="customer_ref")
    modules = {
        name: {f.name: _shown(row[column]) for f, column in features}
        for name, _, features in sections(kind)
    }
    current(request).outcome = "read"
    return {"customer_ref": customer_ref, "kind": kind, "as_of": row["as_of"], "modules": modules}


def _shown(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        value = _RESIDENT_ID.sub(lambda m: mask_resident_id(m.group(0)), value)
        return _PHONE.sub(lambda m: mask_phone(m.group(0)), value)
    return value
