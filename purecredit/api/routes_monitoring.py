"""Post-loan monitoring through the gateway: `GET /v1/warnings`, `GET /v1/cases`,
`GET /v1/cases/{case_id}` and `POST /v1/cases/{case_id}/steps` (`purecredit.monitor.cases`).

The daily batch raises the warnings and opens the cases; a branch system or the risk console
reads them and records the officer's steps. A branch client sees and works only its branches'
warnings and cases (another branch's case is a 404, so a branch cannot learn that another's
borrower is under watch); a client without branches sees all, as everywhere in the gateway.
Cases are not limited to the client's own customers (as lines and loans are): the batch
watches every borrower, whichever channel applied. A borrower is shown by `customer_ref`,
never by the lake's token.

A step is signed and needs an `Idempotency-Key`, as every POST under /v1: the step and the
key's answer commit in one transaction (`cases.update_case_on`), so a retry replays the
first answer and never takes a second step.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import Connection

from purecredit.api import idempotency
from purecredit.api.auth import Gateway, GatewayDep, scoped, signed
from purecredit.api.calls import current
from purecredit.api.routes_loans import BusinessDay
from purecredit.api.schemas import (
    PROBLEM_RESPONSES,
    CaseDetailOut,
    CaseOut,
    CaseStatus,
    CaseStepIn,
    Severity,
    WarningOut,
)
from purecredit.api.tokens import Claims
from purecredit.monitor import cases

router = APIRouter(tags=["monitoring"], responses=PROBLEM_RESPONSES)
MAX_PAGE = 500

CaseId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,40}$", description="The case's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="At most this many.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many first.")]


def _branches(claims: Claims) -> Collection[str] | None:
    """The branches a client may see: its own, or all (None) for a client without any."""
    return claims.branches or None


def _shown(gw: Gateway, found: dict[str, Any]) -> dict[str, Any]:
    """A case or warning as it leaves the data zone: the borrower's token replaced by their
    opaque reference."""
    shown = {k: v for k, v in found.items() if k != "subject"}
    return shown | {"customer_ref": gw.customer_ref(found["subject"])}


@router.get("/v1/warnings", response_model=list[WarningOut])
def warnings(
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("monitoring:read"))],
    since: Annotated[date | None, Query(description="Raised on or after this day.")] = None,
    severity: Severity | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Warnings newest first, each with its event in plain words and the case it opened or
    joined."""
    found = cases.list_warnings(
        gw.engine, branches=_branches(claims), since=since, severity=severity,
        limit=limit, offset=offset,
    )  # fmt: skip
    current(request).outcome = "listed"
    return [_shown(gw, w) for w in found]


@router.get("/v1/cases", response_model=list[CaseOut])
def list_cases(
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("monitoring:read"))],
    status: Annotated[
        CaseStatus | None, Query(description="One status; `open`: any before closing.")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Cases newest first."""
    found = cases.list_cases(
        gw.engine, branches=_branches(claims), status=status, limit=limit, offset=offset
    )
    current(request).outcome = "listed"
    return [_shown(gw, c) for c in found]


@router.get("/v1/cases/{case_id}", response_model=CaseDetailOut)
def read(
    case_id: CaseId,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("monitoring:read"))],
) -> dict[str, Any]:
    """A case, its warnings and events, every step, and its inspection once confirmed."""
    found = cases.show_case(gw.engine, case_id, branches=_branches(claims))
    current(request).subject = found["subject"]
    current(request).outcome = "read"
    return _shown(gw, found)


@router.post(
    "/v1/cases/{case_id}/steps", response_model=CaseDetailOut, responses=idempotency.RESPONSES
)
def take_step(
    case_id: CaseId,
    body: CaseStepIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("monitoring:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
    on: BusinessDay,
) -> Response:
    """Record one step of the case, by this client (`api:<client_id>`), dated today (the
    business day, UTC+8): `assign` (with `assignee`), `verify`, `confirm` (writes the
    post-loan inspection, `note` its finding), `dismiss` (a false alarm: unfreezes the lines
    the warning froze), `act` (with `action`; `to` for reduce, `amount` for recall) and
    `close`. A step that does not fit the case's status is a 409 naming `status` and changes
    nothing. Answers the case as `GET /v1/cases/{case_id}` does; a retry with the same
    `Idempotency-Key` and body replays the first answer and takes no second step."""
    change = cases.Update(
        step=body.step,
        actor=f"api:{claims.client_id}",
        day=on,
        assignee=body.assignee,
        action=body.action,
        amount=None if body.amount is None else Decimal(body.amount),
        to=None if body.to is None else Decimal(body.to),
        note=body.note,
    )

    def work(connection: Connection) -> idempotency.Answer:
        found = cases.update_case_on(connection, case_id, change, branches=_branches(claims))
        current(request).subject = found["subject"]
        return idempotency.answer(200, CaseDetailOut, _shown(gw, found))

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    current(request).outcome = "replayed" if done.replayed else f"case_{body.step}"
    return done.response()
