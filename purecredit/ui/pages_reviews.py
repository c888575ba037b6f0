"""The review queue: referred applications and applicants' requests (PIPL art. 24) of the
person's branches, approved or declined within their authority.

An approval beyond the reviewer's level is refused by `decide.review.close` with its reason,
shown on an error page; nothing changes (the review stays open, no line is granted).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from purecredit.core.errors import Forbidden, Invalid
from purecredit.decide import review
from purecredit.decide.authority import can_approve
from purecredit.ui.auth import ConsoleRoute, PostedDep, SignedDep, engine_of
from purecredit.ui.pages_applications import scoped_decision
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


PER_PAGE = 50  # oldest first: a reviewer works the queue from its head


@router.get("/reviews")
def reviews(request: Request, who: SignedDep, p: Annotated[int, Query(ge=1)] = 1) -> Response:
    staff = who.staff
    policy = request.app.state.gateway.counter.policy
    engine = engine_of(request)
    waiting = [d for d, branch in review.queue(engine) if staff.sees(branch)]
    pages = max(1, -(-len(waiting) // PER_PAGE))
    shown = review.open_reviews(engine, only=waiting[(p - 1) * PER_PAGE : p * PER_PAGE])
    for r in shown:
        r["may_approve"] = (
            staff.reviews
            and r["grade"] is not None
            and can_approve(policy, r["product"], str(staff.level), r["line"], r["grade"])
        )
    return page(request, "reviews.html", staff=staff, csrf=who.csrf, reviews=shown,
                waiting=len(waiting), p=p, pages=pages)  # fmt: skip


@router.post("/reviews/{decision_id}")
def close_review(
    request: Request,
    who: PostedDep,
    decision_id: str,
    action: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    staff, engine = who.staff, engine_of(request)
    scoped_decision(engine, staff, decision_id)  # another branch's: not found
    if not staff.reviews or staff.level is None:
        raise Forbidden("只有审批人可以审批 / only a reviewer with an authority level may review")
    if action not in ("approve", "decline"):
        raise Invalid("action is approve or decline", field="action")
    policy = request.app.state.gateway.counter.policy
    review.close(
        engine,
        policy,
        decision_id,
        approve=action == "approve",
        reviewer=staff.username,
        level=staff.level,
        note=note.strip(),
    )
    return RedirectResponse(f"/applications/{decision_id}", status_code=303)
