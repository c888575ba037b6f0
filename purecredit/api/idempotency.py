"""``Idempotency-Key`` on POST: a retried request gets the first answer, and its work is
never done twice (as Stripe does, and draft-ietf-httpapi-idempotency-key-header specifies).

The claim lives in the caller's transaction. `begin` inserts the key's row (state
``pending``) as the first write of the transaction that does the work; `finish` fills in the
answer in that same transaction, just before it commits. So the decision, its audit entry and
its stored answer commit together or not at all: a crash or an error before the commit rolls
the claim back with the work, and the retry finds no row and does the work once. There is no
claim that outlives its request, hence no lease to expire and no window in which a crashed
worker's claim blocks retries. A claim in a transaction of its own would need both: it would
commit before the work, so a crash would leave it behind (blocking retries until a lease ran
out), and after the lease a slow first request could be done a second time.

Two identical requests racing on two worker processes: the unique key (client, key) lets
only one transaction insert the row, and the other never starts the work:

- PostgreSQL: the insert first takes a transaction advisory lock on the key without waiting
  (``pg_try_advisory_xact_lock``). A duplicate that arrives while the first is in flight
  cannot take it and gets 409 Conflict at once, as the draft asks ("retried while the
  original request is still being processed"); one that arrives after the first committed
  finds its row and gets the replay.
- SQLite: the work runs under the database's write lock (``BEGIN IMMEDIATE``; use
  `purecredit.store.ledger.run_locked`), so the duplicate waits for the first to commit and
  then gets the replay; a request still in progress is never visible there.

Either way the first answer is returned as it was given: the same status and body bytes.
Only answers of committed work are kept: a request refused with an error that rolled its
transaction back stored nothing, so a retry is judged afresh (and, having changed nothing the
first time, it is safe to). Keys are kept `TTL` (24 h): after that the key is free again, and
`prune` deletes the old rows (call it now and then, not on every request).

A key is 1 to 255 visible ASCII characters (``!`` to ``~``); a malformed key is 400. The
same key sent with another method, path or body is 422 naming ``Idempotency-Key``: the key is
the client's promise that the request is the same one.

The routes (`POST /v1/consents`, `/v1/applications`, `/v1/decisions/{id}/human-review`,
`/v1/credit-lines/{id}/drawdowns`) run through `serve`: the claim, the route's work, its own
rows and the stored answer in one `run_locked` transaction; a replay answers the stored bytes
with ``Idempotent-Replayed: true``. The header is required there (422 naming it when
missing): a client that cannot tell whether its first try arrived must be able to retry
safely, and one without a key could not. ``POST /oauth/token`` takes none: it changes
nothing a retry could double, and RFC 6749 clients do not send one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    select,
    text,
    update,
)

from purecredit.api.schemas import Problem
from purecredit.core.errors import Conflict, Invalid, PurecreditError
from purecredit.store.ledger import as_utc, run_locked

HEADER: Final = "Idempotency-Key"
REPLAYED: Final = "Idempotent-Replayed"
TTL: Final = timedelta(hours=24)
PENDING, DONE = "pending", "done"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, no space (the draft's sf-string)

metadata = MetaData()

api_idempotency = Table(
    "api_idempotency",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),  # (client, key) unique: decides the race
    Column("method", String(10), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer),
    Column("response_body", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(10), nullable=False),
    Index("ix_api_idempotency_created_at", "created_at"),
)

# The hot path's statements, written once: building them with the expression language on
# every request cost more than running them. The claim leaves status and body NULL.
_CLAIM_COLUMNS = "client_id, key, method, path, request_hash, created_at, state"
_CLAIM_VALUES = ":client_id, :key, :method, :path, :request_hash, :created_at, :state"
_CREATED_AT = bindparam("created_at", type_=DateTime(timezone=True))
# PostgreSQL: INSERT ... SELECT ... WHERE pg_try_advisory_xact_lock(k), one round trip that
# inserts nothing when another transaction holds the key (it never waits for it).
_CLAIM_POSTGRESQL = text(
    f"INSERT INTO api_idempotency ({_CLAIM_COLUMNS}) SELECT {_CLAIM_VALUES}"
    " WHERE pg_try_advisory_xact_lock(CAST(:lock AS BIGINT))"
    " ON CONFLICT DO NOTHING RETURNING key"
).bindparams(_CREATED_AT)
_CLAIM_SQLITE = text(
    f"INSERT INTO api_idempotency ({_CLAIM_COLUMNS}) VALUES ({_CLAIM_VALUES})"
    " ON CONFLICT DO NOTHING RETURNING key"
).bindparams(_CREATED_AT)
_FINISH = text(
    f"UPDATE api_idempotency SET status = :status, response_body = :body, state = '{DONE}'"
    f" WHERE client_id = :client_id AND key = :key AND state = '{PENDING}'"
).bindparams(bindparam("body", type_=LargeBinary))


class BadRequest(PurecreditError):
    """A request header that is missing or malformed (400), named in `field`."""

    status = 400
    title = "Bad request"
    slug = "bad-request"


def create_tables(engine: Engine) -> None:
    """Create this module's tables if they do not exist yet."""
    metadata.create_all(engine)


