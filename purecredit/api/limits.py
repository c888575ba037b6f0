"""Per-client rate limits shared by every worker process, and the request body size limit.

Rate limits. A bank sets a client's limit for the gateway, not for each worker, so the count
lives in the ledger that all workers share (SQLite by default, PostgreSQL when configured;
neither Redis nor anything else is needed). The algorithm is GCRA, a token bucket kept as one
number per client: its "theoretical arrival time" `tat`. With a limit of N a minute, each
request moves `tat` on by 60/N seconds, and a request is allowed while `tat` stays within 60 s
of now; so an idle client may send N requests at once, then one every 60/N seconds. Unlike a
fixed window it never lets 2N through around a window's edge, and it costs the same: one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per check, in a transaction of its own, in
which the row's lock (PostgreSQL) or the database's write lock (SQLite) makes concurrent
checks from any number of workers count one after the other.

That transaction commits without waiting for its log to reach the disk (PostgreSQL
``synchronous_commit = off``; SQLite ``synchronous = NORMAL``, which in WAL mode leaves the
sync to the next full commit). A power cut may forget the last few counts, which at worst lets
a client a few requests more; a killed worker process loses nothing. The ledger's own
transactions stay fully durable: the setting is for this transaction only.

Body size. `BodyLimit` is pure ASGI middleware that answers 413 (problem details) before the
app sees a byte of an oversized body: at once when ``Content-Length`` says so, and otherwise
(chunked bodies) as soon as the chunks read so far add up to more than the limit; it stops
reading there. A body within the limit is read whole and handed to the app as one message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    text,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purecredit.core.errors import PayloadTooLarge, PurecreditError

WINDOW_SECONDS: Final = 60.0
MAX_BODY_BYTES: Final = 1_048_576  # 1 MiB
_SLACK: Final = 1e-6  # seconds: floating-point sums of 60/N must not refuse the N-th request

metadata = MetaData()

api_rate_limits = Table(
    "api_rate_limits",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("tat", Float, nullable=False),  # theoretical arrival time, Unix seconds
    Column("allowed", Boolean, nullable=False),  # whether the last check passed
)

# One statement decides and counts, the same SQL on PostgreSQL and SQLite: in ON CONFLICT DO
# UPDATE every expression reads the row as it was, after any concurrent update committed.
# Written once as text: building it with the expression language per request cost more than
# running it.
_START = "CASE WHEN api_rate_limits.tat > :now THEN api_rate_limits.tat ELSE :now END"
_FITS = f"{_START} + :interval <= :now + {WINDOW_SECONDS} + {_SLACK}"
_UPSERT = (
    " ON CONFLICT (client_id) DO UPDATE SET"
    f" tat = CASE WHEN {_FITS} THEN {_START} + :interval ELSE api_rate_limits.tat END,"
    f" allowed = CASE WHEN {_FITS} THEN TRUE ELSE FALSE END"
    " RETURNING tat, allowed"
)
_COUNT = text(
    "INSERT INTO api_rate_limits (client_id, tat, allowed)"
    f" VALUES (:client_id, :now + :interval, TRUE){_UPSERT}"
).columns(tat=Float, allowed=Boolean)
# PostgreSQL: the same, as one autocommit statement that turns off its own commit's wait for
# the disk (set_config(..., true) is SET LOCAL). Every call of a client updates its one row,
# so the row lock must be held for the statement alone: a BEGIN, SET LOCAL, INSERT, COMMIT
# sequence held it across four round trips and the worker's GIL, and queued all the
# client's concurrent calls behind one another.
_COUNT_POSTGRESQL = text(
    "WITH fast AS (SELECT set_config('synchronous_commit', 'off', true))"
    " INSERT INTO api_rate_limits (client_id, tat, allowed)"
    f" SELECT :client_id, :now + :interval, TRUE FROM fast{_UPSERT}"
).columns(tat=Float, allowed=Boolean)


def create_tables(engine: Engine) -> None:
    """Create this module's tables if they do not exist yet."""
    metadata.create_all(engine)


class RateLimited(PurecreditError):
    """Too many requests from one client (429); `retry_after` is whole seconds to wait."""

    status = 429
    title = "Too many requests"
    slug = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_rate_limited, (self.detail, self.retry_after))

    @property
    def headers(self) -> dict[str, str]:
        """The headers a 429 carries (RFC 9110 section 10.2.3)."""
        return {"Retry-After": str(self.retry_after)}


def _rebuild_rate_limited(detail: str, retry_after: int) -> RateLimited:
    return RateLimited(detail, retry_after=retry_after)


@dataclass(frozen=True)
class Allowed:
    """A request within its client's limit: `remaining` more could be sent now, and the
    bucket is full again after `reset` seconds (for ``RateLimit-*`` headers, if wanted)."""

    limit: int
    remaining: int
    reset: int


def check(engine: Engine, client_id: str, limit_per_minute: int, now: float) -> Allowed:
    """Count one request of `client_id` (at `now`, Unix seconds) against its limit, shared by
    every worker on this ledger; raise `RateLimited` with the seconds to wait when over it.
    A refused request is not counted."""
    if limit_per_minute < 1:
        raise ValueError("a rate limit allows at least one request a minute")
    interval = WINDOW_SECONDS / limit_per_minute
    values = {"client_id": client_id, "interval": interval, "now": now}
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            tat, allowed = connection.execute(_COUNT_POSTGRESQL, values).one()
    else:
        with _fast_commit(engine) as connection:
            tat, allowed = connection.execute(_COUNT, values).one()
    if not allowed:
        wait = max(1, math.ceil(tat + interval - WINDOW_SECONDS - now))
        raise RateLimited(
            f"more than {limit_per_minute} requests a minute; retry in {wait} s",
            retry_after=wait,
        )
    remaining = math.floor((now + WINDOW_SECONDS - tat) / interval + _SLACK)
    return Allowed(limit_per_minute, max(0, remaining), math.ceil(tat - now))


@contextmanager
def _fast_commit(engine: Engine) -> Iterator[Connection]:
    """SQLite: a short transaction whose commit does not wait for the disk (see the
    docstring); the database's write lock serialises the checks anyway."""
    with engine.connect() as connection:
        # Per connection, set outside the transaction and put back before the pool hands
        # the connection to anyone else.
        before = int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())
        connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
        connection.commit()
        try:
            with connection.begin():
                yield connection
        finally:
            connection.exec_driver_sql(f"PRAGMA synchronous = {before}")
            connection.commit()


# ----------------------------------------------------------------------------- body size


class BodyLimit:
    """ASGI middleware: 413 problem details for a request body over `max_bytes`, before the
    app parses it. Add it outermost: ``app.add_middleware(BodyLimit, max_bytes=...)``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(
            f"the request body is larger than {self.max_bytes} bytes", field="body"
        )
        body = json.dumps(error.to_problem(instance=scope.get("path"))).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of the body is never read
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body read already, then the client's later messages
    (such as ``http.disconnect``)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again
