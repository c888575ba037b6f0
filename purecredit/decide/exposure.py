"""One unified credit limit per customer, across products and branches.

A customer has one total limit; an enterprise and its legal representative share it as a
*group*. Every line granted to a member of the group, for any product at any branch, counts
against the group's unified limit, and every drawdown against its line's limit. Granting and
drawing check and reserve inside one ledger transaction that first takes the group's lock, so
concurrent requests at different branches are serialised per group and can never exceed it:

- PostgreSQL: ``SELECT ... FOR UPDATE`` on the group row(s), in group-id order (no deadlock
  between two requests that touch two groups), in a READ COMMITTED transaction: every
  statement after the lock sees what the previous lock holder committed. A request that
  loses a deadlock or serialisation race anyway is retried whole (it changed nothing).
- SQLite: ``BEGIN IMMEDIATE``, i.e. the database's write lock is taken *before* anything is
  read. pysqlite would otherwise begin a transaction only at the first write, so a request
  would read limits outside any transaction and a concurrent writer could slip in between the
  read and the write (a lost update), or fail with "database is locked" when upgrading a read
  transaction. The connection is switched to driver autocommit for the unit of work (SQLAlchemy
  restores the pool's default when it is returned) and the transaction is begun, committed and
  rolled back explicitly. Writers queue on the busy timeout that `make_engine` sets (30 s).

Groups: a person's group is their own (``g:<subject>``) unless they already belong to one; an
enterprise with a known legal representative joins the representative's group (created if
missing), taking its lines along if it was in another group; without one it has its own.

A grant for a product in which the subject already has an active line is an *increase* of
that line by `amount` (never a parallel line); otherwise it opens a line of `amount`. A
decision computes its increase from the standing it read *before* the lock, so two concurrent
applications that both saw "no line" would otherwise both add their increase to one line,
leaving a line larger than any decision approved (and beyond the authority that approved it).
A caller that decided on a target line passes it as `up_to`: the grant then raises the line
*to* `up_to` under the lock, adding only what it lacks now (nothing if a concurrent grant got
there first), and never cuts it. The
assessment that comes with the grant sets the group's unified limit (the latest assessment
governs). If the group's active line limits would then exceed it, the grant is refused with
the amount still available, and nothing at all is changed (the transaction is rolled back).

Money is `Decimal` with two places everywhere (columns ``Numeric(18, 2)``; sums are taken in
Python over Decimals, never in floating point). `exposure` and the results' `to_dict` give
money as strings with two decimals (``"12345.00"``), exact and JSON-friendly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    select,
    update,
)
from sqlalchemy import insert as sa_insert

from purecredit.core.errors import Invalid, NotFound
from purecredit.store.ledger import Refused, Retry, insert_ignore, run_locked, snapshot

CENT = Decimal("0.01")
MONEY = Numeric(18, 2, asdecimal=True)
ACTIVE = "active"
FROZEN = "frozen"  # kept against the unified limit, but no drawdown and no increase
EXPIRED = "expired"
CLOSED = "closed"
LIVE = (ACTIVE, FROZEN)  # the statuses whose limits count against the unified limit

metadata = MetaData()

credit_groups = Table(
    "credit_groups",
    metadata,
    Column("group_id", String(120), primary_key=True),
    Column("unified_limit", MONEY, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

credit_group_members = Table(
    "credit_group_members",
    metadata,
    Column("subject", String(100), primary_key=True),
    Column("group_id", String(120), ForeignKey("credit_groups.group_id"), nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
)

credit_lines = Table(
    "credit_lines",
    metadata,
    Column("line_id", String(40), primary_key=True),
    Column("group_id", String(120), ForeignKey("credit_groups.group_id"), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("product", String(40), nullable=False),
    Column("branch", String(40), nullable=False),
    Column("limit", MONEY, nullable=False),
    Column("drawn", MONEY, nullable=False),
    Column("status", String(10), nullable=False),
    Column("decision_id", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_credit_lines_group", "group_id"),
)
# At most one live line per (subject, product): a second grant is an increase, and a frozen
# line cannot be sidestepped by applying again.
Index(
    "uq_credit_lines_live",
    credit_lines.c.subject,
    credit_lines.c.product,
    unique=True,
    sqlite_where=credit_lines.c.status.in_(LIVE),
    postgresql_where=credit_lines.c.status.in_(LIVE),
)

# Every change of a line (granted, increased, frozen, unfrozen, reduced, expired, closed) with
# the status and limit it left and who or what caused it: ``decision:<id>``,
# ``warning:<id>``, ``officer:<name>`` or ``system:<job>``.
credit_line_events = Table(
    "credit_line_events",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("line_id", String(40), ForeignKey("credit_lines.line_id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("limit", MONEY, nullable=False),
    Column("cause", String(140), nullable=False),
    Index("ix_credit_line_events_line", "line_id", "at"),
)

drawdowns = Table(
    "drawdowns",
    metadata,
    Column("drawdown_id", String(40), primary_key=True),
    Column("line_id", String(40), ForeignKey("credit_lines.line_id"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("branch", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_drawdowns_line", "line_id"),
)


def create_tables(engine: Engine) -> None:
    """Create this module's tables (and indexes) if they do not exist yet."""
    metadata.create_all(engine)