@dataclass(frozen=True)
class Begun:
    """What `begin` found. ``new``: the key is claimed in the caller's transaction, which must
    now do the work and call `finish` before committing. ``replay``: the first answer,
    `status` and `body`, to return as it is (with ``Idempotent-Replayed: true``)."""

    outcome: Literal["new", "replay"]
    status: int | None = None
    body: bytes | None = None

    @property
    def replayed(self) -> bool:
        return self.outcome == "replay"


def parse_key(value: str | None) -> str:
    """The ``Idempotency-Key`` header's value, or `BadRequest` naming the header."""
    if value is None or not _KEY.fullmatch(value):
        raise BadRequest(
            f"{HEADER} must be 1 to 255 visible ASCII characters, sent with every POST",
            field=HEADER,
        )
    return value


def request_hash(method: str, path: str, body: bytes) -> str:
    """The request's fingerprint: what a key promises stays the same on a retry."""
    digest = hashlib.sha256(body).hexdigest()
    return hashlib.sha256(f"{method.upper()}\n{path}\n{digest}".encode()).hexdigest()


def begin(
    connection: Connection,
    *,
    client_id: str,
    key: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime | None = None,
) -> Begun:
    """Claim `key` for this request inside the caller's open write transaction, or find the
    first answer to replay. Raises `BadRequest` (malformed key), `Invalid` (the key was used
    for another request; 422) or `Conflict` (the first request is still in progress; 409).

    Call it first in the transaction (on SQLite one taken with ``BEGIN IMMEDIATE``, e.g. by
    `run_locked`); on PostgreSQL the transaction must be READ COMMITTED (the default)."""
    if not connection.in_transaction():
        raise ValueError("begin claims inside the caller's transaction: begin one first")
    key, now = parse_key(key), now or datetime.now(UTC)
    fingerprint = request_hash(method, path, body)
    row = {
        "client_id": client_id,
        "key": key,
        "method": method.upper(),
        "path": path,
        "request_hash": fingerprint,
        "created_at": now,
        "state": PENDING,
    }
    if _claim(connection, row):
        return Begun("new")
    return _claimed_before(connection, row, now)


def _claimed_before(connection: Connection, row: dict[str, Any], now: datetime) -> Begun:
    """The key was taken: replay its answer, refuse, or re-claim it once expired."""
    where = (api_idempotency.c.client_id == row["client_id"], api_idempotency.c.key == row["key"])
    found = connection.execute(select(api_idempotency).where(*where)).first()
    if found is None:  # PostgreSQL: the first request holds the key's lock, uncommitted
        raise _in_progress()
    if as_utc(found.created_at) <= now - TTL:  # expired but not yet pruned: the key is free
        # Only while it is still the expired row: a concurrent re-claim (PostgreSQL) that
        # committed first makes this update match nothing, rather than overwrite its answer.
        fresh = {"status": None, "response_body": None} | row
        still = api_idempotency.c.created_at == found.created_at
        reclaimed = connection.execute(update(api_idempotency).where(*where, still).values(fresh))
        if reclaimed.rowcount != 1:
            raise _in_progress()
        return Begun("new")
    if found.request_hash != row["request_hash"]:
        raise Invalid(
            f"this {HEADER} was used for another request (method, path or body differ)",
            field=HEADER,
        )
    if found.state != DONE:  # committed without `finish`: a caller's bug, never replayed
        raise _in_progress()
    return Begun("replay", int(found.status), bytes(found.response_body))


