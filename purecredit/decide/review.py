"""Manual review: referred decisions wait for a reviewer with the authority they need, and any
applicant may ask for a person to review an automated decision (PIPL art. 24).

A review row is opened with the decision (a refer names the branch level whose authority it
needs) or at the applicant's request. A reviewer acts with their identity and level; one whose
level's manual authority (`authority.can_approve`) does not cover the line and grade is
refused, and nothing changes. Approving grants the line in the unified-limit ledger (raising
the customer's line to the one decided, whatever it has become meanwhile); if the
ledger no longer has room (other lines granted meanwhile) the approval is refused and the
review stays open. Every step is recorded; a review is closed once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Engine, insert, select, update

from purecredit.core.errors import Invalid
from purecredit.decide import exposure, store
from purecredit.decide.authority import can_approve
from purecredit.decide.policy import LEVELS, Policy
from purecredit.store.ledger import transaction

Kind = Literal["refer", "applicant_request"]
REVIEWS = store.REVIEWS


def open_review(
    engine: store.Bind,
    decision_id: str,
    kind: Kind,
    needs_level: str,
    reason: str | None = None,
) -> None:
    """Open the decision's review (in the caller's transaction when given a connection)."""
    if needs_level not in LEVELS:
        raise Invalid(f"unknown branch level {needs_level!r}", field="level")
    with store.writing(engine) as connection:
        found = connection.execute(
            select(REVIEWS.c.status).where(REVIEWS.c.decision_id == decision_id)
        ).first()
        if found is not None:
            raise Invalid(f"decision {decision_id} already has a review", field="decision")
        connection.execute(
            insert(REVIEWS).values(
                decision_id=decision_id,
                kind=kind,
                needs_level=needs_level,
                status="open",
                reason=reason,
                opened_at=datetime.now(UTC),
            )
        )


def request_review(engine: store.Bind, decision_id: str, reason: str) -> None:
    """The applicant asks a person to review an automated decision (PIPL art. 24); in the
    caller's transaction when given a connection."""
    row = store.decision(engine, decision_id)  # NotFound for an unknown decision
    if not reason.strip():
        raise Invalid("say why the review is asked for", field="reason")
    level = row["record"].get("refer_to") or row["inputs"]["application"]["branch_level"]
    open_review(engine, decision_id, "applicant_request", level, reason)


def review_of(engine: Engine, decision_id: str) -> dict[str, Any] | None:
    """The decision's review row, open or closed; None when it has had none."""
    with engine.connect() as connection:
        found = (
            connection.execute(select(REVIEWS).where(REVIEWS.c.decision_id == decision_id))
            .mappings()
            .first()
        )
    return None if found is None else dict(found)


def queue(engine: Engine) -> list[tuple[str, str]]:
    """(decision id, branch) of every open review, oldest first: enough to scope and page
    the queue before reading the decisions' records (a few KiB of JSON each)."""
    query = (
        select(REVIEWS.c.decision_id, store.DECISIONS.c.branch)
        .join(store.DECISIONS, store.DECISIONS.c.decision_id == REVIEWS.c.decision_id)
        .where(REVIEWS.c.status == "open")
        .order_by(REVIEWS.c.opened_at)
    )
    with engine.connect() as connection:
        return [(str(d), str(b)) for d, b in connection.execute(query)]


def open_reviews(
    engine: Engine, level: str | None = None, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Open reviews, oldest first, with what a reviewer needs to see (`only`: of these
    decisions)."""
    query = (
        select(REVIEWS, store.DECISIONS)
        .join(store.DECISIONS, store.DECISIONS.c.decision_id == REVIEWS.c.decision_id)
        .where(REVIEWS.c.status == "open")
        .order_by(REVIEWS.c.opened_at)
    )
    if level is not None:
        query = query.where(REVIEWS.c.needs_level == level)
    if only is not None:
        query = query.where(REVIEWS.c.decision_id.in_(list(only)))
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {
            "decision_id": r["decision_id"],
            "kind": r["kind"],
            "needs_level": r["needs_level"],
            "product": r["product"],
            "branch": r["branch"],
            "outcome": r["outcome"],
            "grade": r["grade"],
            "pd": r["pd"],
            "line": r["line"],
            "reason": r["reason"],
            "reasons": [x["code"] for x in r["record"]["reasons"]],
        }
        for r in rows
    ]


def close(
    engine: Engine,
    policy: Policy,
    decision_id: str,
    *,
    approve: bool,
    reviewer: str,
    level: str,
    note: str = "",
) -> dict[str, Any]:
    """Approve or decline an open review; an approval grants the decision's line."""
    if not reviewer.strip():
        raise Invalid("a review needs the reviewer's identity", field="reviewer")
    if level not in LEVELS:
        raise Invalid(f"unknown branch level {level!r}", field="level")
    row = store.decision(engine, decision_id)
    missing = f"no review of decision {decision_id}"
    review = store.row_by_key(engine, REVIEWS, decision_id, missing, "decision")
    if review["status"] != "open":
        raise Invalid(
            f"the review of {decision_id} is already {review['status']}", field="decision"
        )
    record, application = row["record"], row["inputs"]["application"]
    status = "approved" if approve else "declined"
    if approve:
        if record["grade"] is None or record["line"] <= 0:
            raise Invalid("this decision has no line a reviewer could approve", field="decision")
        if not can_approve(policy, record["product"], level, record["line"], record["grade"]):
            raise Invalid(
                f"a reviewer at {level} level may not approve {record['line']} yuan at grade "
                f"{record['grade']} for {record['product']}",
                field="level",
            )
    # Claim the review first, so that two reviewers can never both act on it; an approval
    # whose grant the ledger refuses reopens it.
    _set(engine, decision_id, "open", status, reviewer=reviewer, reviewer_level=level,
         note=note, closed_at=datetime.now(UTC))  # fmt: skip
    grant: dict[str, Any] | None = None
    increase = int(record["increase"])
    if approve and increase > 0:
        result = exposure.grant(
            engine,
            subject=application["subject"],
            legal_rep=None,
            product=record["product"],
            branch=application["branch"],
            amount=Decimal(increase),
            unified_limit=Decimal(record["unified_limit"]),
            decision_id=decision_id,
            # The line the decision approved, not the increase alone: the review may come
            # long after the decision, when another application has raised the line already;
            # adding the stale increase on top would pass what anyone approved.
            up_to=Decimal(record["line"]),
        )
        if not result.granted:
            _set(engine, decision_id, status, "open", reviewer=None, reviewer_level=None,
                 note=None, closed_at=None)  # fmt: skip
            raise Invalid(
                f"the unified limit no longer has room for this line (available "
                f"{result.available})",
                field="decision",
            )
        grant = result.to_dict()
    return {"decision_id": decision_id, "status": status, "grant": grant}


def _set(engine: Engine, decision_id: str, was: str, now: str, **values: Any) -> None:
    with transaction(engine) as session:
        changed = session.execute(
            update(REVIEWS)
            .where(REVIEWS.c.decision_id == decision_id, REVIEWS.c.status == was)
            .values(status=now, **values)
            .returning(REVIEWS.c.decision_id)
        ).all()
        if len(changed) != 1:
            raise Invalid(f"the review of {decision_id} was acted on meanwhile", field="decision")
