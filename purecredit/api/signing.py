"""Request signatures for the write endpoints, with replay protection.

A signed request carries three headers: ``X-Timestamp`` (Unix seconds), ``X-Nonce`` (16 to
128 characters from ``A-Z a-z 0-9 - . _ ~``, fresh for every request) and ``X-Signature``:
the lowercase hex HMAC-SHA256, keyed with the client secret (its UTF-8 bytes), of

    METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n SHA256_HEX(BODY)

where METHOD is upper case, PATH the request path as sent (with ``?query`` if there is one),
TIMESTAMP and NONCE the header values, and BODY the raw body bytes (empty for none). The
body's digest, not the body, goes in, so the string to sign stays small and unambiguous.

A timestamp more than `SKEW_SECONDS` away from the server's clock is refused, and a nonce
the client used before is refused: each is inserted into a ledger table under a unique key
(client, nonce), and the insert itself decides, so two workers racing with one request see
exactly one succeed. Nonces are kept only while their timestamp could still pass the skew
check; after that the timestamp alone refuses a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    delete,
    insert,
)
from sqlalchemy.exc import IntegrityError

from purecredit.core.errors import Unauthorized

SKEW_SECONDS: Final = 300
# Nonces are pruned a second window later, so a few seconds of clock drift between workers
# never frees a nonce whose timestamp another worker would still accept.
_KEEP_SECONDS: Final = 2 * SKEW_SECONDS
_PRUNE_EVERY_SECONDS: Final = 60.0
_NONCE = re.compile(r"[A-Za-z0-9._~-]{16,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")

metadata = MetaData()

API_NONCES = Table(
    "api_nonces",
    metadata,
    Column("client_id", String(40), primary_key=True),
    Column("nonce", String(128), primary_key=True),  # the unique key that refuses replays
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_api_nonces_client_timestamp", "client_id", "timestamp"),
)


def create_tables(engine: Engine) -> None:
    """Create this module's tables if they do not exist yet."""
    metadata.create_all(engine)


def string_to_sign(method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> bytes:
    """The canonical string a signature covers (see the module docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign(secret: str, method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    """The ``X-Signature`` value for a request: what a client computes, in any language."""
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check(
    engine: Engine,
    secret: str,
    client_id: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Accept a signed request, or raise `Unauthorized` naming the header at fault.

    The nonce is recorded only once the signature is good, so a forger cannot burn nonces.
    `now` is the server's clock in Unix seconds.
    """
    timestamp, nonce, signature = _headers(headers)
    if abs(now - timestamp) > SKEW_SECONDS:
        raise Unauthorized(
            f"the timestamp is more than {SKEW_SECONDS} s away from the server's clock",
            field="X-Timestamp",
        )
    expected = sign(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise Unauthorized("the request signature does not match", field="X-Signature")
    _remember(engine, client_id, nonce, timestamp)
    if _due_for_pruning(client_id, now):
        prune(engine, client_id, now)


def prune(engine: Engine, client_id: str, now: float) -> int:
    """Forget a client's nonces too old to pass the skew check any more; returns how many.

    Its own transaction, after the nonce's: one statement per transaction cannot deadlock
    with a concurrent request's insert.
    """
    old = API_NONCES.c.timestamp < int(now) - _KEEP_SECONDS
    statement = delete(API_NONCES).where(API_NONCES.c.client_id == client_id, old)
    with engine.begin() as connection:
        return int(connection.execute(statement).rowcount)


_last_pruned: dict[str, float] = {}  # per client, in this process


def _due_for_pruning(client_id: str, now: float) -> bool:
    # Pruning on every request was a second transaction per signed call; once a minute per
    # client and process keeps the table at a few minutes of nonces all the same. A race
    # between two threads only prunes twice, which is harmless.
    if now - _last_pruned.get(client_id, 0.0) < _PRUNE_EVERY_SECONDS:
        return False
    _last_pruned[client_id] = now
    return True


def _headers(headers: Mapping[str, str]) -> tuple[int, str, str]:
    # HTTP header names are case-insensitive (RFC 9110 section 5.1).
    lower = {name.lower(): value for name, value in headers.items()}
    timestamp, nonce, signature = (
        lower.get(name, "").strip() for name in ("x-timestamp", "x-nonce", "x-signature")
    )
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Unauthorized("X-Timestamp must be Unix seconds", field="X-Timestamp")
    if not _NONCE.fullmatch(nonce):
        raise Unauthorized(
            "X-Nonce must be 16 to 128 characters of A-Z a-z 0-9 - . _ ~", field="X-Nonce"
        )
    if not _SIGNATURE.fullmatch(signature):
        raise Unauthorized("X-Signature must be 64 hex digits", field="X-Signature")
    return int(timestamp), nonce, signature


def _remember(engine: Engine, client_id: str, nonce: str, timestamp: int) -> None:
    # Insert-or-fail: the primary key, not an earlier read, decides who used the nonce first,
    # so concurrent workers (SQLite or PostgreSQL) can never both accept it.
    row = {"client_id": client_id, "nonce": nonce, "timestamp": timestamp}
    try:
        with engine.begin() as connection:
            connection.execute(insert(API_NONCES), row)
    except IntegrityError:
        raise Unauthorized(
            "this nonce was used before (a replayed request)", field="X-Nonce"
        ) from None
