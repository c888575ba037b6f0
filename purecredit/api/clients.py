"""The API's client registry: who may call the gateway, with which scopes, for which branches.

Each client is a channel (mobile banking, a branch system, the risk console, a government
platform). Its secret is shown once, at creation, and kept in the ledger only encrypted with
the data zone's field key: not hashed, because request signatures (`purecredit.api.signing`)
are HMACs keyed with the secret, so the server must be able to recover it. The ciphertext is
bound to its client id, so a secret copied onto another row does not decrypt.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping

from purecredit.core.crypto import FieldCipher
from purecredit.core.errors import Invalid, Misconfigured, NotFound, Unauthorized
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings

SCOPES: Final[tuple[str, ...]] = (
    "applications:write",
    "applications:read",
    "consents:write",
    "profiles:read",
    "credit-lines:write",
    "credit-lines:read",
    "metrics:read",
    "monitoring:read",
    "monitoring:write",
)
_BRANCH_CODE = re.compile(r"[0-9A-Za-z]{1,9}")  # as `bank_branches.code` (String(9))
_SECRET_BYTES = 32  # 256 bits of entropy, as the HMAC-SHA256 key of every signature
_BAD_CREDENTIALS = "invalid client credentials"

metadata = MetaData()

API_CLIENTS = Table(
    "api_clients",
    metadata,
    Column("client_id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("branches", JSON, nullable=False),  # empty: not restricted to branches
    Column("secret_encrypted", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_tables(engine: Engine) -> None:
    """Create this module's tables if they do not exist yet."""
    metadata.create_all(engine)


@dataclass(frozen=True)
class Client:
    """A registered client as the gateway sees it; never carries the secret."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    branches: tuple[str, ...]
    enabled: bool
    created_at: datetime

    def may_act_for(self, branch: str) -> bool:
        """A branch client acts only for its own branches; any other for every branch."""
        return not self.branches or branch in self.branches

    def as_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "branches": list(self.branches),
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Credentials:
    """What `create_client` hands back once; the secret is kept out of `repr` and logs."""

    client_id: str
    client_secret: str = field(repr=False)


def create_client(
    engine: Engine,
    settings: Settings,
    name: str,
    scopes: Iterable[str],
    branches: Iterable[str] = (),
) -> Credentials:
    """Register a client and return its id and secret; the secret cannot be shown again."""
    name, scope_list, branch_list = _checked(name, scopes, branches)
    client_id = "cl_" + secrets.token_hex(10)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    row = {
        "client_id": client_id,
        "name": name,
        "scopes": scope_list,
        "branches": branch_list,
        "secret_encrypted": _cipher(settings).encrypt(secret, context=_context(client_id)),
        "enabled": True,
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as connection:
        connection.execute(insert(API_CLIENTS), row)
    return Credentials(client_id, secret)


def authenticate(engine: Engine, settings: Settings, client_id: str, secret: str) -> Client:
    """The client whose id and secret these are, or `Unauthorized`.

    The secret is compared in constant time. An unknown id, a wrong secret and a disabled
    client all get the same answer, so a caller learns nothing about which it was.
    """
    row = _row(engine, client_id)
    if row is None:
        raise Unauthorized(_BAD_CREDENTIALS)
    stored = _secret(settings, row)
    if not hmac.compare_digest(stored.encode("utf-8"), secret.encode("utf-8")):
        raise Unauthorized(_BAD_CREDENTIALS)
    client = _client(row)
    if not client.enabled:
        raise Unauthorized(_BAD_CREDENTIALS)
    return client


def client_secret(engine: Engine, settings: Settings, client_id: str) -> str:
    """The client's secret, decrypted, to verify its request signatures inside the data zone."""
    row = _row(engine, client_id)
    if row is None:
        raise NotFound(f"no client {client_id!r}", field="client_id")
    return _secret(settings, row)


def get_client(engine: Engine, client_id: str) -> Client:
    """The client with this id (enabled or not), or `NotFound`."""
    row = _row(engine, client_id)
    if row is None:
        raise NotFound(f"no client {client_id!r}", field="client_id")
    return _client(row)


def list_clients(engine: Engine) -> list[Client]:
    """Every registered client, oldest first."""
    query = select(API_CLIENTS).order_by(API_CLIENTS.c.created_at, API_CLIENTS.c.client_id)
    with engine.connect() as connection:
        return [_client(row) for row in connection.execute(query).mappings()]


def set_enabled(engine: Engine, client_id: str, enabled: bool) -> Client:
    """Disable (or enable again) a client; a disabled client can no longer get tokens."""
    statement = (
        update(API_CLIENTS).where(API_CLIENTS.c.client_id == client_id).values(enabled=enabled)
    )
    with engine.begin() as connection:
        if connection.execute(statement).rowcount != 1:
            raise NotFound(f"no client {client_id!r}", field="client_id")
    return get_client(engine, client_id)


def _checked(
    name: str, scopes: Iterable[str], branches: Iterable[str]
) -> tuple[str, list[str], list[str]]:
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("a client name must have 1 to 100 characters", field="name")
    scope_list = list(dict.fromkeys(scopes))
    if not scope_list:
        raise Invalid("a client needs at least one scope", field="scopes")
    for scope in scope_list:
        if scope not in SCOPES:
            raise Invalid(
                f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}", field="scopes"
            )
    branch_list = list(dict.fromkeys(branches))
    for code in branch_list:
        if not _BRANCH_CODE.fullmatch(code):
            raise Invalid(f"bad branch code {code!r}: 1 to 9 letters or digits", field="branches")
    return name, scope_list, branch_list


def _cipher(settings: Settings) -> FieldCipher:
    return FieldCipher(data_zone_keys(settings).field_key, settings.field_cipher)


def _secret(settings: Settings, row: RowMapping) -> str:
    try:
        return _cipher(settings).decrypt(
            row["secret_encrypted"], context=_context(row["client_id"])
        )
    except Invalid:
        # Not the caller's fault: the master key changed or the row was altered.
        raise Misconfigured(
            f"the secret of client {row['client_id']} cannot be decrypted: "
            "another master key, or a tampered row"
        ) from None


def _context(client_id: str) -> str:
    # Bound into the GCM tag: a ciphertext moved to another client's row fails to decrypt.
    return f"api_clients.secret:{client_id}"


def _row(engine: Engine, client_id: str) -> RowMapping | None:
    query = select(API_CLIENTS).where(API_CLIENTS.c.client_id == client_id)
    with engine.connect() as connection:
        return connection.execute(query).mappings().first()


def _client(row: RowMapping) -> Client:
    created = row["created_at"]
    if created.tzinfo is None:  # SQLite keeps no zone; every value was written in UTC
        created = created.replace(tzinfo=UTC)
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        branches=tuple(row["branches"]),
        enabled=bool(row["enabled"]),
        created_at=created,
    )
