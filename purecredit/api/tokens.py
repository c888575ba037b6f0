"""OAuth 2.0 client-credentials access tokens (RFC 6749 section 4.4) as short-lived JWTs.

Tokens are JWTs (RFC 7519) in the RFC 9068 access-token profile (header ``typ: at+jwt``),
signed HS256 with a key derived from the data zone's master key for this purpose only, so the
signing key never leaves the data zone and a leak of another purpose's key does not expose it.
The algorithm is fixed here, on the server: a token's own header is never trusted to choose it,
which is what defeats ``alg: none`` and algorithm-confusion forgeries. A token stays valid
until it expires even if its client is disabled meanwhile, which is why it lives minutes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import jwt

from purecredit.api.clients import Client
from purecredit.core.errors import Forbidden, Unauthorized
from purecredit.core.keys import derive_key, load_master_key
from purecredit.core.settings import Settings

ALGORITHM: Final = "HS256"
ISSUER: Final = "purecredit"
TOKEN_TYPE: Final = "at+jwt"  # RFC 9068 section 2.1
LIFETIME_SECONDS: Final = 900
_KEY_INFO = b"purecredit access token v1"
_REQUIRED = ["iss", "sub", "iat", "exp", "jti", "scope"]


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its caller."""

    client_id: str
    scopes: frozenset[str]
    branches: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str

    def may_act_for(self, branch: str) -> bool:
        """A branch client acts only for its own branches; any other for every branch."""
        return not self.branches or branch in self.branches


def signing_key(settings: Settings) -> bytes:
    """The HS256 key: HKDF of the master key (RFC 5869), for access tokens only."""
    return derive_key(load_master_key(settings), _KEY_INFO)


def issue(
    settings: Settings,
    client: Client,
    *,
    now: datetime | None = None,
    lifetime: int = LIFETIME_SECONDS,
) -> tuple[str, int]:
    """A signed access token for an authenticated client, and its lifetime in seconds."""
    if not client.enabled:
        raise Unauthorized("this client is disabled")
    issued = int((now or datetime.now(UTC)).timestamp())
    claims = {
        "iss": ISSUER,
        "sub": client.client_id,
        "scope": " ".join(client.scopes),  # space-delimited, as RFC 6749 section 3.3
        "branches": list(client.branches),
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(16),
    }
    token = jwt.encode(
        claims, signing_key(settings), algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE}
    )
    return token, lifetime


def verify(settings: Settings, token: str) -> Claims:
    """The claims of a token this server issued, or `Unauthorized` saying what was wrong.

    Only HS256 with our key is accepted (``alg: none``, another algorithm or another key
    fail), and the token must be unexpired, from our issuer and of the access-token type.
    """
    try:
        decoded = jwt.decode_complete(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired", field="access_token") from None
    except jwt.InvalidIssuerError:
        raise Unauthorized("the access token has another issuer", field="access_token") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthorized(
            f"access tokens must be signed {ALGORITHM}", field="access_token"
        ) from None
    except jwt.PyJWTError:
        raise Unauthorized("the access token is invalid", field="access_token") from None
    if decoded["header"].get("typ") != TOKEN_TYPE:
        raise Unauthorized("not an access token", field="access_token")
    return _claims(decoded["payload"])


def require_scope(claims: Claims, scope: str) -> None:
    """Raise `Forbidden` unless the token carries `scope`."""
    if scope not in claims.scopes:
        raise Forbidden(f"this client lacks the scope {scope}", field="scope")


def require_branch(claims: Claims, branch: str) -> None:
    """Raise `Forbidden` when a branch client acts for a branch that is not its own."""
    if not claims.may_act_for(branch):
        raise Forbidden(f"this client may not act for branch {branch}", field="branch")


def _claims(payload: dict[str, object]) -> Claims:
    scope, branches = payload["scope"], payload.get("branches", [])
    if not isinstance(scope, str) or not isinstance(branches, list):
        raise Unauthorized("the access token is invalid", field="access_token")
    return Claims(
        client_id=str(payload["sub"]),
        scopes=frozenset(scope.split()),
        branches=tuple(str(code) for code in branches),
        issued_at=datetime.fromtimestamp(int(str(payload["iat"])), UTC),
        expires_at=datetime.fromtimestamp(int(str(payload["exp"])), UTC),
        token_id=str(payload["jti"]),
    )
