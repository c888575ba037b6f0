"""A warning case's workflow, as the officer who visits the borrower works it:

    open -> verifying (the offline visit) -> confirmed | false_alarm
    confirmed -> action (freeze, reduce, recall, restructure or none) -> closed
    false_alarm -> closed

Each step is one ledger transaction that records who did it, when, and the amount it
protected: the undrawn limit frozen, the limit cut, or the principal recalled or recovered
(which the officer reports). Confirming writes the post-loan inspection record the reports
read. A false alarm unfreezes the lines the case's warning froze, since nothing justifies
the freeze any more. A step that does not fit the case's status changes nothing.

Officers see and act on their own branches' cases only (`branches`); a case of another branch
is "not found", so a branch cannot learn that another's borrower is under watch.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, Engine, func, insert, select, update

from purecredit.core.errors import Conflict, Invalid, NotFound
from purecredit.decide import lines
from purecredit.decide.exposure import FROZEN, LIVE, credit_line_events, credit_lines, money_of
from purecredit.lend.tables import ACTIVE, loans
from purecredit.monitor.kinds import KINDS
from purecredit.monitor.run import freeze_lines, step
from purecredit.monitor.tables import (
    OPEN_STATUSES,
    case_steps,
    cases,
    inspections,
    monitor_events,
    monitor_scores,
    warnings,
)
from purecredit.store.ledger import as_utc, run_locked, snapshot

Step = Literal["assign", "verify", "confirm", "dismiss", "act", "close"]
Action = Literal["freeze", "reduce", "recall", "restructure", "none"]
STEPS: tuple[str, ...] = ("assign", "verify", "confirm", "dismiss", "act", "close")
ACTIONS: tuple[str, ...] = ("freeze", "reduce", "recall", "restructure", "none")

# step: (statuses it may start from, the status it leaves; None keeps the status)
_MOVES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "assign": (OPEN_STATUSES, None),
    "verify": (("open",), "verifying"),
    "confirm": (("verifying",), "confirmed"),
    "dismiss": (("open", "verifying"), "false_alarm"),
    "act": (("confirmed",), "action"),
    "close": (("false_alarm", "action"), "closed"),
}


@dataclass(frozen=True)
class Update:
    """One step asked of a case."""

    step: str
    actor: str  # officer:<name>, api:<client>
    day: date
    assignee: str | None = None
    action: str | None = None
    amount: Decimal | None = None  # recall: principal recalled or recovered
    to: Decimal | None = None  # reduce: the lines' new limit
    note: str | None = None

    def check(self) -> None:
        if self.step not in STEPS:
            raise Invalid(f"unknown step {self.step!r}; one of {', '.join(STEPS)}", field="step")
        if self.step == "assign" and not self.assignee:
            raise Invalid("assigning needs an assignee", field="assignee")
        if self.step == "act":
            if self.action not in ACTIONS:
                raise Invalid(f"an action is one of {', '.join(ACTIONS)}", field="action")
            if self.action == "reduce" and (self.to is None or self.to < 0):
                raise Invalid("reducing needs the new limit (to), not negative", field="to")
            if self.action == "recall" and (self.amount is None or self.amount < 0):
                raise Invalid("a recall needs the amount recalled or recovered", field="amount")
        elif self.action is not None:
            raise Invalid("an action belongs to the act step", field="action")


def _case(connection: Connection, case_id: str, branches: Collection[str] | None) -> Any:
    row = connection.execute(select(cases).where(cases.c.case_id == case_id)).first()
    if row is None or (branches is not None and row.branch not in branches):
        raise NotFound(f"no case {case_id!r}", field="case_id")
    return row


def update_case(
    engine: Engine, case_id: str, change: Update, *, branches: Collection[str] | None = None
) -> dict[str, Any]:
    """Apply one step to a case in its own transaction; returns the case as `show_case`."""
    return run_locked(
        engine, lambda connection: update_case_on(connection, case_id, change, branches=branches)
    )


def update_case_on(
    connection: Connection,
    case_id: str,
    change: Update,
    *,
    branches: Collection[str] | None = None,
) -> dict[str, Any]:
    """`update_case` in the caller's write transaction (the API stores its answer to an
    idempotency key in the same one); returns the case as it now stands."""
    change.check()
    case = _case(connection, case_id, branches)
    starts, leaves = _MOVES[change.step]
    if case.status not in starts:
        raise Conflict(f"case {case_id} is {case.status}: cannot {change.step} it", field="status")
    status = leaves or case.status
    now = datetime.now(UTC)
    amount = _effect(connection, case, change)
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if change.step == "assign":
        values["assignee"] = change.assignee
    if change.step in ("confirm", "dismiss"):
        values["finding"] = "confirmed" if change.step == "confirm" else "false_alarm"
    if change.step == "act":
        values["action"] = change.action
    if amount:
        values["protected_amount"] = cases.c.protected_amount + amount
    if status == "closed":
        values["closed_on"] = change.day
    connection.execute(update(cases).where(cases.c.case_id == case_id).values(**values))
    name = change.action if change.step == "act" else change.step
    step(
        connection, case_id, str(name), status, change.actor, change.day, now,
        amount=amount or None, note=change.note,
    )  # fmt: skip
    if change.step == "confirm":
        _inspection(connection, case, change)
    return _show(connection, case_id, branches)


def _effect(connection: Connection, case: Any, change: Update) -> Decimal:
    """What the step does beyond the case itself; the amount it protected."""
    # A line's history names an officer's or the API client's change as the officer's.
    cause = change.actor if change.actor.startswith("officer:") else f"officer:{change.actor}"
    if change.step == "dismiss":
        _unfreeze(connection, case, cause)
        return Decimal(0)
    if change.step != "act":
        return Decimal(0)
    if change.action == "freeze":
        return freeze_lines(connection, case.subject, cause=cause)
    if change.action == "reduce":
        assert change.to is not None
        return _reduce(connection, case.subject, change.to, cause)
    if change.action == "recall":
        assert change.amount is not None
        return money_of(change.amount)
    return Decimal(0)


def _live_lines(connection: Connection, subject: str) -> list[Any]:
    query = select(credit_lines).where(
        credit_lines.c.subject == subject, credit_lines.c.status.in_(LIVE)
    )
    return sorted(connection.execute(query).all(), key=lambda r: r.line_id)


def _reduce(connection: Connection, subject: str, to: Decimal, cause: str) -> Decimal:
    """Each live line of the borrower down to `to`, or to what is drawn where that is more."""
    cut = Decimal(0)
    for line in _live_lines(connection, subject):
        target = max(money_of(to), money_of(line.drawn))
        if target < money_of(line.limit):
            change = lines.reduce_on(connection, line.line_id, target, cause=cause)
            cut += change.limit_before - change.limit
    return cut


def _unfreeze(connection: Connection, case: Any, cause: str) -> None:
    """Unfreeze the lines this case's warnings froze (not a freeze of another cause)."""
    causes = [
        f"warning:{w}"
        for w in connection.execute(
            select(warnings.c.warning_id).where(warnings.c.case_id == case.case_id)
        ).scalars()
    ]
    frozen_here = set(
        connection.execute(
            select(credit_line_events.c.line_id).where(
                credit_line_events.c.cause.in_(causes), credit_line_events.c.event == "frozen"
            )
        ).scalars()
    )
    for line in _live_lines(connection, case.subject):
        if line.status == FROZEN and line.line_id in frozen_here:
            lines.move_on(connection, line.line_id, "unfrozen", cause=cause)


