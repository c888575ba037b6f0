"""Rate limits shared by worker processes (on SQLite and PostgreSQL), and the 413 for bodies
over the limit, refused before the app reads them, whether sized or streamed in chunks."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from purecredit.api import limits
from purecredit.api.limits import MAX_BODY_BYTES, Allowed, BodyLimit, RateLimited
from purecredit.store.ledger import make_engine

CLIENT, NOW = "cl_0123456789abcdef0123", 1_767_225_600.0


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    limits.create_tables(engine)
    yield engine
    engine.dispose()


def _refused(engine: Engine, now: float, limit: int = 3, client: str = CLIENT) -> int:
    with pytest.raises(RateLimited) as caught:
        limits.check(engine, client, limit, now)
    assert caught.value.status == 429
    return caught.value.retry_after


# ----------------------------------------------------------------------------- rate limits


def test_a_burst_up_to_the_limit_then_429_with_retry_after(engine: Engine) -> None:
    # 3 a minute: an idle client may send 3 at once, then one every 20 s.
    assert [limits.check(engine, CLIENT, 3, NOW) for _ in range(3)] == [
        Allowed(3, 2, 20),
        Allowed(3, 1, 40),
        Allowed(3, 0, 60),
    ]
    assert _refused(engine, NOW) == 20
    assert _refused(engine, NOW + 12.5) == 8  # rounded up: never too early
    # Refusals are not counted: the next slot opens 20 s after the burst, as promised.
    assert limits.check(engine, CLIENT, 3, NOW + 20) == Allowed(3, 0, 60)
    assert _refused(engine, NOW + 20) == 20


def test_the_window_resets(engine: Engine) -> None:
    for _ in range(3):
        limits.check(engine, CLIENT, 3, NOW)
    _refused(engine, NOW + 19.9)
    # A minute after the burst the bucket is full again: a whole new burst passes.
    assert [limits.check(engine, CLIENT, 3, NOW + 60).remaining for _ in range(3)] == [2, 1, 0]
    _refused(engine, NOW + 60)


def test_the_nth_request_of_a_burst_passes_despite_rounding(engine: Engine) -> None:
    for _ in range(7):  # 60/7 is not exact in binary floating point
        limits.check(engine, CLIENT, 7, NOW)
    _refused(engine, NOW, limit=7)


def test_clients_are_counted_apart(engine: Engine) -> None:
    for _ in range(3):
        limits.check(engine, CLIENT, 3, NOW)
    _refused(engine, NOW)
    assert limits.check(engine, "cl_another", 3, NOW).remaining == 2


def test_the_problem_and_its_retry_after_header() -> None:
    error = RateLimited("more than 3 requests a minute; retry in 20 s", retry_after=20)
    assert error.headers == {"Retry-After": "20"}
    assert error.to_problem() == {
        "type": "https://purecredit.dev/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "more than 3 requests a minute; retry in 20 s",
    }
    again = pickle.loads(pickle.dumps(error))
    assert (again.retry_after, again.detail) == (20, error.detail)


def test_a_limit_below_one_is_a_bug(engine: Engine) -> None:
    with pytest.raises(ValueError):
        limits.check(engine, CLIENT, 0, NOW)


def test_sqlite_durability_is_restored_for_the_ledger(engine: Engine) -> None:
    limits.check(engine, CLIENT, 3, NOW)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the pool hands back the same connection
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    else:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


def _hammer(url: str, count: int, barrier: Any, results: Any) -> None:
    """One worker process: `count` checks at the same instant; report how many passed."""
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    barrier.wait(timeout=60)
    passed = 0
    try:
        for _ in range(count):
            try:
                limits.check(engine, CLIENT, 40, NOW)
                passed += 1
            except RateLimited:
                pass
        results.put(passed)
    except Exception as exc:  # report, so the test fails at once instead of waiting
        results.put(repr(exc))
    engine.dispose()


def test_the_limit_is_shared_by_worker_processes(url: str, engine: Engine) -> None:
    workers, each = 2, 30
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_hammer, args=(url, each, barrier, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    passed = [results.get(timeout=120) for _ in range(workers)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    # 60 requests at once against 40 a minute: exactly 40 pass, whichever worker sent them.
    assert sum(passed) == 40, passed
    _refused(engine, NOW, limit=40)


# ----------------------------------------------------------------------------- body size


def _app() -> tuple[FastAPI, list[int]]:
    app, seen = FastAPI(), []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    app.add_middleware(BodyLimit)
    return app, seen


def test_content_length_at_the_limit_passes_and_one_byte_more_is_413() -> None:
    app, seen = _app()
    client = TestClient(app)
    assert client.post("/echo", content=b"x" * MAX_BODY_BYTES).json() == {"bytes": 1_048_576}
    response = client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://purecredit.dev/problems/payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": "the request body is larger than 1048576 bytes",
        "instance": "/echo",
        "field": "body",
    }
    assert seen == [MAX_BODY_BYTES]  # the app never saw the oversized one


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *headers],
        "server": ("test", 80),
        "client": ("127.0.0.1", 50000),
    }


def _stream(chunks: int, size: int, *, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """Send a body of `chunks` chunks (no Content-Length, as with chunked transfer coding);
    return the response status, its body and how many chunks the server pulled."""
    app, seen = _app()
    pulled, sent = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled == chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b"x" * size, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = _scope(headers or [(b"transfer-encoding", b"chunked")])
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = sent[0]["status"]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return status, json.loads(body), pulled, seen


def test_a_chunked_body_over_the_limit_is_413_and_reading_stops() -> None:
    # 100 chunks of 64 KiB (6.4 MiB): refused as the 17th chunk takes it past 1 MiB.
    status, problem, pulled, seen = _stream(100, 65_536)
    assert (status, problem["status"], problem["field"]) == (413, 413, "body")
    assert pulled == 17 and seen == []


def test_a_chunked_body_within_the_limit_reaches_the_app_whole() -> None:
    status, answer, pulled, seen = _stream(16, 65_536)  # exactly 1 MiB
    assert (status, answer, pulled) == (200, {"bytes": MAX_BODY_BYTES}, 16)
    assert seen == [MAX_BODY_BYTES]


def test_an_understated_content_length_does_not_get_past() -> None:
    status, _, pulled, seen = _stream(100, 65_536, headers=[(b"content-length", b"10")])
    assert (status, pulled, seen) == (413, 17, [])