# ----------------------------------------------------------------------------- results


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


@dataclass(frozen=True)
class GrantResult:
    """The definite answer to a grant: granted, or refused (then nothing changed).

    `amount` is what was asked (and, if granted, added); `line_limit` the line's limit after
    the grant (None when refused and no line exists); `group_granted` the group's active line
    limits after the grant (as they stand, when refused); `available` the unified limit minus
    `group_granted`. `reason` is None when granted, else ``"exceeds_unified_limit"``."""

    granted: bool
    group_id: str
    line_id: str | None
    increase: bool
    amount: Decimal
    line_limit: Decimal | None
    unified_limit: Decimal
    group_granted: Decimal
    available: Decimal
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "group": self.group_id,
            "line_id": self.line_id,
            "increase": self.increase,
            "amount": _money(self.amount),
            "line_limit": None if self.line_limit is None else _money(self.line_limit),
            "unified_limit": _money(self.unified_limit),
            "group_granted": _money(self.group_granted),
            "available": _money(self.available),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DrawResult:
    """The definite answer to a drawdown: drawn, or refused (then nothing changed).

    `available` is the line's undrawn limit after the drawdown (as it stands, when refused).
    `reason` is None when drawn, else ``"exceeds_line_limit"`` or ``"line_<status>"`` (a
    frozen, expired or closed line)."""

    drawn: bool
    line_id: str
    drawdown_id: str | None
    amount: Decimal
    line_limit: Decimal
    line_drawn: Decimal
    available: Decimal
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "drawn": self.drawn,
            "line_id": self.line_id,
            "drawdown_id": self.drawdown_id,
            "amount": _money(self.amount),
            "line_limit": _money(self.line_limit),
            "line_drawn": _money(self.line_drawn),
            "available": _money(self.available),
            "reason": self.reason,
        }


# ----------------------------------------------------------------------------- validation