def _inspection(connection: Connection, case: Any, change: Update) -> None:
    """The post-loan inspection record of a confirmed case: what was found, the warnings and
    events behind it, the borrower's loans and rescored grades; derived values only."""
    record = {
        "case": _case_dict(case),
        "warnings": _warnings_of(connection, case.case_id),
        "events": _events_of(connection, case),
        "loans": [
            {
                "loan_id": r.loan_id,
                "principal_outstanding": f"{money_of(r.principal_outstanding):.2f}",
                "dpd": int(r.dpd),
                "category": r.category,
            }
            for r in connection.execute(
                select(loans).where(loans.c.subject == case.subject, loans.c.status == ACTIVE)
            )
        ],
        "scores": [
            {"day": r.day.isoformat(), "pd": round(float(r.pd), 6), "grade": r.grade}
            for r in connection.execute(
                select(monitor_scores)
                .where(monitor_scores.c.subject == case.subject)
                .order_by(monitor_scores.c.day)
            )
        ],
    }
    connection.execute(
        insert(inspections).values(
            inspection_id=f"I{uuid.uuid4().hex[:20]}",
            case_id=case.case_id,
            subject=case.subject,
            branch=case.branch,
            inspected_on=change.day,
            inspector=change.actor,
            finding=change.note or "confirmed on the visit",
            record=record,
        )
    )


def _case_dict(row: Any) -> dict[str, Any]:
    return {
        "case_id": row.case_id,
        "subject": row.subject,
        "branch": row.branch,
        "cause": row.cause,
        "severity": row.severity,
        "status": row.status,
        "opened_on": row.opened_on.isoformat(),
        "assignee": row.assignee,
        "finding": row.finding,
        "action": row.action,
        "protected_amount": f"{money_of(row.protected_amount):.2f}",
        "closed_on": None if row.closed_on is None else row.closed_on.isoformat(),
    }


def _warnings_of(connection: Connection, case_id: str) -> list[dict[str, Any]]:
    query = (
        select(warnings, monitor_events.c.kind, monitor_events.c.hops, monitor_events.c.relation,
               monitor_events.c.valid_from, monitor_events.c.known_at)
        .join(monitor_events, monitor_events.c.event_key == warnings.c.event_key)
        .where(warnings.c.case_id == case_id)
        .order_by(warnings.c.raised_on)
    )  # fmt: skip
    return [
        {
            "warning_id": r.warning_id,
            "rule": r.rule,
            "rules_version": r.rules_version,
            "severity": r.severity,
            "suggested": r.suggested,
            "raised_on": r.raised_on.isoformat(),
            **_event_words(r),
        }
        for r in connection.execute(query)
    ]


