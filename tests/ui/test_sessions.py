"""Staff sessions and accounts on a bare ledger: only the token's hash is stored, idle and
absolute expiry end a session, logout deletes it; passwords are argon2 hashes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from purecredit.core.errors import Invalid, Unauthorized
from purecredit.store.ledger import make_engine
from purecredit.ui import accounts, sessions
from purecredit.ui.tables import STAFF, STAFF_SESSIONS, create_tables


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    create_tables(engine)
    return engine


def _age(engine: Engine, token: str, **when: datetime) -> None:
    key = hashlib.sha256(token.encode()).hexdigest()
    with engine.begin() as c:
        c.execute(update(STAFF_SESSIONS).where(STAFF_SESSIONS.c.token_hash == key).values(**when))


def test_a_session_stores_only_its_hash_and_expires(engine: Engine) -> None:
    token = sessions.open_session(engine, "wang")
    with engine.connect() as c:
        (row,) = c.execute(select(STAFF_SESSIONS)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row
    found = sessions.find(engine, token)
    assert found is not None and found.username == "wang"
    assert sessions.csrf_ok(found, found.csrf) and not sessions.csrf_ok(found, "x")
    assert not sessions.csrf_ok(found, None)
    assert sessions.find(engine, "forged") is None
    now = datetime.now(UTC)
    _age(engine, token, last_seen=now - sessions.IDLE * 2)
    assert sessions.find(engine, token) is None  # idle too long, and deleted
    token = sessions.open_session(engine, "wang")
    _age(engine, token, created_at=now - sessions.ABSOLUTE * 2)
    assert sessions.find(engine, token) is None  # too old, however busy
    token = sessions.open_session(engine, "wang")
    sessions.close(engine, token)
    assert sessions.find(engine, token) is None
    with engine.connect() as c:
        assert c.execute(select(STAFF_SESSIONS)).all() == []


def test_passwords_are_hashed_and_failures_say_the_same(engine: Engine) -> None:
    accounts.add_staff(engine, "zhao", "a long password", role="admin", level="head")
    with engine.connect() as c:
        stored = c.execute(select(STAFF.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "a long password" not in stored
    assert accounts.authenticate(engine, "zhao", "a long password").scope is None
    for user, password in (("zhao", "wrong password"), ("nobody", "a long password")):
        with pytest.raises(Unauthorized) as refused:
            accounts.authenticate(engine, user, password)
        assert refused.value.detail == accounts.BAD_LOGIN
    with pytest.raises(Invalid, match="needs a branch"):
        accounts.add_staff(engine, "wang", "a long password", role="officer")
    with pytest.raises(Invalid, match="at least"):
        accounts.add_staff(engine, "li", "short", role="admin")