def _amount(value: Decimal | int, field: str, *, positive: bool = True) -> Decimal:
    """A money amount as an exact Decimal of whole cents; floats are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise Invalid("a money amount must be a Decimal (or an int), never a float", field=field)
    try:
        amount = Decimal(value)
        exact = amount == amount.quantize(CENT)
    except InvalidOperation as exc:
        raise Invalid("a money amount must be a finite number", field=field) from exc
    if not amount.is_finite() or not exact:
        raise Invalid("a money amount must be a finite number of whole cents", field=field)
    if amount < 0 or (positive and amount == 0):
        raise Invalid(f"a money amount must be {'positive' if positive else '>= 0'}", field=field)
    if amount >= Decimal("1e16"):
        raise Invalid("a money amount must be under 10^16 yuan", field=field)
    return amount.quantize(CENT)


def _text(value: str | None, field: str, size: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > size:
        raise Invalid(f"must be a non-empty string of at most {size} characters", field=field)
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def money_of(value: Any) -> Decimal:
    """A Decimal of whole cents from a column value (SQLite hands NUMERIC back via float)."""
    return Decimal(0).quantize(CENT) if value is None else Decimal(str(value)).quantize(CENT)


# ----------------------------------------------------------------------------- locking


def _lock_groups(connection: Connection, group_ids: set[str]) -> dict[str, Decimal]:
    """Lock the group rows in id order (SQLite: already holds the write lock); their limits."""
    rows = connection.execute(
        select(credit_groups.c.group_id, credit_groups.c.unified_limit)
        .where(credit_groups.c.group_id.in_(sorted(group_ids)))
        .order_by(credit_groups.c.group_id)
        .with_for_update()
    ).all()
    return {row.group_id: money_of(row.unified_limit) for row in rows}


def _member_group(connection: Connection, subject: str) -> str | None:
    return connection.execute(
        select(credit_group_members.c.group_id).where(credit_group_members.c.subject == subject)
    ).scalar_one_or_none()


def _own_group_id(subject: str) -> str:
    return f"g:{subject}"


def group_of(connection: Connection, subject: str, legal_rep: str | None = None) -> str:
    """The group `subject` belongs to (or would join), without changing anything: with a known
    legal representative, the representative's group; else the subject's own (or current)."""
    anchor = legal_rep if legal_rep and legal_rep != subject else subject
    return _member_group(connection, anchor) or _own_group_id(anchor)


def ensure_group(connection: Connection, group_id: str, unified_limit: Decimal) -> None:
    """Create the group row if missing (a new group starts at `unified_limit`, version 0)."""
    insert_ignore(
        connection,
        credit_groups,
        {
            "group_id": group_id,
            "unified_limit": unified_limit,
            "updated_at": _now(),
            "version": 0,
        },
    )


def join(connection: Connection, subject: str, group_id: str) -> None:
    """Make `subject` a member of `group_id`, moving its lines along from any other group.

    Call it with both groups locked (`grant` does), in the transaction of the grant."""
    current = _member_group(connection, subject)
    if current == group_id:
        return
    now = _now()
    if current is None:
        insert_ignore(
            connection,
            credit_group_members,
            {"subject": subject, "group_id": group_id, "joined_at": now},
        )
        # Two first requests for one subject may put it in different groups: the one that
        # lost the race starts again (and then locks the group the subject is in).
        if _member_group(connection, subject) != group_id:
            raise Retry
        return
    connection.execute(
        update(credit_group_members)
        .where(credit_group_members.c.subject == subject)
        .values(group_id=group_id, joined_at=now)
    )
    connection.execute(
        update(credit_lines)
        .where(credit_lines.c.subject == subject)
        .values(group_id=group_id, updated_at=now)
    )
    bump(connection, current, now)


def bump(connection: Connection, group_id: str, now: datetime, **values: Any) -> None:
    connection.execute(
        update(credit_groups)
        .where(credit_groups.c.group_id == group_id)
        .values(version=credit_groups.c.version + 1, updated_at=now, **values)
    )


def _live_lines(connection: Connection, group_id: str) -> list[Any]:
    return list(
        connection.execute(
            select(credit_lines).where(
                credit_lines.c.group_id == group_id, credit_lines.c.status.in_(LIVE)
            )
        ).all()
    )


def record_event(
    connection: Connection,
    *,
    line_id: str,
    event: str,
    status: str,
    limit: Decimal,
    cause: str,
    at: datetime,
) -> None:
    """One change of a line, in the caller's transaction (the change's own)."""
    connection.execute(
        sa_insert(credit_line_events).values(
            event_id=f"E{uuid.uuid4().hex}",
            line_id=line_id,
            at=at,
            event=event,
            status=status,
            limit=limit,
            cause=_text(cause, "cause", 140),
        )
    )


# ----------------------------------------------------------------------------- grant / draw


def grant(
    engine: Engine,
    *,
    subject: str,
    legal_rep: str | None,
    product: str,
    branch: str,
    amount: Decimal,
    unified_limit: Decimal,
    decision_id: str | None,
    up_to: Decimal | None = None,
) -> GrantResult:
    """Grant `amount` more credit to `subject` for `product` at `branch`, within the group's
    unified limit, in one locking ledger transaction (see the module docstring).

    The group is resolved (and created / joined) first; its unified limit is set to
    `unified_limit`; an existing active line for `(subject, product)` is increased by
    `amount`, else a line of `amount` is opened. With `up_to` (the line the decision approved,
    `amount` being what it expected to add), the line is instead raised to `up_to` as it
    stands under the lock: what is added is `up_to` less the current line (`amount` unless a
    concurrent grant raised the line meanwhile), nothing when the line already reaches it;
    the result's `amount` is what was added. Refused, with nothing changed, if the group's
    active line limits would exceed the unified limit. Raises `Invalid` for bad input."""
    ask = _Ask.of(subject, legal_rep, product, branch, amount, unified_limit, decision_id, up_to)
    return run_locked(engine, lambda connection: _grant(connection, ask))


def grant_on(
    connection: Connection,
    *,
    subject: str,
    legal_rep: str | None,
    product: str,
    branch: str,
    amount: Decimal,
    unified_limit: Decimal,
    decision_id: str | None,
    up_to: Decimal | None = None,
) -> GrantResult:
    """`grant` inside the caller's open write transaction (see `run_locked`), so that the
    grant commits or rolls back with the caller's other writes (a decision, its stored answer).

    The group lock is taken here as in `grant` (PostgreSQL: FOR UPDATE; SQLite: the caller's
    transaction must be ``BEGIN IMMEDIATE``, as `write_transaction` begins it). A refusal
    rolls back only the grant's own writes (a savepoint) and returns the refused result, so
    the caller may still record that it was refused. `Retry` and deadlocks propagate: the
    caller's `run_locked` starts the whole unit again."""
    ask = _Ask.of(subject, legal_rep, product, branch, amount, unified_limit, decision_id, up_to)
    try:
        with connection.begin_nested():
            return _grant(connection, ask)
    except Refused as refused:
        result: GrantResult = refused.result
        return result


