"""Who is calling, and what the calls run against.

`Gateway` holds one app's resources: the ledger engine, the counter (policies, models and
online profiles loaded once) and the metrics; `create_app` starts it at startup (or on the
first call, for a test client used without its lifespan).

The dependencies check, in this order: a bearer access token (`tokens.verify`: 401), the
route's scope (`tokens.require_scope`: 403) and, on write routes under ``/v1``, the request
signature over the raw body bytes with replay protection (`signing.check`: 401 naming the
header). Routes then check branches themselves (`tokens.require_branch`), since the branch
is in the body or in the stored record.
"""

# No `from __future__ import annotations`: the dependencies built in `scoped` and `signed`
# close over `scope`, and FastAPI must see their annotations evaluated.

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from purecredit.api import audit, clients, idempotency, limits, signing, tokens
from purecredit.api.calls import Metrics, current
from purecredit.api.tokens import Claims
from purecredit.core.errors import Unauthorized
from purecredit.core.keys import derive_key, load_master_key
from purecredit.core.settings import Settings
from purecredit.decide.counter import Counter
from purecredit.store.ledger import ledger_engine

_CUSTOMER_REF_INFO = b"purecredit customer ref v1"
_SECRET_CACHE_SECONDS = 60.0


def create_tables(engine: Engine) -> None:
    """Every table the gateway writes, if missing: its own, and the loan book's. `purecredit
    serve --workers N` calls it once before the workers start, so they never race to create
    them."""
    from purecredit.api import routes_applications, routes_customers
    from purecredit.lend import tables as book_tables
    from purecredit.monitor import tables as monitor_tables
    from purecredit.report import tables as report_tables

    for module in (
        clients,
        signing,
        idempotency,
        limits,
        audit,
        routes_customers,
        routes_applications,
        book_tables,
        monitor_tables,
        report_tables,
    ):
        module.create_tables(engine)


class Gateway:
    """One app's resources, made once (`start`) and shared by every request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._counter: Counter | None = None
        self._ref_key: bytes | None = None
        self._appender: audit.GroupAppender | None = None
        self._secrets: dict[str, tuple[float, str]] = {}

    def start(self) -> "Gateway":
        """Open the ledger, create the gateway's tables and load the counter (idempotent)."""
        with self._lock:
            if self._counter is None:
                engine = ledger_engine(self.settings)
                create_tables(engine)
                self._ref_key = derive_key(load_master_key(self.settings), _CUSTOMER_REF_INFO)
                self._counter = Counter(self.settings, engine)
                self._appender = audit.GroupAppender(engine)
                self._engine = engine
        return self

    def stop(self) -> None:
        with self._lock:
            if self._appender is not None:
                self._appender.close()
                self._appender = None
            if self._engine is not None:
                self._engine.dispose()

    @property
    def engine(self) -> Engine:
        self.start()
        assert self._engine is not None
        return self._engine

    @property
    def counter(self) -> Counter:
        self.start()
        assert self._counter is not None
        return self._counter

    def resources(self) -> tuple[audit.GroupAppender, Metrics]:
        """What `calls.AuditMiddleware` needs: where entries go, and the counters."""
        self.start()
        assert self._appender is not None
        return self._appender, self.metrics

    def client_secret(self, client_id: str) -> str:
        """The client's secret for checking signatures, read and decrypted once a minute at
        most (a read and a decryption per signed call otherwise). A client disabled meanwhile
        keeps signing until then, as it keeps its unexpired access token."""
        now = time.monotonic()
        cached = self._secrets.get(client_id)
        if cached is None or now - cached[0] > _SECRET_CACHE_SECONDS:
            secret = clients.client_secret(self.engine, self.settings, client_id)
            self._secrets[client_id] = cached = (now, secret)
        return cached[1]

    def customer_ref(self, subject: str) -> str:
        """The opaque reference of a subject (lake token or USCC): a keyed HMAC under a key of
        its own, so it reveals nothing and cannot be linked to the lake's tokens outside."""
        self.start()
        assert self._ref_key is not None
        digest = hmac.new(self._ref_key, subject.encode("utf-8"), hashlib.sha256).hexdigest()
        return "cr_" + digest[:32]


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


GatewayDep = Annotated[Gateway, Depends(gateway)]

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token from POST /oauth/token (client credentials).",
)
_timestamp = APIKeyHeader(
    name="X-Timestamp",
    auto_error=False,
    scheme_name="X-Timestamp",
    description="Unix seconds; within 300 s of the server's clock (signed write requests).",
)
_nonce = APIKeyHeader(
    name="X-Nonce",
    auto_error=False,
    scheme_name="X-Nonce",
    description="16-128 characters of A-Z a-z 0-9 - . _ ~, never reused (signed writes).",
)
_signature = APIKeyHeader(
    name="X-Signature",
    auto_error=False,
    scheme_name="X-Signature",
    description="Hex HMAC-SHA256 keyed with the client secret of "
    "METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256_HEX(BODY) (see docs/api.md).",
)


def bearer_claims(
    request: Request,
    gw: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Claims:
    """The verified claims of the call's bearer token, or 401."""
    if credentials is None:
        raise Unauthorized("a bearer access token is required", field="Authorization")
    claims = tokens.verify(gw.settings, credentials.credentials)
    current(request).client_id = claims.client_id
    return claims


def scoped(scope: str) -> Callable[..., Claims]:
    """A dependency: the caller's claims, which must carry `scope` (else 403)."""

    def dependency(claims: Annotated[Claims, Depends(bearer_claims)], gw: GatewayDep) -> Claims:
        tokens.require_scope(claims, scope)
        # Counted once the caller is known and allowed: a refused token costs no quota.
        limits.check(gw.engine, claims.client_id, gw.settings.api_rate_per_minute, time.time())
        return claims

    return dependency


def signed(scope: str) -> Callable[..., Coroutine[Any, Any, Claims]]:
    """A dependency for write routes: `scoped(scope)`, then the request signature over the
    raw body bytes, the nonce recorded so that a replay is refused."""

    async def dependency(
        request: Request,
        gw: GatewayDep,
        claims: Annotated[Claims, Depends(scoped(scope))],
        _timestamp_header: Annotated[str | None, Security(_timestamp)],
        _nonce_header: Annotated[str | None, Security(_nonce)],
        _signature_header: Annotated[str | None, Security(_signature)],
    ) -> Claims:
        body = await request.body()  # at most 1 MiB: `limits.BodyLimit` refused anything more
        await run_in_threadpool(_check_signature, gw, claims, request, body)
        # An Idempotency-Key replay is answered by the route (`idempotency.serve`), inside
        # the transaction that claims the key: the signature is checked first, every time.
        return claims

    return dependency


def _check_signature(gw: Gateway, claims: Claims, request: Request, body: bytes) -> None:
    secret = gw.client_secret(claims.client_id)
    signing.check(
        gw.engine,
        secret,
        claims.client_id,
        request.method,
        _path_as_sent(request),
        request.headers,
        body,
        time.time(),
    )


def _path_as_sent(request: Request) -> str:
    """The path as the client sent it (percent-encoding kept), with ``?query`` if any."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path
