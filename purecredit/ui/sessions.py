"""Server-side sessions for the console.

The browser holds a random token (256 bits) in an HttpOnly, SameSite=Strict cookie; the
ledger holds only its SHA-256, so a leaked table opens nothing. A session ends after
`IDLE` without a request or `ABSOLUTE` after login, whichever comes first, and at logout
(its row is deleted). Each session has its own CSRF synchronizer token, put in every form
and compared (in constant time) on every state-changing request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Engine, delete, insert, select, update

from purecredit.store.ledger import as_utc
from purecredit.ui.tables import STAFF_SESSIONS

COOKIE: Final = "pc_session"
IDLE: Final = timedelta(minutes=30)
ABSOLUTE: Final = timedelta(hours=12)
# last_seen is written at most this often: a page view is a read, not a ledger write each time.
_TOUCH: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(engine: Engine, username: str) -> str:
    """A new session for `username`; returns the token for the cookie (shown once)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        # Expired sessions go whenever someone logs in: the table never grows without bound.
        connection.execute(
            delete(STAFF_SESSIONS).where(
                (STAFF_SESSIONS.c.last_seen < now - IDLE)
                | (STAFF_SESSIONS.c.created_at < now - ABSOLUTE)
            )
        )
        connection.execute(
            insert(STAFF_SESSIONS).values(
                token_hash=_hash(token),
                username=username,
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                last_seen=now,
            )
        )
    return token


def find(engine: Engine, token: str | None) -> Session | None:
    """The live session of a cookie token, touched; None if unknown or expired (and then
    deleted)."""
    if not token:
        return None
    key = _hash(token)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        row = connection.execute(
            select(STAFF_SESSIONS).where(STAFF_SESSIONS.c.token_hash == key)
        ).first()
    if row is None:
        return None
    last_seen, created = as_utc(row.last_seen), as_utc(row.created_at)
    if now - last_seen > IDLE or now - created > ABSOLUTE:
        close(engine, token)
        return None
    if now - last_seen > _TOUCH:
        with engine.begin() as connection:
            connection.execute(
                update(STAFF_SESSIONS)
                .where(STAFF_SESSIONS.c.token_hash == key)
                .values(last_seen=now)
            )
    return Session(row.username, row.csrf)


def close(engine: Engine, token: str) -> None:
    """Log out: the session's row is deleted."""
    with engine.begin() as connection:
        connection.execute(
            delete(STAFF_SESSIONS).where(STAFF_SESSIONS.c.token_hash == _hash(token))
        )


def csrf_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())
