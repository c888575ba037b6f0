"""The console's ledger tables: staff accounts and their sessions.

- `staff`: one row per person who logs in to the console: role, branch scope, the reviewer's
  authority level, and an argon2 hash of the password (never the password).
- `staff_sessions`: one row per logged-in browser, keyed by the SHA-256 of its cookie token
  (a stolen copy of the table opens no session), with the session's CSRF token and its
  creation and last-use times for the absolute and idle expiries.

`purecredit serve` and `purecredit demo` create them before serving (`cli/demo.py`), as
`purecredit staff add` does before writing.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Engine, MetaData, String, Table

metadata = MetaData()

STAFF = Table(
    "staff",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(20), nullable=False),  # officer, reviewer, risk_manager, admin
    Column("branches", JSON, nullable=False),  # branch codes; empty: every branch
    Column("level", String(16)),  # a reviewer's authority level (decide.policy.LEVELS)
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

STAFF_SESSIONS = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex of the cookie's token
    Column("username", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),  # the synchronizer token of its forms
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)


def create_tables(engine: Engine) -> None:
    """Create the console's tables if they do not exist yet."""
    metadata.create_all(engine)
