"""A county's sources served over HTTP the way a government data-exchange platform serves them.

Pages of JSON records behind a bearer token, with a per-token rate limit, so the ingest API
connector meets paging, refusals and 429s on loopback exactly as it would in production.
Records are read from the county's delivered files with the ingest file readers, keyed by the
delivered header; a record the reader cannot read is served as ``{"_record", "_raw",
"_error"}``, so reading a source through the API and reading its files quarantine the same
records. Page arithmetic uses the manifest's row counts, so no file is read before it is asked
for; a few recently read files are cached.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from purecredit.core.errors import Invalid, NotFound, PurecreditError, Unauthorized
from purecredit.ingest.connectors.base import RECORD, Delivered
from purecredit.ingest.connectors.files import read_delivered
from purecredit.synth.manifest import Manifest, SourceEntry, read_manifest

PROBLEM_JSON = "application/problem+json"
CACHED_FILES = 4


class RateLimited(PurecreditError):
    """Too many requests for one token; ``Retry-After`` says when to come back."""

    status: ClassVar[int] = 429
    title: ClassVar[str] = "Too many requests"
    slug: ClassVar[str] = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TokenBucket:
    """Per-token bucket: `rate` requests a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}  # token -> (tokens left, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            left, at = self._state.get(key, (self.burst, now))
            left = min(self.burst, left + (now - at) * self.rate)
            if left < 1.0:
                self._state[key] = (left, now)
                wait = math.ceil((1.0 - left) / self.rate)
                raise RateLimited(f"more than {self.rate:g} requests a second", retry_after=wait)
            self._state[key] = (left - 1.0, now)


@dataclass(frozen=True)
class _Span:
    """Pages of one file within its source's page sequence (1-based, inclusive)."""

    path: str
    records: int
    first: int
    last: int


class _County:
    """The manifest's page arithmetic and a small cache of read files."""

    def __init__(self, root: Path, manifest: Manifest, page_size: int) -> None:
        self.root = root
        self.manifest = manifest
        self.page_size = page_size
        self._cache: OrderedDict[str, tuple[Delivered, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def source(self, name: str) -> SourceEntry:
        entry = self.manifest.sources.get(name)
        if entry is None:
            raise NotFound(f"no source named {name!r}", field="source")
        return entry

    def spans(self, name: str, file: str | None) -> list[_Span]:
        spans: list[_Span] = []
        for item in self.source(name).files:
            if file is not None and item.path != file:
                continue
            first = spans[-1].last + 1 if spans else 1
            pages = max(1, math.ceil(item.rows / self.page_size))
            spans.append(_Span(item.path, item.rows, first, first + pages - 1))
        if not spans:
            raise NotFound(f"source {name!r} delivered no file {file!r}", field="file")
        return spans

    def records(self, name: str, span: _Span, page: int) -> list[dict[str, Any]]:
        delivered, order = self._read(name, span.path)
        start = (page - span.first) * self.page_size
        # The last page takes whatever is left, should the file hold more than the manifest says.
        picked = order[start:] if page == span.last else order[start : start + self.page_size]
        good = picked[picked < delivered.table.num_rows]
        bad = picked[picked >= delivered.table.num_rows] - delivered.table.num_rows
        rows: list[dict[str, Any]] = _json_safe(delivered.table.take(pa.array(good))).to_pylist()
        for reject in delivered.rejects.take(pa.array(bad)).to_pylist():
            rows.append(
                {RECORD: reject["record"], "_raw": reject["raw"], "_error": reject["reason"]}
            )
        return sorted(rows, key=lambda row: (row[RECORD] is None, row[RECORD] or 0))

    def _read(self, name: str, path: str) -> tuple[Delivered, np.ndarray]:
        with self._lock:
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path]
            entry = self.source(name)
            delivered = read_delivered(
                self.root / path, fmt=entry.format, encoding=entry.encoding, file=path
            )
            numbers = pa.concat_arrays(
                [
                    delivered.table.column(RECORD).combine_chunks().cast(pa.int64()),
                    delivered.rejects.column("record").combine_chunks().fill_null(0),
                ]
            )
            order = np.argsort(numbers.to_numpy(zero_copy_only=False), kind="stable")
            self._cache[path] = (delivered, order)
            while len(self._cache) > CACHED_FILES:
                self._cache.popitem(last=False)
            return delivered, order


def _json_safe(table: pa.Table) -> pa.Table:
    """Types JSON has no form for become text (dates, decimals, binary); NaN becomes null."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_floating(kind):
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
        elif not (
            pa.types.is_integer(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_null(kind)
        ):
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def create_server_app(
    county_dir: Path, *, token: str, page_size: int = 5000, rate_per_second: float = 50.0
) -> FastAPI:
    """The platform for the county under `county_dir` (its ``manifest.json`` lists what it
    serves); `token` is the one bearer token it accepts."""
    manifest_path = county_dir / "manifest.json"
    if not manifest_path.is_file():
        raise Invalid(f"{county_dir} holds no manifest.json: not a built county", field="dir")
    if not token or page_size < 1 or rate_per_second <= 0:
        raise Invalid("a token, a page size >= 1 and a positive rate are required")
    county = _County(county_dir, read_manifest(manifest_path), page_size)
    bucket = TokenBucket(rate_per_second, burst=max(1.0, rate_per_second))

    def caller(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Unauthorized("send the platform's bearer token in the Authorization header")
        bucket.take(given.strip())

    app = FastAPI(
        title="County data-exchange platform (synthetic)",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(caller)],  # every route: the token first, then its rate limit
    )
    _install_problems(app)

    @app.get("/api/sources")
    def sources() -> dict[str, Any]:
        listed = []
        for name, entry in county.manifest.sources.items():
            spans = county.spans(name, None)
            files = [{"file": s.path, "records": s.records} for s in spans]
            listed.append(
                {
                    "name": name,
                    "format": entry.format,
                    "encoding": entry.encoding,
                    "records": entry.rows,
                    "pages": spans[-1].last,
                    "files": files,
                }
            )
        return {"sources": listed}

    @app.get("/api/sources/{source}/records", name="records")
    def records(
        request: Request,
        source: str,
        page: Annotated[int, Query(ge=1)] = 1,
        file: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        spans = county.spans(source, file)
        pages = spans[-1].last
        if page > pages:
            raise NotFound(f"source {source!r} has {pages} pages, not {page}", field="page")
        span = next(s for s in spans if s.first <= page <= s.last)
        following = str(request.url.include_query_params(page=page + 1)) if page < pages else None
        return {
            "source": source,
            "file": span.path,
            "page": page,
            "pages": pages,
            "records": county.records(source, span, page),
            "next": following,
        }

    return app


def _install_problems(app: FastAPI) -> None:
    """RFC 9457 problem details for every refusal, with the headers each one needs."""

    @app.exception_handler(PurecreditError)
    async def _known(request: Request, exc: PurecreditError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="data-exchange"'
        return JSONResponse(
            exc.to_problem(instance=request.url.path),
            status_code=exc.status,
            media_type=PROBLEM_JSON,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        problem = Invalid(str(first.get("msg", "invalid request")), field=where or None)
        return JSONResponse(
            problem.to_problem(instance=request.url.path),
            status_code=problem.status,
            media_type=PROBLEM_JSON,
        )
