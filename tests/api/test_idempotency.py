"""Idempotency keys: a retry gets the first answer and never does the work twice, even when
the duplicates race from several processes; a rolled-back claim leaves nothing behind.
Ledger tests run on SQLite and on PostgreSQL (in a schema of its own)."""

from __future__ import annotations

import functools
import multiprocessing
import pickle
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from purecredit.api import idempotency
from purecredit.api.idempotency import HEADER, TTL, BadRequest, Begun, api_idempotency
from purecredit.core.errors import Conflict, Invalid
from purecredit.store.ledger import make_engine, run_locked, write_transaction

CLIENT, KEY, PATH = "cl_0123456789abcdef0123", "9f1c2d3e-retry-me", "/v1/applications"
BODY = b'{"consent_id":"cn_7f3a9c1e","product":"household","amount":"50000.00"}'
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Stands in for the decisions table: one row per time the work was really done.
work_metadata = MetaData()
decisions = Table("test_idem_decisions", work_metadata, Column("decision_id", String(40)))


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    idempotency.create_tables(engine)
    work_metadata.create_all(engine)
    yield engine
    engine.dispose()


def _serve(
    connection: Connection,
    *,
    key: str = KEY,
    body: bytes = BODY,
    method: str = "POST",
    path: str = PATH,
    client: str = CLIENT,
    now: datetime = NOW,
    hold: float = 0.0,
) -> tuple[Begun, int, bytes]:
    """What a route does: claim, do the work (a decision row), store the answer, commit."""
    begun = idempotency.begin(
        connection, client_id=client, key=key, method=method, path=path, body=body, now=now
    )
    if begun.replayed:
        assert begun.status is not None and begun.body is not None
        return begun, begun.status, begun.body
    decision_id = uuid.uuid4().hex
    connection.execute(insert(decisions), {"decision_id": decision_id})
    time.sleep(hold)  # a slow decision: the transaction stays open
    answer = b'{"decision_id":"%s","outcome":"approved"}' % decision_id.encode()
    idempotency.finish(connection, client_id=client, key=key, status=201, body=answer)
    return begun, 201, answer


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_retry_gets_the_identical_first_answer(engine: Engine) -> None:
    first, _, answer = run_locked(engine, _serve)
    assert first == Begun("new") and not first.replayed
    again, replay_status, replay = run_locked(engine, _serve)
    assert again.replayed and (replay_status, replay) == (201, answer)
    assert _count(engine, decisions) == 1  # the work was done once
    assert _count(engine, api_idempotency) == 1


@pytest.mark.parametrize(
    "change",
    [{"body": BODY.replace(b"50000", b"90000")}, {"path": PATH + "?x=1"}, {"method": "PUT"}],
)
def test_the_same_key_for_another_request_is_422(engine: Engine, change: dict[str, Any]) -> None:
    run_locked(engine, _serve)
    with pytest.raises(Invalid) as caught:
        run_locked(engine, lambda c: _serve(c, **change))
    assert (caught.value.status, caught.value.field) == (422, HEADER)
    assert _count(engine, decisions) == 1


def test_keys_belong_to_their_client(engine: Engine) -> None:
    run_locked(engine, _serve)
    other, _, _ = run_locked(engine, lambda c: _serve(c, client="cl_another", body=b"{}"))
    assert other.outcome == "new"
    assert _count(engine, decisions) == 2


