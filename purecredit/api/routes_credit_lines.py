"""`GET /v1/credit-lines/{line_id}` and `POST /v1/credit-lines/{line_id}/drawdowns`.

A client sees the lines of its own customers only (those it recorded a consent or an
application for): any other line is a 404. A branch client acts only for its branches: it
reads lines booked at them and draws at them (403 otherwise). A drawdown opens a loan with
its schedule and journal entry (`lend.book.draw`), at the rate of the decision that granted
the line, never one the client names. A drawdown the ledger refuses (line closed, or beyond
its limit) is a 409 that says how much is available; nothing changed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection, Engine, select

from purecredit.api import idempotency, routes_customers
from purecredit.api.auth import Gateway, GatewayDep, scoped, signed
from purecredit.api.calls import current
from purecredit.api.routes_loans import BusinessDay
from purecredit.api.schemas import PROBLEM_RESPONSES, CreditLineOut, DrawdownIn, DrawdownOut
from purecredit.api.tokens import Claims, require_branch
from purecredit.core.errors import Conflict, NotFound
from purecredit.decide import exposure, store
from purecredit.lend import book

router = APIRouter(tags=["credit lines"], responses=PROBLEM_RESPONSES)
_LINES = exposure.credit_lines
DEFAULT_TERM_MONTHS = 12  # for a line whose decision named no term


def _line(gw: Gateway, claims: Claims, line_id: str, request: Request) -> dict[str, Any]:
    with gw.engine.connect() as connection:
        row = connection.execute(select(_LINES).where(_LINES.c.line_id == line_id)).mappings()
        line = row.first()
    engine: Engine = gw.engine
    if line is None or not routes_customers.knows_subject(
        engine, subject=line["subject"], client_id=claims.client_id
    ):
        raise NotFound("no credit line with this id for this client", field="line_id")
    current(request).subject = line["subject"]
    require_branch(claims, line["branch"])
    return dict(line)


@router.get("/v1/credit-lines/{line_id}", response_model=CreditLineOut)
def read(
    line_id: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("credit-lines:read"))],
) -> dict[str, Any]:
    """A line's limit, drawn amount, what is left to draw, and its status."""
    line = _line(gw, claims, line_id, request)
    limit, drawn = Decimal(str(line["limit"])), Decimal(str(line["drawn"]))
    current(request).outcome = "read"
    return {
        "line_id": line_id,
        "customer_ref": gw.customer_ref(line["subject"]),
        "product": line["product"],
        "branch": line["branch"],
        "limit": str(limit.quantize(exposure.CENT)),
        "drawn": str(drawn.quantize(exposure.CENT)),
        "available": str(max(limit - drawn, Decimal(0)).quantize(exposure.CENT)),
        "status": line["status"],
    }


def _pricing(gw: Gateway, line: dict[str, Any]) -> tuple[Decimal, int]:
    """The line's annual rate and term: those of the decision that granted it (or last
    raised it). A line without a priced decision cannot be drawn on through the gateway."""
    decision_id = line["decision_id"]
    record = store.decision(gw.engine, decision_id)["record"] if decision_id else {}
    if record.get("rate") is None:
        raise Conflict("this line has no priced decision to draw at", field="line_id")
    # The decision's rate is a float rounded to 0.0001 (`pricing`): its repr is exact.
    return Decimal(repr(record["rate"])), int(record.get("term_months") or DEFAULT_TERM_MONTHS)


@router.post(
    "/v1/credit-lines/{line_id}/drawdowns",
    status_code=201,
    response_model=DrawdownOut,
    responses=idempotency.RESPONSES,
)
def draw(
    line_id: str,
    body: DrawdownIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("credit-lines:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
    on: BusinessDay,
) -> Response:
    """Draw on a line at a branch, within the line's limit (checked under the group lock),
    and open the loan: its schedule by `method` over `term_months` at the line's rate, dated
    today (the business day, UTC+8), and its journal entry.

    A retry with the same `Idempotency-Key` and body answers the first drawdown byte for byte
    (``Idempotent-Replayed: true``) and draws nothing more. A refused drawdown (409) stores no
    answer: its retry is judged afresh. Terms the book refuses (seasonal without harvest
    months, harvest months with another method) are a 422 naming the field."""
    line = _line(gw, claims, line_id, request)
    require_branch(claims, body.branch)
    rate, term = _pricing(gw, line)

    def work(connection: Connection) -> idempotency.Answer:
        opened = book.draw(
            connection,
            line_id=line_id,
            amount=Decimal(body.amount),
            branch=body.branch,
            term_months=body.term_months or term,
            method=body.method,
            annual_rate=rate,
            harvest_months=tuple(body.harvest_months or ()),
            on=on,
        )
        result = opened.draw
        if opened.loan_id is None:
            current(request).outcome = result.reason or "refused"
            field = "line_id" if (result.reason or "").startswith("line_") else "amount"
            raise Conflict(
                f"drawdown refused ({result.reason}); available: {result.to_dict()['available']}",
                field=field,
            )
        shown = result.to_dict() | {"loan_id": opened.loan_id}
        return idempotency.answer(201, DrawdownOut, shown)

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    current(request).outcome = "replayed" if done.replayed else "drawn"
    return done.response()