def _event_words(r: Any) -> dict[str, Any]:
    zh, en = KINDS[r.kind]
    return {
        "kind": r.kind,
        "kind_zh": zh,
        "kind_en": en,
        "hops": int(r.hops),
        "relation": r.relation,
        "valid_from": r.valid_from.isoformat(),
        "known_at": r.known_at.isoformat(),
    }


def _events_of(connection: Connection, case: Any) -> list[dict[str, Any]]:
    """The borrower's events detected since the case opened (the later ones the open case
    held back from raising again included)."""
    query = (
        select(monitor_events)
        .where(monitor_events.c.subject == case.subject)
        .where(monitor_events.c.detected_on >= case.opened_on)
        .order_by(monitor_events.c.known_at, monitor_events.c.kind)
    )
    return [
        {**_event_words(r), "detected_on": r.detected_on.isoformat()}
        for r in connection.execute(query)
    ]


def show_case(
    engine: Engine, case_id: str, *, branches: Collection[str] | None = None
) -> dict[str, Any]:
    """The case, its warnings, events and steps, and its inspection record if confirmed."""
    with snapshot(engine) as connection:
        return _show(connection, case_id, branches)


def _show(connection: Connection, case_id: str, branches: Collection[str] | None) -> dict[str, Any]:
    case = _case(connection, case_id, branches)
    steps = [
        {
            "at": as_utc(r.at).isoformat(),
            "on_day": r.on_day.isoformat(),
            "actor": r.actor,
            "step": r.step,
            "status": r.status,
            "amount": None if r.amount is None else f"{money_of(r.amount):.2f}",
            "note": r.note,
        }
        for r in connection.execute(
            select(case_steps).where(case_steps.c.case_id == case_id).order_by(case_steps.c.n)
        )
    ]
    inspection = connection.execute(
        select(inspections).where(inspections.c.case_id == case_id)
    ).first()
    return {
        **_case_dict(case),
        "warnings": _warnings_of(connection, case_id),
        "events": _events_of(connection, case),
        "steps": steps,
        "inspection": None
        if inspection is None
        else {
            "inspection_id": inspection.inspection_id,
            "inspected_on": inspection.inspected_on.isoformat(),
            "inspector": inspection.inspector,
            "finding": inspection.finding,
        },
    }


def list_cases(
    engine: Engine,
    *,
    branches: Collection[str] | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Cases newest first, of `branches` (all when None), of one status or `open` (any
    status before closing) when asked."""
    query = select(cases).order_by(cases.c.opened_on.desc(), cases.c.case_id)
    if branches is not None:
        query = query.where(cases.c.branch.in_(sorted(branches)))
    if status == "open":
        query = query.where(cases.c.status.in_(OPEN_STATUSES))
    elif status is not None:
        query = query.where(cases.c.status == status)
    with snapshot(engine) as connection:
        return [_case_dict(r) for r in connection.execute(query.limit(limit).offset(offset))]


def list_warnings(
    engine: Engine,
    *,
    branches: Collection[str] | None = None,
    since: date | None = None,
    severity: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Warnings newest first, with their event in plain words (never the record)."""
    query = (
        select(warnings, monitor_events.c.kind, monitor_events.c.hops, monitor_events.c.relation,
               monitor_events.c.valid_from, monitor_events.c.known_at)
        .join(monitor_events, monitor_events.c.event_key == warnings.c.event_key)
        .order_by(warnings.c.raised_on.desc(), warnings.c.warning_id)
    )  # fmt: skip
    if branches is not None:
        query = query.where(warnings.c.branch.in_(sorted(branches)))
    if since is not None:
        query = query.where(warnings.c.raised_on >= since)
    if severity is not None:
        query = query.where(warnings.c.severity == severity)
    with snapshot(engine) as connection:
        return [
            {
                "warning_id": r.warning_id,
                "subject": r.subject,
                "branch": r.branch,
                "rule": r.rule,
                "rules_version": r.rules_version,
                "severity": r.severity,
                "suggested": r.suggested,
                "raised_on": r.raised_on.isoformat(),
                "case_id": r.case_id,
                **_event_words(r),
            }
            for r in connection.execute(query.limit(limit).offset(offset))
        ]


def open_count(engine: Engine, *, branches: Collection[str] | None = None) -> int:
    query = select(func.count()).select_from(cases).where(cases.c.status.in_(OPEN_STATUSES))
    if branches is not None:
        query = query.where(cases.c.branch.in_(sorted(branches)))
    with snapshot(engine) as connection:
        return int(connection.execute(query).scalar_one())