@pytest.mark.parametrize("key", [None, "", "has space", "tab\there", "é" * 4, "k" * 256, "\x7f"])
def test_a_missing_or_malformed_key_is_400(engine: Engine, key: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        idempotency.parse_key(key)
    assert (caught.value.status, caught.value.field) == (400, HEADER)
    assert caught.value.to_problem()["type"] == "https://purecredit.dev/problems/bad-request"
    with pytest.raises(BadRequest):
        run_locked(engine, lambda c: _serve(c, key=key or ""))
    assert _count(engine, api_idempotency) == 0


@pytest.mark.parametrize("key", ["k", "k" * 255, "!~", "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_visible_ascii_keys_up_to_255_pass(engine: Engine, key: str) -> None:
    assert idempotency.parse_key(key) == key
    assert run_locked(engine, lambda c: _serve(c, key=key))[0].outcome == "new"


def test_a_rolled_back_claim_leaves_nothing_and_the_retry_does_the_work(engine: Engine) -> None:
    def crash(connection: Connection) -> None:
        _serve(connection)  # claimed, worked, answer stored: then the worker dies
        raise RuntimeError("killed before commit")

    with pytest.raises(RuntimeError):
        run_locked(engine, crash)
    assert _count(engine, api_idempotency) == 0 and _count(engine, decisions) == 0
    retried, status, _ = run_locked(engine, _serve)
    assert (retried.outcome, status) == ("new", 201)
    assert _count(engine, decisions) == 1


def test_a_duplicate_in_flight_never_starts_the_work(url: str, engine: Engine) -> None:
    # The first request holds its transaction open. PostgreSQL: the duplicate gets 409 at
    # once. SQLite: it cannot even begin its write transaction (shown with a short busy
    # timeout; the real engine waits 30 s and then replays).
    with write_transaction(engine) as first:
        _, _, answer = _serve(first)
        if engine.dialect.name == "sqlite":
            impatient = create_engine(url, connect_args={"timeout": 0.2})
            with pytest.raises(OperationalError, match="locked"):
                run_locked(impatient, _serve)
            impatient.dispose()
        else:
            started = time.perf_counter()
            with pytest.raises(Conflict) as caught:
                run_locked(engine, _serve)
            assert (caught.value.status, caught.value.field) == (409, HEADER)
            assert time.perf_counter() - started < 5  # refused at once, not after a wait
    assert run_locked(engine, _serve)[1:] == (201, answer)
    assert _count(engine, decisions) == 1


def test_a_claim_committed_without_an_answer_is_never_replayed(engine: Engine) -> None:
    def forgets_finish(connection: Connection) -> None:
        idempotency.begin(
            connection, client_id=CLIENT, key=KEY, method="POST", path=PATH, body=BODY, now=NOW
        )

    run_locked(engine, forgets_finish)
    with pytest.raises(Conflict):
        run_locked(engine, _serve)


def test_finish_needs_the_claim_and_begin_a_transaction(engine: Engine) -> None:
    with pytest.raises(ValueError, match="claim"):
        run_locked(
            engine,
            lambda c: idempotency.finish(c, client_id=CLIENT, key=KEY, status=201, body=b"{}"),
        )
    with engine.connect() as conn, pytest.raises(ValueError, match="transaction"):
        idempotency.begin(conn, client_id=CLIENT, key=KEY, method="POST", path=PATH, body=b"")


def test_keys_expire_after_24_hours(engine: Engine) -> None:
    old = NOW - TTL
    run_locked(engine, lambda c: _serve(c, key="old", now=old))
    run_locked(engine, lambda c: _serve(c, key="recent", now=NOW - TTL + timedelta(seconds=1)))
    # An expired key is free again, even for another body, before any prune.
    fresh, _, _ = run_locked(engine, lambda c: _serve(c, key="old", body=b"{}"))
    assert fresh.outcome == "new"
    assert run_locked(engine, lambda c: _serve(c, key="old", body=b"{}"))[0].replayed
    run_locked(engine, lambda c: _serve(c, key="stale", now=old - timedelta(hours=1)))
    assert idempotency.prune(engine, NOW) == 1  # only "stale"; "recent" is kept
    assert _count(engine, api_idempotency) == 2
    assert run_locked(engine, lambda c: _serve(c, key="recent", now=NOW))[0].replayed


def test_errors_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(BadRequest("bad key", field=HEADER)))
    assert (error.status, error.field) == (400, HEADER)


def _race(url: str, keys: list[str], barrier: Any, results: Any) -> None:
    """One worker process: connect first, then send each round's request at the barrier."""
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    for key in keys:
        barrier.wait(timeout=60)
        try:
            work = functools.partial(_serve, key=key, hold=0.3)
            begun, status, answer = run_locked(engine, work)
            results.put((key, begun.outcome, status, answer))
        except Conflict:
            results.put((key, "conflict", 409, b""))
        except Exception as exc:  # report, so the test fails at once instead of waiting
            results.put((key, repr(exc), 0, b""))
    engine.dispose()


def test_duplicates_raced_from_several_processes_do_the_work_once(url: str, engine: Engine) -> None:
    workers, keys = 4, [f"race-{uuid.uuid4().hex}" for _ in range(3)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_race, args=(url, keys, barrier, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(workers * len(keys))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    allowed = (
        {"new", "replay"} if engine.dialect.name == "sqlite" else {"new", "replay", "conflict"}
    )
    for key in keys:
        mine = [outcome for outcome in outcomes if outcome[0] == key]
        assert {outcome[1] for outcome in mine} <= allowed, mine
        (winner,) = [outcome for outcome in mine if outcome[1] == "new"]
        for _, outcome, status, answer in mine:
            if outcome == "replay":
                assert (status, answer) == (201, winner[3])  # the first answer, byte for byte
    assert _count(engine, decisions) == len(keys)
