"""Request signatures: the canonical string pinned by a worked example, and every stale,
forged or replayed request refused, including a replay raced from several processes.
Ledger tests run on SQLite and on PostgreSQL (in a schema of its own)."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from purecredit.api import signing
from purecredit.api.signing import API_NONCES, SKEW_SECONDS
from purecredit.core.errors import Unauthorized
from purecredit.store.ledger import make_engine

# The worked example of docs/api.md: fixed inputs, and the signature they must give.
SECRET = "s3cr3t-Example-Only-0123456789abcdefXYZ_-"
METHOD, PATH, TIMESTAMP = "POST", "/v1/applications", 1767225600  # 2026-01-01T00:00:00Z
NONCE = "6f1d2c3b4a5e6f708192a3b4c5d6e7f8"
BODY = (
    b'{"consent_id":"cn_7f3a9c1e","product":"household","amount":"50000.00","branch":"341602001"}'
)
BODY_SHA256 = "bef7402c8e6b331c61d5126662403a939680b7a58f7c592303fc6afd4737d3b4"
SIGNATURE = "d5db38881fa742a55913cbc9083c38f49ebf9e976a4d6931a4c2e5025f8b9a3a"
CLIENT = "cl_0123456789abcdef0123"


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    signing.create_tables(engine)
    yield engine
    engine.dispose()


def _headers(
    nonce: str = NONCE,
    timestamp: int = TIMESTAMP,
    body: bytes = BODY,
    secret: str = SECRET,
    path: str = PATH,
) -> dict[str, str]:
    signature = signing.sign(secret, METHOD, path, timestamp, nonce, body)
    return {"X-Timestamp": str(timestamp), "X-Nonce": nonce, "X-Signature": signature}


def _check(
    engine: Engine,
    headers: dict[str, str],
    *,
    now: float = TIMESTAMP,
    body: bytes = BODY,
    method: str = METHOD,
    path: str = PATH,
    client: str = CLIENT,
) -> None:
    signing.check(engine, SECRET, client, method, path, headers, body, now)


def _refused(engine: Engine, headers: dict[str, str], field: str, **kw: Any) -> None:
    with pytest.raises(Unauthorized) as caught:
        _check(engine, headers, **kw)
    assert caught.value.status == 401 and caught.value.field == field


def _nonces(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(API_NONCES)).scalar_one())


def test_the_worked_example() -> None:
    # The canonical string spelled out by hand and signed with the standard library alone,
    # so this pins the format any client in any language must reproduce.
    assert hashlib.sha256(BODY).hexdigest() == BODY_SHA256
    canonical = f"POST\n/v1/applications\n1767225600\n{NONCE}\n{BODY_SHA256}".encode()
    assert signing.string_to_sign(METHOD, PATH, TIMESTAMP, NONCE, BODY) == canonical
    independent = hmac.new(SECRET.encode(), canonical, hashlib.sha256).hexdigest()
    assert independent == SIGNATURE
    assert signing.sign(SECRET, METHOD, PATH, TIMESTAMP, NONCE, BODY) == SIGNATURE
    assert signing.sign(SECRET, "post", PATH, str(TIMESTAMP), NONCE, BODY) == SIGNATURE
    empty = hashlib.sha256(b"").hexdigest()
    assert empty == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert signing.string_to_sign("delete", "/v1/consents/c1", 1, NONCE, b"").endswith(
        f"\n{empty}".encode()
    )


def test_a_good_request_passes_once(engine: Engine) -> None:
    headers = _headers()
    _check(engine, headers)
    assert _nonces(engine) == 1
    _refused(engine, headers, "X-Nonce")  # the very same request again
    _refused(engine, headers, "X-Nonce", now=TIMESTAMP + 60)
    assert _nonces(engine) == 1


def test_header_names_are_case_insensitive(engine: Engine) -> None:
    headers = {name.lower(): value for name, value in _headers().items()}
    headers["x-signature"] = headers["x-signature"].upper()
    _check(engine, headers)


def test_nonces_are_per_client(engine: Engine) -> None:
    _check(engine, _headers())
    _check(engine, _headers(), client="cl_another")
    assert _nonces(engine) == 2


@pytest.mark.parametrize("offset", [-SKEW_SECONDS - 1, SKEW_SECONDS + 1, -86_400, 86_400])
def test_a_skewed_timestamp_is_refused(engine: Engine, offset: int) -> None:
    _refused(engine, _headers(), "X-Timestamp", now=TIMESTAMP - offset)
    assert _nonces(engine) == 0


@pytest.mark.parametrize("offset", [-SKEW_SECONDS, SKEW_SECONDS])
def test_the_skew_window_is_inclusive(engine: Engine, offset: int) -> None:
    _check(engine, _headers(), now=TIMESTAMP - offset)


def test_anything_changed_breaks_the_signature(engine: Engine) -> None:
    headers = _headers()
    _refused(engine, headers, "X-Signature", body=BODY.replace(b"50000", b"90000"))
    _refused(engine, headers, "X-Signature", path="/v1/applications?branch=341602002")
    _refused(engine, headers, "X-Signature", method="PUT")
    _refused(engine, _headers(secret=SECRET + "x"), "X-Signature")
    _refused(engine, {**headers, "X-Timestamp": str(TIMESTAMP + 1)}, "X-Signature")
    _refused(engine, {**headers, "X-Nonce": NONCE[::-1]}, "X-Signature")
    # A forged request burns no nonce: the genuine one still passes.
    assert _nonces(engine) == 0
    _check(engine, headers)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Timestamp", None),
        ("X-Timestamp", "2026-01-01T00:00:00Z"),
        ("X-Timestamp", "-1767225600"),
        ("X-Nonce", None),
        ("X-Nonce", "short"),
        ("X-Nonce", "has space in it 0123456789"),
        ("X-Signature", None),
        ("X-Signature", SIGNATURE[:-1]),
        ("X-Signature", "é" * 64),
    ],
)
def test_malformed_headers_are_named(engine: Engine, header: str, value: str | None) -> None:
    headers = _headers()
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    _refused(engine, headers, header)


def test_old_nonces_are_pruned(engine: Engine) -> None:
    _check(engine, _headers(nonce="a" * 16), now=TIMESTAMP)
    later = TIMESTAMP + 2 * SKEW_SECONDS
    _check(engine, _headers(nonce="b" * 16, timestamp=later), now=later)
    _check(engine, _headers(nonce="c" * 16, timestamp=later), now=later + 1, client="cl_x")
    assert _nonces(engine) == 3  # still within the kept window: nothing pruned
    assert signing.prune(engine, CLIENT, later + 1) == 1  # only this client's oldest
    assert _nonces(engine) == 2
    # Once pruned, the old request is refused by its timestamp alone.
    _refused(engine, _headers(nonce="a" * 16), "X-Timestamp", now=later + 1)


def _race(url: str, rounds: list[dict[str, str]], barrier: Any, results: Any) -> None:
    """One worker process: connect first, then fire each round's request at the barrier."""
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    for headers in rounds:
        barrier.wait(timeout=60)
        try:
            _check(engine, headers)
            results.put((headers["X-Nonce"], "accepted"))
        except Unauthorized as exc:
            results.put((headers["X-Nonce"], exc.field))
        except Exception as exc:  # report, so the test fails at once instead of waiting
            results.put((headers["X-Nonce"], repr(exc)))
    engine.dispose()


def test_a_replay_raced_from_several_processes_wins_once(url: str, engine: Engine) -> None:
    workers, rounds = 4, [_headers(nonce=uuid.uuid4().hex) for _ in range(5)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_race, args=(url, rounds, barrier, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(workers * len(rounds))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for headers in rounds:
        mine = sorted(outcome for nonce, outcome in outcomes if nonce == headers["X-Nonce"])
        assert mine == ["X-Nonce"] * (workers - 1) + ["accepted"]
    assert _nonces(engine) == len(rounds)
