"""Applications: the list (filtered by outcome), one application's decision, and its reports.

A decision of a branch outside the signed-in person's scope is "not found", exactly as one
that does not exist, so a branch cannot learn of another's customers.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine, select

from purecredit.core.errors import Invalid, NotFound
from purecredit.decide import store
from purecredit.decide.authority import can_approve
from purecredit.decide.review import review_of
from purecredit.lend.tables import loans
from purecredit.ui.accounts import Staff
from purecredit.ui.auth import ConsoleRoute, SignedDep, engine_of
from purecredit.ui.present import masked_profile, masked_subject
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
OUTCOMES = ("approve", "refer", "decline")
REPORT_KINDS = ("pre-loan", "review", "post-loan")
REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
PAGE_SIZE = 200


def scoped_decision(engine: Engine, staff: Staff, decision_id: str) -> dict[str, Any]:
    """The stored decision if the person's scope covers its branch; else `NotFound`."""
    try:
        row = store.decision(engine, decision_id)
    except NotFound:
        row = None
    if row is None or not staff.sees(row["branch"]):
        raise NotFound(f"没有此申请 / no application {decision_id}", field="decision_id")
    return row


@router.get("/applications")
def applications(request: Request, who: SignedDep, outcome: str = "") -> Response:
    d, r = store.DECISIONS, store.REVIEWS
    query = (
        select(
            d.c.decision_id,
            d.c.application_id,
            d.c.product,
            d.c.branch,
            d.c.outcome,
            d.c.grade,
            d.c.line,
            d.c.rate,
            d.c.decided_at,
            r.c.status.label("review"),
        )
        .outerjoin(r, r.c.decision_id == d.c.decision_id)
        .order_by(d.c.decided_at.desc())
        .limit(PAGE_SIZE)
    )
    if outcome in OUTCOMES:
        query = query.where(d.c.outcome == outcome)
    if who.staff.scope is not None:
        query = query.where(d.c.branch.in_(sorted(who.staff.scope)))
    with engine_of(request).connect() as connection:
        rows = connection.execute(query).mappings().all()
    return page(
        request,
        "applications.html",
        staff=who.staff,
        csrf=who.csrf,
        rows=rows,
        outcome=outcome,
        outcomes=OUTCOMES,
    )


@router.get("/applications/{decision_id}")
def application(request: Request, who: SignedDep, decision_id: str) -> Response:
    engine = engine_of(request)
    row = scoped_decision(engine, who.staff, decision_id)
    reviewed = review_of(engine, decision_id)
    record = row["record"]
    may_approve = None
    if reviewed is not None and reviewed["status"] == "open" and who.staff.reviews:
        policy = request.app.state.gateway.counter.policy
        assert who.staff.level is not None
        may_approve = record["grade"] is not None and can_approve(
            policy, record["product"], who.staff.level, record["line"], record["grade"]
        )
    return page(
        request,
        "application.html",
        staff=who.staff,
        csrf=who.csrf,
        row=row,
        record=record,
        application=row["inputs"]["application"],
        subject=masked_subject(row["subject"]),
        profile=masked_profile(row["inputs"].get("profile") or {}),
        review=reviewed,
        may_approve=may_approve,
        kinds=("pre-loan", "review"),
    )


@router.get("/reports/{kind}/{file}")
def report(request: Request, who: SignedDep, kind: str, file: str, lang: str = "zh") -> Response:
    """`/reports/{kind}/{ref}.{html|pdf}?lang=zh|en`: a pre-loan or review report of a
    decision, a post-loan report of a loan; the same branch scope as their pages."""
    ref, _, fmt = file.rpartition(".")
    if kind not in REPORT_KINDS or fmt not in REPORT_TYPES or lang not in ("zh", "en"):
        raise NotFound(f"no report {kind}/{file}", field="report")
    engine = engine_of(request)
    if kind == "post-loan":
        with engine.connect() as connection:
            branch = connection.execute(
                select(loans.c.branch).where(loans.c.loan_id == ref)
            ).scalar()
        if branch is None or not who.staff.sees(branch):
            raise NotFound(f"没有此贷款 / no loan {ref}", field="loan_id")
    else:
        scoped_decision(engine, who.staff, ref)
    try:
        # Imported here: the report stage is optional to the console's other pages.
        reports: Any = importlib.import_module("purecredit.report")
    except ImportError:
        raise Invalid("报告模块尚未安装 / reports are not available in this build") from None
    body: bytes = reports.render(engine, request.app.state.settings, kind, ref, lang, fmt)
    name = f"{kind}-{ref}-{lang}.{fmt}"
    disposition = "attachment" if fmt == "pdf" else "inline"
    return Response(
        body,
        media_type=REPORT_TYPES[fmt],
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )
