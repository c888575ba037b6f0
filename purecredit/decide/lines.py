"""A credit line's life after its grant: frozen (and unfrozen), reduced, expired, closed.

Each change takes the line's group lock (`exposure`), so it is serialised with every grant
and drawdown of the group, and records an event with the status and limit it left and its
cause (``officer:<name>``, ``warning:<id>``, ``decision:<id>``, ``system:<job>``), in the same
transaction: a line's history is complete or the change did not happen.

- Frozen: no drawdown and no increase; the limit still counts against the unified limit
  (unfreezing gives it back), and applying again cannot open a second line beside it.
- Reduced: a lower limit, never below what is drawn (available = limit - drawn).
- Expired, closed: the line no longer counts against the unified limit and takes no
  drawdown; what is drawn is still owed and is repaid as scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from purecredit.core.errors import Conflict, Invalid
from purecredit.decide import exposure
from purecredit.decide.exposure import ACTIVE, CLOSED, EXPIRED, FROZEN, LIVE
from purecredit.store.ledger import run_locked, snapshot

_CAUSE_KINDS = ("officer", "warning", "decision", "system")

# event: (the statuses it may start from, the status it leaves)
_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "frozen": ((ACTIVE,), FROZEN),
    "unfrozen": ((FROZEN,), ACTIVE),
    "expired": (LIVE, EXPIRED),
    "closed": ((ACTIVE, FROZEN, EXPIRED), CLOSED),
}


@dataclass(frozen=True)
class LineChange:
    """What a change did: the line's status and limit before and after (`changed` False when
    the line was already where the change would put it: a repeat is harmless)."""

    line_id: str
    event: str
    changed: bool
    status_before: str
    status: str
    limit_before: Decimal
    limit: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "event": self.event,
            "changed": self.changed,
            "status_before": self.status_before,
            "status": self.status,
            "limit_before": f"{self.limit_before:.2f}",
            "limit": f"{self.limit:.2f}",
        }


def check_cause(cause: str) -> str:
    """``kind:reference`` with a known kind, or `Invalid` naming ``cause``."""
    kind, _, reference = cause.partition(":")
    if kind not in _CAUSE_KINDS or not reference.strip():
        raise Invalid(
            f"cause must be one of {', '.join(k + ':<who>' for k in _CAUSE_KINDS)}", field="cause"
        )
    return cause


def move(engine: Engine, line_id: str, event: str, *, cause: str) -> LineChange:
    """Freeze, unfreeze, expire or close a line (`event` is ``frozen``, ``unfrozen``,
    ``expired`` or ``closed``). A line already in the resulting status is left as it is;
    any other status the event cannot start from is a `Conflict`."""
    if event not in _MOVES:
        raise Invalid(f"no line change {event!r}", field="event")
    check_cause(cause)
    return run_locked(engine, lambda c: move_on(c, line_id, event, cause=cause))


def move_on(connection: Connection, line_id: str, event: str, *, cause: str) -> LineChange:
    """`move` in the caller's open write transaction (e.g. a warning's own)."""
    sources, target = _MOVES[event]
    line = exposure.lock_line(connection, line_id)
    limit = exposure.money_of(line.limit)
    if line.status == target:
        return LineChange(line_id, event, False, line.status, target, limit, limit)
    if line.status not in sources:
        raise Conflict(f"a {line.status} line cannot be {event}", field="status")
    _write(connection, line, event=event, status=target, limit=limit, cause=cause)
    return LineChange(line_id, event, True, line.status, target, limit, limit)


def reduce(engine: Engine, line_id: str, to: Decimal, *, cause: str) -> LineChange:
    """Lower a live line's limit to `to`: never below what is drawn, never a raise (a raise is
    a new decision's grant)."""
    check_cause(cause)
    return run_locked(engine, lambda c: reduce_on(c, line_id, to, cause=cause))


def reduce_on(connection: Connection, line_id: str, to: Decimal, *, cause: str) -> LineChange:
    """`reduce` in the caller's open write transaction."""
    line = exposure.lock_line(connection, line_id)
    before, drawn = exposure.money_of(line.limit), exposure.money_of(line.drawn)
    to = exposure.money_of(to)
    if line.status not in LIVE:
        raise Conflict(f"a {line.status} line cannot be reduced", field="status")
    if to < drawn:
        raise Invalid(f"below the {drawn:.2f} already drawn", field="limit")
    if to > before:
        raise Invalid(
            f"above the line's limit of {before:.2f}: a raise needs a decision", field="limit"
        )
    if to == before:
        return LineChange(line_id, "reduced", False, line.status, line.status, before, to)
    _write(connection, line, event="reduced", status=line.status, limit=to, cause=cause)
    return LineChange(line_id, "reduced", True, line.status, line.status, before, to)


def history(engine: Engine, line_id: str) -> list[dict[str, Any]]:
    """The line's events, oldest first, JSON-ready."""
    events = exposure.credit_line_events
    query = (
        select(events).where(events.c.line_id == line_id).order_by(events.c.at, events.c.event_id)
    )
    with snapshot(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {
            "at": row["at"].isoformat(),
            "event": row["event"],
            "status": row["status"],
            "limit": f"{exposure.money_of(row['limit']):.2f}",
            "cause": row["cause"],
        }
        for row in rows
    ]


def _write(
    connection: Connection, line: Any, *, event: str, status: str, limit: Decimal, cause: str
) -> None:
    now = datetime.now(UTC)
    lines = exposure.credit_lines
    connection.execute(
        update(lines)
        .where(lines.c.line_id == line.line_id)
        .values(status=status, limit=limit, updated_at=now)
    )
    exposure.bump(connection, line.group_id, now)
    exposure.record_event(
        connection, line_id=line.line_id, event=event, status=status, limit=limit,
        cause=cause, at=now,
    )  # fmt: skip
