"""Every call, audited and counted: a pure ASGI middleware around the whole gateway.

Each request gets a fresh request id (answered as ``X-Request-Id``) and a `Call` in its scope,
on which the routes note who called (`client_id`), about whom (`subject`: the lake token or
USCC) and how it ended (`outcome`). When the response starts, the middleware appends one
audit entry (client, method, route *template*, subject, status, outcome, latency, request id)
and only then lets the status line through: a client never holds a 2xx whose call is not in
the audit log. If the append fails the client gets a 500 instead of the answer. The entries
of concurrent calls are committed together (`audit.GroupAppender`). Health probes
(`/healthz`, `/readyz`) are not audited: they are about no one, and a probe every few seconds
would bury the log's real calls.

The decision a call makes is committed by the counter in its own transaction, before the
entry: a crash between the two leaves a decision whose caller saw no 2xx (the call's entry
is then missing from the log, but no answered decision ever is).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from purecredit.api import audit
from purecredit.api.errors import masked_path

logger = logging.getLogger(__name__)

CALL_KEY: Final = "purecredit.call"
PROBES: Final = frozenset({"/healthz", "/readyz"})
# As audit's check: a template of lower-case words and {params}; anything else is unmatched.
_TEMPLATE = re.compile(r"/|(/([a-z][a-z0-9._-]*|\{[A-Za-z_][A-Za-z0-9_]*\}))+")
_OUTCOMES: Final = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "bad_method",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
}
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Call:
    """What the routes learn about a call, for its audit entry."""

    request_id: str
    client_id: str | None = None
    subject: str | None = None
    outcome: str | None = None


def current(request: Request) -> Call:
    """The call being served (set by `AuditMiddleware`)."""
    call: Call = request.scope[CALL_KEY]
    return call


def default_outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status >= 500:
        return "error"
    return _OUTCOMES.get(status, "refused")


class Metrics:
    """Per-process request counters and latency histograms, in Prometheus text format.

    Each worker process counts its own calls; Prometheus sums the workers' series."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._outcomes: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(
        self, method: str, endpoint: str, status: int, outcome: str, seconds: float
    ) -> None:
        with self._lock:
            self._requests[(method, endpoint, status)] += 1
            self._outcomes[(endpoint, outcome)] += 1
            counts = self._buckets.setdefault(endpoint, [0] * (len(_BUCKETS) + 1))
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[endpoint] += seconds

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        with self._lock:
            lines = [
                "# HELP purecredit_http_requests_total Calls served, by route template and status.",
                "# TYPE purecredit_http_requests_total counter",
            ]
            for (method, endpoint, status), n in sorted(self._requests.items()):
                labels = _labels(method=method, endpoint=endpoint, status=str(status))
                lines.append(f"purecredit_http_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP purecredit_call_outcomes_total Calls by outcome (approve, decline, ...).",
                "# TYPE purecredit_call_outcomes_total counter",
            ]
            for (endpoint, outcome), n in sorted(self._outcomes.items()):
                labels = _labels(endpoint=endpoint, outcome=outcome)
                lines.append(f"purecredit_call_outcomes_total{{{labels}}} {n}")
            name = "purecredit_http_request_duration_seconds"
            lines += [
                f"# HELP {name} Time to the response's status line.",
                f"# TYPE {name} histogram",
            ]
            for endpoint, counts in sorted(self._buckets.items()):
                bounds = [*(repr(b) for b in _BUCKETS), "+Inf"]
                for bound, n in zip(bounds, counts, strict=True):
                    lines.append(f"{name}_bucket{{{_labels(endpoint=endpoint, le=bound)}}} {n}")
                lines.append(f"{name}_sum{{{_labels(endpoint=endpoint)}}} {self._sums[endpoint]}")
                lines.append(f"{name}_count{{{_labels(endpoint=endpoint)}}} {counts[-1]}")
        return "\n".join(lines) + "\n"


def _labels(**values: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{key}="{escape(value)}"' for key, value in values.items())


def _endpoint(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and _TEMPLATE.fullmatch(path) else audit.UNMATCHED


def _problem_500(request_id: str, instance: str) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "type": "https://purecredit.dev/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "The server could not complete the request.",
            "instance": masked_path(instance),
        }
    ).encode()
    start = {
        "type": "http.response.start",
        "status": 500,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class AuditMiddleware:
    """See the module docstring. `resources` gives the ledger engine and the metrics of the
    app (started on first use)."""

    def __init__(
        self, app: ASGIApp, resources: Callable[[], tuple[audit.GroupAppender, Metrics]]
    ) -> None:
        self.app = app
        self.resources = resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + uuid.uuid4().hex
        header = (b"x-request-id", request_id.encode())
        if scope["path"] in PROBES:

            async def tag(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), header]
                await send(message)

            await self.app(scope, receive, tag)
            return

        call = Call(request_id)
        scope[CALL_KEY] = call
        started = time.perf_counter()
        state = {"started": False, "replaced": False}

        async def audited(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                ok = await self._record(scope, call, int(message["status"]), started)
                if not ok:
                    state["replaced"] = True
                    for replacement in _problem_500(request_id, scope["path"]):
                        await send(replacement)
                    return
                message["headers"] = [*message.get("headers", []), header]
            elif state["replaced"]:
                return  # the app's own body, after its answer was replaced by a 500
            await send(message)

        try:
            await self.app(scope, receive, audited)
        except Exception:
            logger.exception("unhandled error serving %s", _endpoint(scope))
            if state["started"]:
                raise
            await self._record(scope, call, 500, started)
            for message in _problem_500(request_id, scope["path"]):
                await send(message)

    async def _record(self, scope: Scope, call: Call, status: int, started: float) -> bool:
        seconds = time.perf_counter() - started
        endpoint = _endpoint(scope)
        outcome = call.outcome or default_outcome(status)
        entry = audit.AuditEntry(
            request_id=call.request_id,
            client_id=call.client_id,
            method=str(scope["method"])[:10],
            endpoint=endpoint,
            subject=call.subject,
            status=status,
            outcome=outcome[:40],
            latency_ms=seconds * 1000.0,
        )
        try:
            appender, metrics = self.resources()
            metrics.observe(entry.method, endpoint, status, outcome, seconds)
            await asyncio.wrap_future(appender.submit(entry))
        except Exception:
            # Never the entry itself in the log line: it may name a subject.
            logger.exception("could not audit call %s on %s", call.request_id, endpoint)
            return False
        return True
