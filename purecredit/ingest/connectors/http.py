"""The API connector: a government data-exchange platform's paged JSON API -> `RawBatch`es.

The platform (`purecredit synth serve` plays it locally) answers
``GET /api/sources/{source}/records?page=N`` with ``{"source", "file", "page", "pages",
"records", "next"}``; records are JSON objects keyed by delivered header with a ``_record``
number, and a record the platform could not read comes as ``{"_record", "_raw", "_error"}`` so
it is quarantined here like any unreadable line. One `RawBatch` per delivered file, named
``api/<source>/<file name>``, hashed over the canonical JSON of its records.

Transient failures (timeouts, dropped connections, 5xx, 429) are retried with exponential
backoff, waiting at least what ``Retry-After`` asks; refusals (401, 403, 404) are not retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

import httpx2
import pyarrow as pa

from purecredit.core.errors import Forbidden, NotFound, Unauthorized
from purecredit.ingest.catalog import SourceDef
from purecredit.ingest.connectors.base import (
    RECORD,
    Delivered,
    RawBatch,
    SourceUnavailable,
    rejects_table,
    to_array,
    to_batch,
)

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = 0.5  # first wait; doubles on every further attempt
MAX_WAIT_SECONDS = 60.0  # no single wait is longer, whatever Retry-After says


def read_api(
    base_url: str, source: SourceDef, *, token: str, timeout: float = 10, retries: int = 3
) -> list[RawBatch]:
    """Every record of `source` the platform at `base_url` serves, following ``next`` links.

    Raises `Unauthorized`/`Forbidden`/`NotFound` when the platform refuses, and
    `SourceUnavailable` when it still fails after `retries` retries of one page."""
    url: str | None = urljoin(
        base_url.rstrip("/") + "/", f"api/sources/{quote(source.name)}/records?page=1"
    )
    files: dict[str, _File] = {}
    seen: set[str] = set()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with httpx2.Client(timeout=timeout, headers=headers) as client:
        while url is not None:
            if url in seen:
                raise SourceUnavailable(f"the platform linked back to a page already read: {url}")
            seen.add(url)
            page = _page(_get(client, url, retries, source.name), source.name)
            name = str(page["file"])
            files.setdefault(name, _File(name)).add(page["records"])
            link = page.get("next")
            url = urljoin(url, link) if isinstance(link, str) and link else None
    return [entry.batch(source) for entry in files.values()]


def _get(client: httpx2.Client, url: str, retries: int, source: str) -> Any:
    last = "no attempt made"
    for attempt in range(retries + 1):
        wait = min(BACKOFF_SECONDS * 2**attempt, MAX_WAIT_SECONDS)
        try:
            response = client.get(url)
        except (httpx2.TimeoutException, httpx2.TransportError) as exc:
            last = f"{type(exc).__name__}"
        else:
            status = response.status_code
            if status == 200:
                try:
                    return response.json()
                except ValueError:
                    raise SourceUnavailable(
                        f"{source}: the platform answered with no JSON"
                    ) from None
            _refusal(status, source)
            if status != 429 and status < 500:
                raise SourceUnavailable(f"{source}: the platform answered HTTP {status}")
            last = f"HTTP {status}"
            wait = min(max(wait, _retry_after(response)), MAX_WAIT_SECONDS)
        if attempt < retries:
            logger.info("%s: %s, retrying in %.1f s", source, last, wait)
            time.sleep(wait)
    raise SourceUnavailable(f"{source}: gave up after {retries + 1} attempts ({last}) at {url}")


def _refusal(status: int, source: str) -> None:
    if status == 401:
        raise Unauthorized("the data-exchange platform refused the token")
    if status == 403:
        raise Forbidden(f"the token may not read source {source}")
    if status == 404:
        raise NotFound(f"the data-exchange platform has no source {source}", field="source")


def _retry_after(response: httpx2.Response) -> float:
    """Seconds the server asks for: a number, or an HTTP date (RFC 9110 section 10.2.3)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _page(body: Any, source: str) -> dict[str, Any]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("file"), str)
        or not isinstance(body.get("records"), list)
    ):
        raise SourceUnavailable(f"{source}: the platform's page is not in the agreed shape")
    return body


@dataclass
class _File:
    """The records of one delivered file, gathered page by page."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)

    def add(self, records: list[Any]) -> None:
        canonical = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        self.digest.update(canonical.encode())
        for record in records:
            if not isinstance(record, dict):
                self.rejects.append({"_raw": json.dumps(record, ensure_ascii=False)})
            elif "_error" in record:
                self.rejects.append(record)
            else:
                self.rows.append(record)

    def batch(self, source: SourceDef) -> RawBatch:
        file = f"api/{source.name}/{PurePosixPath(self.name).name}"
        headers = list(dict.fromkeys(k for row in self.rows for k in row if k != RECORD))
        arrays = [to_array([row.get(h) for row in self.rows]) for h in headers]
        records = to_array([_number(row.get(RECORD)) for row in self.rows]).cast(pa.int64())
        table = pa.table([*arrays, records], names=[*headers, RECORD])
        rejects = rejects_table(
            file,
            [_number(r.get(RECORD)) for r in self.rejects],
            [None if r.get("_raw") is None else str(r["_raw"]) for r in self.rejects],
            [
                str(r.get("_error") or "the platform sent a record that is not an object")
                for r in self.rejects
            ],
        )
        delivered = Delivered(table, rejects, self.digest.hexdigest())
        return to_batch(delivered, source, file)


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
