"""Staff accounts: who may log in to the console, in which role, for which branches.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106); a login that fails
says the same thing whether the user or the password was wrong, and takes as long (an
unknown user is checked against a dummy hash). Scope is a list of branch codes; a code
covers its own branch and every branch under it (a sub-branch its outlets). Admins and risk
managers may be all-branch (an empty list); officers and reviewers always name branches.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from purecredit.core.errors import Conflict, Invalid, Unauthorized
from purecredit.decide import store
from purecredit.decide.policy import LEVELS
from purecredit.ui.tables import STAFF, create_tables

ROLES: Final[tuple[str, ...]] = ("officer", "reviewer", "risk_manager", "admin")
ALL_BRANCH_ROLES: Final = frozenset({"risk_manager", "admin"})
# Bank-wide pages, open by role rather than branch: they show models, policies, the data
# zone's counts and the audit chain, none of which belongs to one branch.
PAGE_ROLES: Final[dict[str, frozenset[str]]] = {
    "models": frozenset({"risk_manager", "admin"}),
    "policies": frozenset({"risk_manager", "admin"}),
    "data": frozenset({"risk_manager", "admin"}),
    "audit": frozenset({"admin"}),
}
BAD_LOGIN: Final = "用户名或密码错误 / wrong username or password"
MIN_PASSWORD: Final = 10
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
_hasher = PasswordHasher()
_DUMMY_HASH: Final = _hasher.hash("not a password of anyone's")


@dataclass(frozen=True)
class Staff:
    """A logged-in member of staff; `scope` is the branches they see (None: every branch)."""

    username: str
    role: str
    branches: tuple[str, ...]
    level: str | None
    scope: frozenset[str] | None

    def sees(self, branch: str) -> bool:
        return self.scope is None or branch in self.scope

    @property
    def reviews(self) -> bool:
        """Whether this person may approve or decline referred applications."""
        return self.level is not None and self.role in ("reviewer", "risk_manager", "admin")

    @property
    def works_cases(self) -> bool:
        return self.role in ("officer", "risk_manager", "admin")

    def may_open(self, page: str) -> bool:
        """Whether this person's role opens a bank-wide page (`PAGE_ROLES`)."""
        return self.role in PAGE_ROLES[page]


def add_staff(
    engine: Engine,
    username: str,
    password: str,
    *,
    role: str,
    branches: Iterable[str] = (),
    level: str | None = None,
) -> None:
    """Create an account; every branch named must exist in the ledger's branch table."""
    codes = tuple(dict.fromkeys(branches))
    _check(engine, username, password, role, codes, level)
    create_tables(engine)
    with engine.begin() as connection:
        if connection.execute(select(STAFF.c.username).where(STAFF.c.username == username)).first():
            raise Conflict(f"staff account {username!r} already exists", field="username")
        connection.execute(
            insert(STAFF).values(
                username=username,
                role=role,
                branches=list(codes),
                level=level,
                password_hash=_hasher.hash(password),
                enabled=True,
                created_at=datetime.now(UTC),
            )
        )


def _check(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    codes: tuple[str, ...],
    level: str | None,
) -> None:
    if not _USERNAME.fullmatch(username):
        raise Invalid(
            "a username is 2-64 of a-z 0-9 . _ - starting with a letter", field="username"
        )
    if role not in ROLES:
        raise Invalid(f"a role is one of {', '.join(ROLES)}", field="role")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password has at least {MIN_PASSWORD} characters", field="password")
    if not codes and role not in ALL_BRANCH_ROLES:
        raise Invalid(f"a{'n' if role == 'officer' else ''} {role} needs a branch", field="branch")
    if level is not None and level not in LEVELS:
        raise Invalid(f"a level is one of {', '.join(LEVELS)}", field="level")
    if role == "reviewer" and level is None:
        raise Invalid("a reviewer needs an authority level", field="level")
    store.create_tables(engine)  # a ledger with no branch table yet has no branch to name
    known = {b.code for b in store.branches(engine)}
    for code in codes:
        if code not in known:
            raise Invalid(f"no branch {code!r} (`purecredit branches` lists them)", field="branch")


def list_staff(engine: Engine) -> list[dict[str, object]]:
    """Every account, without its hash."""
    create_tables(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(STAFF).order_by(STAFF.c.username)).mappings().all()
    return [
        {
            "username": r["username"],
            "role": r["role"],
            "branches": list(r["branches"]),
            "level": r["level"],
            "enabled": bool(r["enabled"]),
        }
        for r in rows
    ]


def authenticate(engine: Engine, username: str, password: str) -> Staff:
    """The account if the password is its own, else `Unauthorized` saying neither which."""
    with engine.connect() as connection:
        row = connection.execute(select(STAFF).where(STAFF.c.username == username)).first()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized(BAD_LOGIN) from None
    if row is None or not row.enabled:
        raise Unauthorized(BAD_LOGIN)
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as connection:
            connection.execute(
                update(STAFF)
                .where(STAFF.c.username == username)
                .values(password_hash=_hasher.hash(password))
            )
    return staff(engine, username)


def staff(engine: Engine, username: str) -> Staff:
    """An enabled account as the console sees it, its scope expanded; `Unauthorized` if
    it is gone or disabled (its sessions then end)."""
    with engine.connect() as connection:
        row = connection.execute(select(STAFF).where(STAFF.c.username == username)).first()
    if row is None or not row.enabled:
        raise Unauthorized("this account is disabled")
    codes = tuple(row.branches)
    scope = None if not codes else frozenset(under(store.branches(engine), codes))
    return Staff(row.username, row.role, codes, row.level, scope)


def under(branches: Collection[store.Branch], codes: Iterable[str]) -> set[str]:
    """The codes and every branch below them, following `parent`."""
    found = set(codes)
    grew = True
    while grew:
        more = {b.code for b in branches if b.parent in found} - found
        found |= more
        grew = bool(more)
    return found


def set_password(engine: Engine, username: str, password: str) -> None:
    """Replace an account's password (its sessions stay; disable the account to end them)."""
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password has at least {MIN_PASSWORD} characters", field="password")
    with engine.begin() as connection:
        done = connection.execute(
            update(STAFF)
            .where(STAFF.c.username == username)
            .values(password_hash=_hasher.hash(password))
        )
    if done.rowcount != 1:
        raise Invalid(f"no staff account {username!r}", field="username")
