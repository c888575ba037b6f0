"""`GET /v1/loans/{loan_id}` and `POST /v1/loans/{loan_id}/repayments`: the loans that
drawdowns open (`POST /v1/credit-lines/{line_id}/drawdowns`), through `purecredit.lend.book`.

A loan is seen as its line is (`routes_credit_lines`): only by a client that knows the
borrower (it recorded a consent or an application for them), else a 404; a branch client
only for loans booked at its branches (403). Events are dated by the bank's business day
(`business_day`, UTC+8), and the book refuses them while an end of day is unfinished or once
the day's end of day is done (409).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection, select

from purecredit.api import idempotency, routes_customers
from purecredit.api.auth import Gateway, GatewayDep, scoped, signed
from purecredit.api.calls import current
from purecredit.api.schemas import PROBLEM_RESPONSES, LoanOut, RepaymentIn, RepaymentOut
from purecredit.api.tokens import Claims, require_branch
from purecredit.core.errors import Conflict, NotFound
from purecredit.decide.exposure import CENT
from purecredit.lend import book, tables
from purecredit.lend.allocation import Bucket, Prepaid

router = APIRouter(tags=["loans"], responses=PROBLEM_RESPONSES)
BEIJING = timezone(timedelta(hours=8), "UTC+8")
_RATE = Decimal("0.000001")  # tables.RATE's scale


def business_day() -> date:
    """A dependency: the bank's business day, the date in China (UTC+8) now. Tests override
    it (`app.dependency_overrides`) to date events as an end of day needs them."""
    return datetime.now(UTC).astimezone(BEIJING).date()


BusinessDay = Annotated[date, Depends(business_day)]


def money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(CENT))


def _loan(gw: Gateway, claims: Claims, loan_id: str, request: Request) -> book.LoanView:
    """This client's loan, or `NotFound`; `Forbidden` at another client's branch."""
    missing = NotFound("no loan with this id for this client", field="loan_id")
    try:
        view = book.loan(gw.engine, loan_id)
    except NotFound:
        raise missing from None
    subject = view.fields["subject"]
    if not routes_customers.knows_subject(gw.engine, subject=subject, client_id=claims.client_id):
        raise missing
    current(request).subject = subject
    require_branch(claims, view.fields["branch"])
    return view


@router.get("/v1/loans/{loan_id}", response_model=LoanOut)
def read(
    loan_id: str,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(scoped("credit-lines:read"))],
    on: BusinessDay,
) -> dict[str, Any]:
    """A loan's terms, status, outstanding principal, days past due and category (as the
    last end of day left them, less any payment since), today's payoff amount, and its
    schedule with amounts paid."""
    view = _loan(gw, claims, loan_id, request)
    row, state = view.fields, view.state
    current(request).outcome = "read"
    try:
        quote: dict[str, Any] | None = book.payoff_quote(gw.engine, loan_id, on).to_dict()
    except Conflict:  # closed, or today cannot take a payment (yet)
        quote = None
    return {
        "loan_id": loan_id,
        "line_id": row["line_id"],
        "customer_ref": gw.customer_ref(row["subject"]),
        "product": row["product"],
        "branch": row["branch"],
        "amount": money(row["amount"]),
        "start": row["start"],
        "term_months": row["term_months"],
        "annual_rate": str(Decimal(str(row["annual_rate"])).quantize(_RATE)),
        "method": row["method"],
        "harvest_months": list(state.drawdown.harvest_months),
        "status": row["status"],
        "principal_outstanding": money(row["principal_outstanding"]),
        "dpd": row["dpd"],
        "category": row["category"],
        "closed_on": row["closed_on"],
        "payoff": quote,
        "schedule": [
            {
                "number": due.number,
                "period_start": due.period_start,
                "due_date": due.due_date,
                "principal": money(due.principal),
                "interest": money(due.interest),
                "principal_paid": money(state.principal_paid[k]),
                "interest_paid": money(state.interest_paid[k]),
            }
            for k, due in enumerate(state.schedule)
        ],
    }


@router.post(
    "/v1/loans/{loan_id}/repayments",
    status_code=201,
    response_model=RepaymentOut,
    responses=idempotency.RESPONSES,
)
def repay(
    loan_id: str,
    body: RepaymentIn,
    request: Request,
    gw: GatewayDep,
    claims: Annotated[Claims, Depends(signed("credit-lines:write"))],
    asked: Annotated[idempotency.Asked, Depends(idempotency.asked)],
    on: BusinessDay,
) -> Response:
    """Take a payment made today: penalty, overdue interest, overdue principal, current
    interest, current principal, in that order (`lend.book.repay`); beyond what is due, the
    interest accrued to date and then principal (an early repayment: the instalments ahead
    are rebuilt lower, same dates), or the whole loan when the payment covers the payoff
    (`payoff` in GET /v1/loans/{id}); only what exceeds the payoff is held as `unapplied`.
    The line is freed by the principal repaid. A settled loan, an unfinished end of day, or
    a loan whose end of day is not done through yesterday is a 409; a retry with the same
    `Idempotency-Key` answers the first repayment and pays nothing more."""
    _loan(gw, claims, loan_id, request)

    def work(connection: Connection) -> idempotency.Answer:
        repaid = book.repay(connection, loan_id=loan_id, amount=Decimal(body.amount), on=on)
        left = connection.execute(
            select(tables.loans.c.principal_outstanding).where(tables.loans.c.loan_id == loan_id)
        ).scalar_one()
        allocation = repaid.allocation
        shown = {
            "repayment_id": repaid.repayment_id,
            "loan_id": loan_id,
            "paid_on": on,
            "amount": money(allocation.payment),
            "allocation": {part.value: money(allocation.of(part)) for part in (*Bucket, *Prepaid)},
            "unapplied": money(allocation.unapplied),
            "principal_outstanding": money(left),
            "status": repaid.status,
        }
        return idempotency.answer(201, RepaymentOut, shown)

    done = idempotency.serve(gw.engine, asked, client_id=claims.client_id, work=work)
    current(request).outcome = "replayed" if done.replayed else "repaid"
    return done.response()
