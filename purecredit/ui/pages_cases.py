"""Warnings and their cases: the lists of the person's branches, one case with its
warnings, events and steps, and its workflow (`monitor.cases`: assign, verify, confirm or
dismiss, act, close), each step recorded as done by ``officer:<username>``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from purecredit.core.errors import Forbidden, Invalid
from purecredit.monitor.cases import (
    ACTIONS,
    Update,
    list_cases,
    list_warnings,
    show_case,
    update_case,
)
from purecredit.ui.auth import ConsoleRoute, PostedDep, SignedDep, engine_of
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
# "open": any status before closing (`list_cases`); "all": every case.
FILTERS = ("open", "verifying", "confirmed", "false_alarm", "action", "closed", "all")
# The steps a case in each status can take next, as `monitor.cases` allows them.
NEXT: dict[str, tuple[str, ...]] = {
    "open": ("assign", "verify", "dismiss"),
    "verifying": ("assign", "confirm", "dismiss"),
    "confirmed": ("assign", "act"),
    "action": ("assign", "close"),
    "false_alarm": ("close",),
    "closed": (),
}


@router.get("/cases")
def cases(request: Request, who: SignedDep, status: str = "open") -> Response:
    engine, scope = engine_of(request), who.staff.scope
    status = status if status in FILTERS else "open"
    found = list_cases(engine, branches=scope, status=None if status == "all" else status)
    warned = list_warnings(engine, branches=scope, limit=50)
    return page(
        request,
        "cases.html",
        staff=who.staff,
        csrf=who.csrf,
        cases=found,
        warnings=warned,
        shown_status=status,
        filters=FILTERS,
    )


@router.get("/cases/{case_id}")
def case(request: Request, who: SignedDep, case_id: str) -> Response:
    shown = show_case(engine_of(request), case_id, branches=who.staff.scope)
    return page(
        request,
        "case.html",
        staff=who.staff,
        csrf=who.csrf,
        case=shown,
        next=NEXT.get(shown["status"], ()),
        actions=ACTIONS,
    )


@router.post("/cases/{case_id}")
def case_step(
    request: Request,
    who: PostedDep,
    case_id: str,
    step: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    staff = who.staff
    engine = engine_of(request)
    show_case(engine, case_id, branches=staff.scope)  # another branch's: not found
    if not staff.works_cases:
        raise Forbidden("只有客户经理和风险经理处理预警 / only officers and risk managers do")
    change = Update(
        step=step,
        actor=f"officer:{staff.username}",
        day=datetime.now(UTC).date(),
        assignee=assignee.strip() or None,
        action=action or None if step == "act" else None,
        amount=_money(amount, "amount"),
        to=_money(to, "to"),
        note=note.strip() or None,
    )
    update_case(engine, case_id, change, branches=staff.scope)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _money(text: str, field: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise Invalid(f"{field} is an amount in yuan", field=field) from None
