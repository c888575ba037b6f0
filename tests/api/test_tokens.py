"""Access tokens: what a good token says, and every forged, stale or foreign one refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from purecredit.api import tokens
from purecredit.api.clients import Client
from purecredit.core.errors import Forbidden, Unauthorized
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings

CLIENT = Client(
    client_id="cl_0123456789abcdef0123",
    name="branch system",
    scopes=("applications:write", "applications:read"),
    branches=("341602001",),
    enabled=True,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, master_key="5e" * 32)


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    header, payload, signature = token.split(".")
    return _json(header), _json(payload), signature


def _refused(settings: Settings, token: str, words: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        tokens.verify(settings, token)
    assert caught.value.status == 401 and words in caught.value.detail


def test_a_token_carries_the_client(settings: Settings) -> None:
    token, expires_in = tokens.issue(settings, CLIENT)
    claims = tokens.verify(settings, token)
    assert expires_in == tokens.LIFETIME_SECONDS == 900
    assert claims.client_id == CLIENT.client_id
    assert claims.scopes == {"applications:write", "applications:read"}
    assert claims.branches == ("341602001",)
    assert claims.expires_at - claims.issued_at == timedelta(seconds=expires_in)
    header, payload, _ = _parts(token)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    assert payload["iss"] == "purecredit" and payload["sub"] == CLIENT.client_id
    assert payload["scope"] == "applications:write applications:read"
    assert tokens.verify(settings, tokens.issue(settings, CLIENT)[0]).token_id != claims.token_id


def test_the_signing_key_is_its_own(settings: Settings) -> None:
    keys = data_zone_keys(settings)
    key = tokens.signing_key(settings)
    assert len(key) == 32 and key not in (keys.token_key, keys.field_key)


def test_alg_none_is_refused(settings: Settings) -> None:
    _, payload, _ = _parts(tokens.issue(settings, CLIENT)[0])
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_b64({'alg': alg, 'typ': 'at+jwt'})}.{_b64(payload)}."
        _refused(settings, unsigned, "must be signed HS256")


def test_a_token_from_another_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    other = Settings(home=tmp_path, master_key="6f" * 32)
    _refused(settings, tokens.issue(other, CLIENT)[0], "invalid")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the forger's
def test_another_algorithm_on_our_key_is_refused(settings: Settings) -> None:
    _, payload, _ = _parts(tokens.issue(settings, CLIENT)[0])
    forged = jwt.encode(
        payload, tokens.signing_key(settings), algorithm="HS512", headers={"typ": "at+jwt"}
    )
    _refused(settings, forged, "must be signed HS256")


def test_an_expired_token_is_refused(settings: Settings) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    _refused(settings, tokens.issue(settings, CLIENT, now=an_hour_ago)[0], "expired")


def test_a_tampered_token_is_refused(settings: Settings) -> None:
    token = tokens.issue(settings, CLIENT)[0]
    header, payload, signature = _parts(token)
    widened = {**payload, "scope": "applications:write metrics:read", "branches": []}
    _refused(settings, f"{_b64(header)}.{_b64(widened)}.{signature}", "invalid")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BA")
    _refused(settings, token.rsplit(".", 1)[0] + "." + flipped, "invalid")
    _refused(settings, "not-a-token", "invalid")


def test_a_token_from_another_issuer_is_refused(settings: Settings) -> None:
    _, payload, _ = _parts(tokens.issue(settings, CLIENT)[0])
    foreign = jwt.encode(
        {**payload, "iss": "elsewhere"},
        tokens.signing_key(settings),
        algorithm="HS256",
        headers={"typ": "at+jwt"},
    )
    _refused(settings, foreign, "another issuer")


def test_a_signed_jwt_that_is_not_an_access_token_is_refused(settings: Settings) -> None:
    _, payload, _ = _parts(tokens.issue(settings, CLIENT)[0])
    key = tokens.signing_key(settings)
    _refused(settings, jwt.encode(payload, key, algorithm="HS256"), "not an access token")
    missing_scope = {k: v for k, v in payload.items() if k != "scope"}
    bare = jwt.encode(missing_scope, key, algorithm="HS256", headers={"typ": "at+jwt"})
    _refused(settings, bare, "invalid")


def test_scopes_and_branches_are_enforced(settings: Settings) -> None:
    claims = tokens.verify(settings, tokens.issue(settings, CLIENT)[0])
    tokens.require_scope(claims, "applications:write")
    tokens.require_branch(claims, "341602001")
    with pytest.raises(Forbidden) as caught:
        tokens.require_scope(claims, "metrics:read")
    assert caught.value.status == 403 and caught.value.field == "scope"
    assert "metrics:read" in caught.value.detail
    with pytest.raises(Forbidden, match="341602002"):
        tokens.require_branch(claims, "341602002")


def test_a_disabled_client_gets_no_token(settings: Settings) -> None:
    disabled = Client(**{**CLIENT.__dict__, "enabled": False})
    with pytest.raises(Unauthorized, match="disabled"):
        tokens.issue(settings, disabled)