@dataclass(frozen=True)
class _Ask:
    """A grant's arguments, checked (`Invalid` for bad input)."""

    subject: str
    rep: str | None
    product: str
    branch: str
    amount: Decimal
    unified_limit: Decimal
    decision: str | None
    target_line: Decimal | None

    @classmethod
    def of(
        cls,
        subject: str,
        legal_rep: str | None,
        product: str,
        branch: str,
        amount: Decimal,
        unified_limit: Decimal,
        decision_id: str | None,
        up_to: Decimal | None,
    ) -> _Ask:
        subject = _text(subject, "subject", 100)
        rep = (
            None
            if legal_rep is None or legal_rep == subject
            else _text(legal_rep, "legal_rep", 100)
        )
        product = _text(product, "product", 40)
        branch = _text(branch, "branch", 40)
        amount = _amount(amount, "amount")
        unified_limit = _amount(unified_limit, "unified_limit", positive=False)
        decision = None if decision_id is None else _text(decision_id, "decision_id", 100)
        target_line = None if up_to is None else _amount(up_to, "up_to")
        return cls(subject, rep, product, branch, amount, unified_limit, decision, target_line)


def _grant(connection: Connection, ask: _Ask) -> GrantResult:
    """The grant's unit of work; raises `Refused` (to be rolled back) or `Retry`."""
    subject, rep, product, branch = ask.subject, ask.rep, ask.product, ask.branch
    amount, unified_limit = ask.amount, ask.unified_limit
    decision, target_line = ask.decision, ask.target_line
    target = group_of(connection, subject, rep)
    current = _member_group(connection, subject)
    ensure_group(connection, target, unified_limit)
    locked = {target} | ({current} if current else set())
    _lock_groups(connection, locked)
    # Membership only changes under the lock of the group left: check nothing moved
    # between the unlocked reads above and the lock.
    if group_of(connection, subject, rep) != target or (
        _member_group(connection, subject) != current
    ):
        raise Retry
    now = _now()
    if rep is not None:
        join(connection, rep, target)
    join(connection, subject, target)
    bump(connection, target, now, unified_limit=unified_limit)

    lines = _live_lines(connection, target)
    granted_before = sum((money_of(line.limit) for line in lines), Decimal("0.00"))
    existing = next((ln for ln in lines if ln.subject == subject and ln.product == product), None)
    adding = amount
    if target_line is not None:
        # Relative to the line as it stands now, under the lock, not as the decision saw
        # it: a concurrent grant may already have raised it (see the module docstring).
        held = Decimal("0.00") if existing is None else money_of(existing.limit)
        adding = max(target_line - held, Decimal("0.00"))
    after = granted_before + adding
    frozen = existing is not None and existing.status == FROZEN and adding > 0
    room = Decimal("0.00") if frozen else max(unified_limit - granted_before, Decimal("0.00"))
    if frozen or after > unified_limit:
        raise Refused(
            GrantResult(
                granted=False,
                group_id=target,
                line_id=None if existing is None else existing.line_id,
                increase=existing is not None,
                amount=adding,
                line_limit=None if existing is None else money_of(existing.limit),
                unified_limit=unified_limit,
                group_granted=granted_before,
                available=room,
                reason="line_frozen" if frozen else "exceeds_unified_limit",
            )
        )
    if existing is not None:
        line_id = existing.line_id
        line_limit = money_of(existing.limit) + adding
        if adding > 0:  # else the line already reaches `up_to`: it is left as it is
            connection.execute(
                update(credit_lines)
                .where(credit_lines.c.line_id == line_id)
                .values(limit=line_limit, decision_id=decision, updated_at=now)
            )
            record_event(connection, line_id=line_id, event="increased", status=ACTIVE,
                         limit=line_limit, cause=f"decision:{decision}", at=now)  # fmt: skip
    else:
        line_id = f"L{uuid.uuid4().hex}"
        line_limit = adding
        connection.execute(
            sa_insert(credit_lines).values(
                line_id=line_id,
                group_id=target,
                subject=subject,
                product=product,
                branch=branch,
                limit=line_limit,
                drawn=Decimal("0.00"),
                status=ACTIVE,
                decision_id=decision,
                created_at=now,
                updated_at=now,
            )
        )
        record_event(connection, line_id=line_id, event="granted", status=ACTIVE,
                     limit=line_limit, cause=f"decision:{decision}", at=now)  # fmt: skip
    return GrantResult(
        granted=True,
        group_id=target,
        line_id=line_id,
        increase=existing is not None,
        amount=adding,
        line_limit=line_limit,
        unified_limit=unified_limit,
        group_granted=after,
        available=unified_limit - after,
    )