def finish(connection: Connection, *, client_id: str, key: str, status: int, body: bytes) -> None:
    """Record the answer to the request `begin` claimed, in the same transaction, just before
    it commits (so the work and its stored answer commit together)."""
    values = {"client_id": client_id, "key": key, "status": status, "body": body}
    result = connection.execute(_FINISH, values)
    if result.rowcount != 1:
        raise ValueError("finish needs the claim that begin made in this transaction")


def prune(engine: Engine, now: datetime | None = None) -> int:
    """Delete the keys older than `TTL`; returns how many. One short transaction."""
    cutoff = (now or datetime.now(UTC)) - TTL
    with engine.begin() as connection:
        statement = delete(api_idempotency).where(api_idempotency.c.created_at <= cutoff)
        return int(connection.execute(statement).rowcount)


def _claim(connection: Connection, row: dict[str, Any]) -> bool:
    """Insert the claim unless the key has a row (or, on PostgreSQL, a request in flight);
    True when this transaction now holds it. ON CONFLICT DO NOTHING, so a taken key leaves
    the caller's transaction usable (a failed insert would abort it on PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        values = row | {"lock": _lock_key(row["client_id"], row["key"])}
        return connection.execute(_CLAIM_POSTGRESQL, values).first() is not None
    if connection.dialect.name == "sqlite":
        return connection.execute(_CLAIM_SQLITE, row).first() is not None
    raise NotImplementedError(f"no idempotency claim for {connection.dialect.name}")


def _lock_key(client_id: str, key: str) -> int:
    # A signed 64-bit advisory-lock key from the (client, key) pair; a collision between two
    # keys in flight at once (odds 2^-64) only makes one of them wait for a retry (409).
    digest = hashlib.sha256(f"{client_id}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _in_progress() -> Conflict:
    return Conflict(
        f"a request with this {HEADER} is still in progress; retry it shortly", field=HEADER
    )


# ----------------------------------------------------------------------------- the routes' side

RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for status, text in (
        (400, f"Malformed {HEADER}"),
        (409, f"A request with this {HEADER} is still in progress, or refused by the ledger"),
    )
}


@dataclass(frozen=True)
class Asked:
    """A POST as the idempotency key covers it: the key, method, path and the raw body bytes
    (those the signature covers)."""

    key: str
    method: str
    path: str
    body: bytes


async def asked(
    request: Request,
    key: Annotated[
        str,
        Header(
            alias=HEADER,
            description="Required. 1 to 255 visible ASCII characters, unique per request; a "
            "retry with the same key and body gets the first answer (Idempotent-Replayed: true).",
        ),
    ],
) -> Asked:
    """A dependency: the request's key and raw body (read once; Starlette keeps it)."""
    return Asked(key, request.method, request.url.path, await request.body())


@dataclass(frozen=True)
class Answer:
    """An answer as sent, or as stored by the first request with the key (`replayed`)."""

    status: int
    body: bytes
    replayed: bool = False

    def response(self) -> Response:
        headers = {REPLAYED: "true"} if self.replayed else None
        return Response(self.body, self.status, headers, media_type="application/json")


def answer(status: int, model: type[BaseModel], content: Any) -> Answer:
    """`content` as the route's response model renders it to JSON: the bytes stored and sent."""
    shown = model.model_validate(content).model_dump(mode="json", by_alias=True)
    return Answer(status, bytes(JSONResponse(shown).body))


def serve(
    engine: Engine, asked: Asked, *, client_id: str, work: Callable[[Connection], Answer]
) -> Answer:
    """Do `work` once per key: the claim, the work (all its writes on the connection it is
    given) and the stored answer in one locking transaction, retried whole on a deadlock.
    A replay answers the first answer without running `work`; an error raised by `work`
    rolls everything back, claim included, so a retry is judged afresh."""

    def unit(connection: Connection) -> Answer:
        begun = begin(
            connection,
            client_id=client_id,
            key=asked.key,
            method=asked.method,
            path=asked.path,
            body=asked.body,
        )
        if begun.replayed:
            assert begun.status is not None and begun.body is not None
            return Answer(begun.status, begun.body, replayed=True)
        done = work(connection)
        finish(connection, client_id=client_id, key=asked.key, status=done.status, body=done.body)
        return done

    parse_key(asked.key)  # 400 before any transaction
    return run_locked(engine, unit)
