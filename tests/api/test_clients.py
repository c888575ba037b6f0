"""The API client registry: secrets encrypted at rest, checked in constant time, scopes
closed, branch clients restricted, clients disabled; and `purecredit clients` on the CLI.
Every ledger test runs on SQLite and on PostgreSQL (in a schema of its own)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update
from typer.testing import CliRunner

from purecredit.api import clients
from purecredit.api.clients import API_CLIENTS, SCOPES
from purecredit.cli.clients import app as clients_cli
from purecredit.core.errors import Invalid, Misconfigured, NotFound, Unauthorized
from purecredit.core.settings import Settings, get_settings
from purecredit.store.ledger import make_engine

MASTER = "3c" * 32


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    clients.create_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, master_key=MASTER)


def test_a_created_client_authenticates(engine: Engine, settings: Settings) -> None:
    made = clients.create_client(
        engine, settings, "branch system", ["applications:write", "consents:write"], ["341602001"]
    )
    assert made.client_id.startswith("cl_") and len(made.client_secret) >= 40
    assert made.client_secret not in repr(made)
    client = clients.authenticate(engine, settings, made.client_id, made.client_secret)
    assert client.name == "branch system"
    assert client.scopes == ("applications:write", "consents:write")
    assert client.branches == ("341602001",)
    assert client.enabled and client.created_at.tzinfo is not None
    assert client.may_act_for("341602001") and not client.may_act_for("341602002")
    assert clients.client_secret(engine, settings, made.client_id) == made.client_secret
    assert clients.list_clients(engine) == [client]


def test_a_client_without_branches_acts_for_all(engine: Engine, settings: Settings) -> None:
    made = clients.create_client(engine, settings, "risk console", ["metrics:read"])
    client = clients.get_client(engine, made.client_id)
    assert client.branches == () and client.may_act_for("341602001")


def test_secrets_are_not_stored_in_plain_text(engine: Engine, settings: Settings) -> None:
    made = clients.create_client(engine, settings, "mobile banking", list(SCOPES))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_clients")).all()
    raw = " ".join(str(value) for row in rows for value in row)
    assert made.client_id in raw  # the row is there ...
    assert made.client_secret not in raw  # ... but not its secret
    assert made.client_secret[:12] not in raw
    # Another data zone's key cannot read it.
    other = Settings(home=settings.home, master_key="4d" * 32)
    with pytest.raises(Misconfigured):
        clients.client_secret(engine, other, made.client_id)


def test_a_secret_copied_to_another_row_does_not_decrypt(
    engine: Engine, settings: Settings
) -> None:
    first = clients.create_client(engine, settings, "one", ["applications:read"])
    second = clients.create_client(engine, settings, "two", ["applications:read"])
    columns = API_CLIENTS.c
    with engine.begin() as conn:
        sealed = conn.execute(
            text("SELECT secret_encrypted FROM api_clients WHERE client_id = :c"),
            {"c": first.client_id},
        ).scalar_one()
        conn.execute(
            update(API_CLIENTS)
            .where(columns.client_id == second.client_id)
            .values(secret_encrypted=sealed)
        )
    with pytest.raises(Misconfigured):
        clients.authenticate(engine, settings, second.client_id, first.client_secret)


def test_wrong_unknown_and_disabled_are_refused_alike(engine: Engine, settings: Settings) -> None:
    made = clients.create_client(engine, settings, "gov platform", ["profiles:read"])
    attempts = [
        (made.client_id, made.client_secret + "x"),
        (made.client_id, made.client_secret[:-1]),
        (made.client_id, ""),
        ("cl_" + "0" * 20, made.client_secret),
    ]
    for client_id, secret in attempts:
        with pytest.raises(Unauthorized) as caught:
            clients.authenticate(engine, settings, client_id, secret)
        assert caught.value.status == 401
        assert caught.value.detail == "invalid client credentials"
    assert not clients.set_enabled(engine, made.client_id, False).enabled
    with pytest.raises(Unauthorized, match="invalid client credentials"):
        clients.authenticate(engine, settings, made.client_id, made.client_secret)
    assert clients.set_enabled(engine, made.client_id, True).enabled
    assert clients.authenticate(engine, settings, made.client_id, made.client_secret).enabled
    with pytest.raises(NotFound):
        clients.set_enabled(engine, "cl_nobody", False)


@pytest.mark.parametrize(
    ("name", "scopes", "branches", "field", "words"),
    [
        ("x", ["applications:write", "loans:delete"], [], "scopes", "'loans:delete'"),
        ("x", ["APPLICATIONS:WRITE"], [], "scopes", "unknown scope"),
        ("x", [], [], "scopes", "at least one scope"),
        ("  ", ["metrics:read"], [], "name", "client name"),
        ("x", ["metrics:read"], ["34-16"], "branches", "'34-16'"),
    ],
)
def test_bad_registrations_name_the_field(
    tmp_path: Path,
    settings: Settings,
    name: str,
    scopes: list[str],
    branches: list[str],
    field: str,
    words: str,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clients.create_tables(engine)
    with pytest.raises(Invalid) as caught:
        clients.create_client(engine, settings, name, scopes, branches)
    assert caught.value.field == field and words in caught.value.detail
    assert clients.list_clients(engine) == []
    engine.dispose()


def test_the_cli_creates_and_lists_without_secrets(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", url)
    monkeypatch.setenv("PURECREDIT_MASTER_KEY", MASTER)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        args = [
            "create",
            "--name",
            "branch 001",
            "--scopes",
            "applications:write",
            "--scopes",
            "applications:read",
            "--branch",
            "341602001",
            "--json",
        ]
        made = runner.invoke(clients_cli, args)
        assert made.exit_code == 0, made.output
        created = json.loads(made.stdout)
        assert set(created) == {"client_id", "client_secret"}
        listed = runner.invoke(clients_cli, ["list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert created["client_secret"] not in listed.output
        (entry,) = json.loads(listed.stdout)
        assert entry["client_id"] == created["client_id"]
        assert entry["scopes"] == ["applications:write", "applications:read"]
        assert entry["branches"] == ["341602001"] and entry["enabled"] is True
        assert "client_secret" not in entry and "secret_encrypted" not in entry
        engine = make_engine(url)
        settings = get_settings()
        client = clients.authenticate(
            engine, settings, created["client_id"], created["client_secret"]
        )
        assert client.name == "branch 001"
        disabled = runner.invoke(clients_cli, ["disable", created["client_id"]])
        assert disabled.exit_code == 0 and not clients.get_client(engine, client.client_id).enabled
        engine.dispose()
        bad = runner.invoke(clients_cli, ["create", "--name", "x", "--scopes", "root"])
        assert bad.exit_code == 1
        assert "unknown scope 'root'" in bad.output and "field scopes" in bad.output
    finally:
        get_settings.cache_clear()