def lock_line(connection: Connection, line_id: str) -> Any:
    """The line's row, read after its group's lock is held (retried if it moved group)."""
    group_id = connection.execute(
        select(credit_lines.c.group_id).where(credit_lines.c.line_id == line_id)
    ).scalar_one_or_none()
    if group_id is None:
        raise NotFound("no such credit line", record=line_id)
    _lock_groups(connection, {group_id})
    line = connection.execute(select(credit_lines).where(credit_lines.c.line_id == line_id)).one()
    if line.group_id != group_id:
        raise Retry
    return line


def draw(engine: Engine, *, line_id: str, amount: Decimal, branch: str) -> DrawResult:
    """Draw `amount` on a line at `branch`, in one transaction holding the line's group lock.

    Refused, with nothing changed, if the line is closed or its drawn amount would exceed its
    limit. Raises `NotFound` for an unknown line, `Invalid` for bad input."""
    return run_locked(
        engine,
        lambda connection: draw_on(connection, line_id=line_id, amount=amount, branch=branch),
    )


def draw_on(connection: Connection, *, line_id: str, amount: Decimal, branch: str) -> DrawResult:
    """`draw` inside the caller's open write transaction (on SQLite one begun ``IMMEDIATE``,
    as `run_locked` does), so the drawdown commits with the caller's other writes. A refusal
    writes nothing. `Retry` propagates: the caller's `run_locked` starts the unit again."""
    line_id = _text(line_id, "line_id", 40)
    amount = _amount(amount, "amount")
    branch = _text(branch, "branch", 40)
    line = lock_line(connection, line_id)
    limit, drawn = money_of(line.limit), money_of(line.drawn)
    reason = None
    if line.status != ACTIVE:
        reason = f"line_{line.status}"
    elif drawn + amount > limit:
        reason = "exceeds_line_limit"
    if reason is not None:
        return DrawResult(
            drawn=False,
            line_id=line_id,
            drawdown_id=None,
            amount=amount,
            line_limit=limit,
            line_drawn=drawn,
            available=max(limit - drawn, Decimal("0.00"))
            if line.status == ACTIVE
            else Decimal("0.00"),
            reason=reason,
        )
    now = _now()
    drawdown_id = f"D{uuid.uuid4().hex}"
    connection.execute(
        sa_insert(drawdowns).values(
            drawdown_id=drawdown_id,
            line_id=line_id,
            amount=amount,
            branch=branch,
            created_at=now,
        )
    )
    connection.execute(
        update(credit_lines)
        .where(credit_lines.c.line_id == line_id)
        .values(drawn=drawn + amount, updated_at=now)
    )
    bump(connection, line.group_id, now)
    return DrawResult(
        drawn=True,
        line_id=line_id,
        drawdown_id=drawdown_id,
        amount=amount,
        line_limit=limit,
        line_drawn=drawn + amount,
        available=limit - drawn - amount,
    )


def release_on(connection: Connection, *, line_id: str, amount: Decimal) -> Decimal:
    """Give back `amount` of a line's drawn amount (principal repaid or written off), under
    its group's lock, in the caller's open write transaction; returns the line's drawn amount
    after. Never below zero."""
    amount = _amount(amount, "amount", positive=False)
    line = lock_line(connection, line_id)
    drawn = max(money_of(line.drawn) - amount, Decimal("0.00"))
    if amount:
        now = _now()
        connection.execute(
            update(credit_lines)
            .where(credit_lines.c.line_id == line_id)
            .values(drawn=drawn, updated_at=now)
        )
        bump(connection, line.group_id, now)
    return drawn


# ----------------------------------------------------------------------------- reading


def exposure(engine: Engine, subject: str) -> dict[str, Any]:
    """The subject's group exposure, JSON-ready (money as strings with two decimals):

    ``{"unified_limit", "granted", "drawn", "available", "group", "lines": [{"line_id",
    "subject", "product", "branch", "limit", "drawn", "status"}]}``, where `granted` and
    `drawn` sum the group's active lines and `available` is the unified limit not granted.
    `lines` lists every line of the group (closed ones too), oldest first. A subject without
    a group has zeros, ``"group": None`` and no lines. Read in one snapshot transaction."""
    subject = _text(subject, "subject", 100)
    zero = Decimal("0.00")
    with snapshot(engine) as connection:
        group_id = _member_group(connection, subject)
        if group_id is None:
            return {
                "unified_limit": _money(zero),
                "granted": _money(zero),
                "drawn": _money(zero),
                "available": _money(zero),
                "group": None,
                "lines": [],
            }
        unified = money_of(
            connection.execute(
                select(credit_groups.c.unified_limit).where(credit_groups.c.group_id == group_id)
            ).scalar_one()
        )
        lines = connection.execute(
            select(credit_lines)
            .where(credit_lines.c.group_id == group_id)
            .order_by(credit_lines.c.created_at, credit_lines.c.line_id)
        ).all()
    active = [line for line in lines if line.status in LIVE]
    granted = sum((money_of(line.limit) for line in active), zero)
    drawn = sum((money_of(line.drawn) for line in active), zero)
    return {
        "unified_limit": _money(unified),
        "granted": _money(granted),
        "drawn": _money(drawn),
        "available": _money(max(unified - granted, zero)),
        "group": group_id,
        "lines": [
            {
                "line_id": line.line_id,
                "subject": line.subject,
                "product": line.product,
                "branch": line.branch,
                "limit": _money(money_of(line.limit)),
                "drawn": _money(money_of(line.drawn)),
                "status": line.status,
            }
            for line in lines
        ],
    }
