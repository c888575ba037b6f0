"""The gateway's audit log, on SQLite and PostgreSQL: one linear chain under concurrent
writers (threads and processes), entries that commit or roll back with the caller's
transaction, triggers that refuse UPDATE and DELETE, tampering named by `verify` once the
triggers are dropped, no raw resident ID ever written, and `purecredit audit verify`.

On PostgreSQL every test works in a schema of its own (dropped afterwards).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from purecredit.api import audit
from purecredit.api.audit import GENESIS, AuditEntry, append, verify
from purecredit.cli import audit as audit_cli
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.identifiers import make_resident_id
from purecredit.core.settings import get_settings
from purecredit.store.ledger import make_engine

RESIDENT_ID = make_resident_id("341602", date(1980, 3, 14), 11)
TOKEN = "id:" + "5e" * 32
USCC = "91330521MA2B3C4D5E"
LOG = audit.audit_log
ENTRY = AuditEntry(
    request_id="req-1",
    client_id="mobile-banking",
    method="POST",
    endpoint="/v1/applications",
    subject=TOKEN,
    status=201,
    outcome="approved",
    latency_ms=12.3456,
)


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    """The ledger URL with the audit table created."""
    engine = make_engine(fresh_ledger_url)
    audit.create_tables(engine)
    engine.dispose()
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _fill(engine: Engine, n: int) -> list[audit.AuditRecord]:
    return [append(engine, replace(ENTRY, request_id=f"req-{i}")) for i in range(1, n + 1)]


def _rows(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(LOG.c.seq, LOG.c.prev_hash, LOG.c.hash).order_by(LOG.c.seq)
        ).all()
    return [(int(r.seq), str(r.prev_hash), str(r.hash)) for r in found]


def _assert_linear(engine: Engine, n: int) -> None:
    """Seqs 1..n, each entry's prev_hash its predecessor's hash: one chain, no fork."""
    rows = _rows(engine)
    assert [seq for seq, _, _ in rows] == list(range(1, n + 1))
    assert [prev for _, prev, _ in rows] == [GENESIS] + [h for _, _, h in rows[:-1]]
    result = verify(engine)
    assert result.ok and result.entries == n and result.head == rows[-1][2]


# ----------------------------------------------------------------------------- the chain


def test_tables_live_in_the_test_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SELECT current_schema()")).scalar() != "public"
        assert conn.execute(select(LOG)).all() == []


def test_chain_verifies_after_many_appends(engine: Engine) -> None:
    records = _fill(engine, 120)
    assert [r.seq for r in records] == list(range(1, 121))
    assert records[0].prev_hash == GENESIS and records[1].prev_hash == records[0].hash
    assert records[0].latency_ms == 12.346  # rounded to the microsecond
    _assert_linear(engine, 120)
    seen: list[int] = []
    chunked = verify(engine, chunk=7, progress=seen.append)  # chunk edges change nothing
    assert chunked.ok and chunked.entries == 120
    assert seen[0] == 7 and seen[-1] == 120 and seen == sorted(seen)


def test_append_many_chains_a_batch_in_order_or_writes_none(engine: Engine) -> None:
    _fill(engine, 2)
    batch = audit.append_many(engine, [replace(ENTRY, request_id=f"b{i}") for i in range(5)])
    assert [r.seq for r in batch] == [3, 4, 5, 6, 7] and batch[0].prev_hash == _rows(engine)[1][2]
    bad = [replace(ENTRY, request_id="fine"), replace(ENTRY, subject=RESIDENT_ID)]
    with pytest.raises(Invalid):
        audit.append_many(engine, bad)
    assert audit.append_many(engine, []) == []
    _assert_linear(engine, 7)


def test_group_appender_commits_concurrent_calls_together_in_one_chain(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 16 threads x 25 entries end up in fewer transactions than entries,
    every future holds its own committed record, and the chain is one line."""
    engine = make_engine(url)
    batches: list[int] = []
    real = audit._append_checked

    def counting(target: Engine | Connection, entries: Any) -> list[audit.AuditRecord]:
        batches.append(len(entries))
        time.sleep(0.005)  # a slow disk: calls pile up behind each commit
        return real(target, entries)

    monkeypatch.setattr(audit, "_append_checked", counting)
    appender = audit.GroupAppender(engine, batch=50)
    got: dict[str, audit.AuditRecord] = {}
    lock = threading.Lock()

    def call(worker: int) -> None:
        for i in range(25):
            request_id = f"req-{worker}-{i}"
            record = appender.submit(replace(ENTRY, request_id=request_id)).result(timeout=60)
            with lock:
                got[request_id] = record

    threads = [threading.Thread(target=call, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    appender.close()
    assert len(got) == 400 and all(r.request_id == k for k, r in got.items())
    assert sum(batches) == 400 and len(batches) < 400 and max(batches) <= 50
    _assert_linear(engine, 400)
    engine.dispose()


def test_group_appender_fails_only_the_calls_it_could_not_commit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    appender = audit.GroupAppender(engine)
    bad = appender.submit(replace(ENTRY, subject=RESIDENT_ID))
    with pytest.raises(Invalid):
        bad.result(timeout=10)  # refused alone, before it could sink a batch
    assert appender.submit(ENTRY).result(timeout=10).seq == 1

    def down(*_: Any) -> list[audit.AuditRecord]:
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(audit, "_append_checked", down)
    with pytest.raises(RuntimeError, match="down"):
        appender.submit(ENTRY).result(timeout=10)
    monkeypatch.undo()
    assert appender.submit(ENTRY).result(timeout=10).seq == 2  # the thread lives on
    appender.close()
    _assert_linear(engine, 2)


def test_empty_log_verifies_and_a_missing_log_is_not_found(engine: Engine, tmp_path: Path) -> None:
    assert verify(engine) == audit.VerifyResult(ok=True, entries=0)
    bare = make_engine(f"sqlite:///{tmp_path / 'bare.sqlite'}")
    with pytest.raises(NotFound, match="no audit log"):
        verify(bare)
    bare.dispose()


def test_stored_hash_is_sha256_of_the_canonical_entry(engine: Engine) -> None:
    record = append(engine, ENTRY)
    with engine.connect() as conn:
        row = dict(conn.execute(select(LOG)).mappings().one())
    assert audit.entry_hash(row) == record.hash == row["hash"]
    assert audit.entry_hash(row | {"status": 200}) != record.hash


@pytest.mark.parametrize("serializable", [False, True], ids=["default", "serializable"])
def test_concurrent_threads_keep_one_linear_chain(url: str, serializable: bool) -> None:
    """Eight writers at once; on PostgreSQL also with sessions that default to SERIALIZABLE,
    where a snapshot taken before the chain lock would miss the entry before it."""
    postgres = url.startswith("postgresql")
    if postgres and serializable:
        url += "%20-cdefault_transaction_isolation%3Dserializable"
    engine = make_engine(url)
    try:
        if postgres:
            with engine.connect() as conn:
                level = conn.execute(text("SHOW transaction_isolation")).scalar()
            assert level == ("serializable" if serializable else "read committed")
        _write_from_threads(engine)
    finally:
        engine.dispose()


def _write_from_threads(engine: Engine) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(index: int) -> None:
        start.wait()
        try:
            for i in range(25):
                append(engine, replace(ENTRY, request_id=f"t{index}-{i}"))
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    _assert_linear(engine, 200)


def _process_appends(url: str, index: int, start: float) -> str | None:
    """One gateway worker as its own process (spawned: nothing shared but the database)."""
    time.sleep(max(0.0, start - time.time()))
    engine = make_engine(url)
    try:
        for i in range(50):
            append(engine, replace(ENTRY, request_id=f"p{index}-{i}"))
        return None
    except Exception as exc:  # reported, not raised: the parent asserts there were none
        return repr(exc)
    finally:
        engine.dispose()


def _warm(_: int) -> float:
    time.sleep(0.2)  # hold the worker so that each of them gets one and imports everything
    return time.time()


def test_concurrent_processes_keep_one_linear_chain(url: str, engine: Engine) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_warm, range(4), chunksize=1)
        start = time.time() + 0.5  # every worker is up: release them together
        errors = pool.starmap(_process_appends, [(url, i, start) for i in range(4)], chunksize=1)
    assert errors == [None] * 4
    _assert_linear(engine, 200)
    with engine.connect() as conn:
        ids = conn.execute(select(LOG.c.request_id)).scalars().all()
    assert sorted(ids) == sorted(f"p{p}-{i}" for p in range(4) for i in range(50))


# ----------------------------------------------------------------------------- transactions


def test_append_joins_the_callers_transaction(engine: Engine) -> None:
    """A decision and its audit entry commit together, or neither does."""
    decisions = Table("decisions_stub", MetaData(), Column("id", String(10), primary_key=True))
    decisions.create(engine)
    _fill(engine, 3)
    with engine.connect() as conn:
        outer = conn.begin()
        conn.execute(insert(decisions).values(id="d-lost"))
        append(conn, replace(ENTRY, request_id="lost"))
        outer.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar() == 0
    _assert_linear(engine, 3)
    with engine.begin() as conn:
        conn.execute(insert(decisions).values(id="d-kept"))
        kept = append(conn, replace(ENTRY, request_id="kept"))
    assert kept.seq == 4  # the rolled-back entry left no gap
    _assert_linear(engine, 4)


def test_append_on_a_connection_needs_a_transaction(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="begin one first"):
        append(conn, ENTRY)


# ----------------------------------------------------------------------------- append-only


@pytest.mark.parametrize(
    "statement",
    ["UPDATE api_audit SET status = 200 WHERE seq = 2", "DELETE FROM api_audit WHERE seq = 2"],
)
def test_update_and_delete_are_refused(engine: Engine, statement: str) -> None:
    _fill(engine, 3)
    before = _rows(engine)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert _rows(engine) == before
    _assert_linear(engine, 3)


def test_truncate_is_refused_on_postgresql(engine: Engine) -> None:
    _fill(engine, 2)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE api_audit"))
    _assert_linear(engine, 2)


def _drop_triggers(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TRIGGER api_audit_no_change ON api_audit"))
    else:
        conn.execute(text("DROP TRIGGER api_audit_no_update"))
        conn.execute(text("DROP TRIGGER api_audit_no_delete"))


Tamper = Callable[[Connection, list[audit.AuditRecord]], None]


def _sql(*statements: str) -> Tamper:
    def run(conn: Connection, _: list[audit.AuditRecord]) -> None:
        for statement in statements:
            conn.execute(text(statement))

    return run


def _rehash(conn: Connection, seq: int, **changes: Any) -> None:
    """Edit an entry and give it the right hash for its new content, as a forger would."""
    row = dict(conn.execute(select(LOG).where(LOG.c.seq == seq)).mappings().one()) | changes
    conn.execute(update(LOG).where(LOG.c.seq == seq).values(**changes, hash=audit.entry_hash(row)))


def _forge(conn: Connection, seq: int, prev_hash: str) -> None:
    """Insert a made-up entry whose own hash is right."""
    row = dict(conn.execute(select(LOG).where(LOG.c.seq == 1)).mappings().one())
    row |= {"seq": seq, "request_id": "forged", "prev_hash": prev_hash}
    conn.execute(insert(LOG).values(row | {"hash": audit.entry_hash(row)}))


def _insert_sixth(conn: Connection, records: list[audit.AuditRecord]) -> None:
    """Renumber 6..10 to 7..11, then slip a forged entry 6 in after 5. prev_hash is unique,
    so the forger must also relink the old entry 6 (now 7) to the forged one."""
    for seq in range(10, 5, -1):
        conn.execute(update(LOG).where(LOG.c.seq == seq).values(seq=seq + 1))
    conn.execute(update(LOG).where(LOG.c.seq == 7).values(prev_hash="e" * 64))
    _forge(conn, 6, records[4].hash)


TAMPERING: dict[str, tuple[Tamper, int, str]] = {
    # name: (what the forger does with the triggers dropped, first bad seq, reason)
    "edit a field": (
        _sql("UPDATE api_audit SET outcome = 'declined' WHERE seq = 7"), 7, "hash mismatch"),
    "edit a field and rehash it": (
        lambda conn, _: _rehash(conn, 7, outcome="declined"), 8, "broken link"),
    "delete a middle entry": (_sql("DELETE FROM api_audit WHERE seq = 5"), 5, "missing"),
    "delete the first entry": (_sql("DELETE FROM api_audit WHERE seq = 1"), 1, "missing"),
    "reorder two entries": (
        _sql("UPDATE api_audit SET seq = -1 WHERE seq = 3",
             "UPDATE api_audit SET seq = 3 WHERE seq = 4",
             "UPDATE api_audit SET seq = 4 WHERE seq = -1"), 3, "hash mismatch"),
    "insert an entry in the middle": (_insert_sixth, 7, "hash mismatch"),
    "append a forged entry": (lambda conn, _: _forge(conn, 11, "f" * 64), 11, "broken link"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_named_at_the_first_bad_entry(engine: Engine, case: str) -> None:
    tamper, bad_seq, reason = TAMPERING[case]
    records = _fill(engine, 10)
    with engine.begin() as conn:
        _drop_triggers(conn)
        tamper(conn, records)
    result = verify(engine, chunk=4)
    assert (result.ok, result.bad_seq, result.reason) == (False, bad_seq, reason)
    assert result.entries == bad_seq - 1
    stored = {seq: hash_ for seq, _, hash_ in _rows(engine)}
    assert result.head == stored.get(bad_seq - 1, GENESIS)  # the last entry that held


# ----------------------------------------------------------------------------- privacy


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", RESIDENT_ID),
        ("subject", f" {RESIDENT_ID[:6]} {RESIDENT_ID[6:]} "),  # spaced out
        ("subject", RESIDENT_ID[:6] + RESIDENT_ID[8:17]),  # the old 15-digit form
        ("subject", f"person {RESIDENT_ID}"),
        ("endpoint", f"/v1/customers/{RESIDENT_ID}/profile"),  # a raw path, not a template
        ("request_id", RESIDENT_ID),
        ("client_id", f"c-{RESIDENT_ID}"),
    ],
)
def test_a_raw_resident_id_is_refused(engine: Engine, field: str, value: Any) -> None:
    with pytest.raises(Invalid) as raised:
        append(engine, replace(ENTRY, **{field: value}))
    assert raised.value.field == field and RESIDENT_ID not in str(raised.value)
    assert _rows(engine) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("endpoint", "/v1/applications/A1b2c3"),
        ("endpoint", "v1/applications"),
        ("status", 99),
        ("latency_ms", float("nan")),
        ("latency_ms", -1.0),
        ("outcome", ""),
        ("method", "P" * 11),
    ],
)
def test_a_malformed_entry_is_refused(engine: Engine, field: str, value: Any) -> None:
    with pytest.raises(Invalid) as raised:
        append(engine, replace(ENTRY, **{field: value}))
    assert raised.value.field == field
    assert _rows(engine) == []


@pytest.mark.parametrize(
    ("subject", "endpoint"),
    [
        (TOKEN, "/v1/customers/{customer_ref}/profile"),
        (USCC, "/v1/applications"),
        (None, "/oauth/token"),
        ("id:" + "1234567890" * 6 + "abcd", "/healthz"),  # a token with long digit runs
        (None, audit.UNMATCHED),
    ],
)
def test_tokens_uscc_and_templates_are_accepted(
    engine: Engine, subject: str | None, endpoint: str
) -> None:
    record = append(engine, replace(ENTRY, subject=subject, endpoint=endpoint))
    assert (record.subject, record.endpoint) == (subject, endpoint)
    _assert_linear(engine, 1)


# ----------------------------------------------------------------------------- the command


@pytest.fixture
def cli_env(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(audit_cli.app, name="audit")
    return root


def test_cli_verify_passes_an_intact_chain(
    engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(engine, 12)
    runner = CliRunner()
    result = runner.invoke(_cli(), ["audit", "verify", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True, "entries": 12}
    monkeypatch.setattr(audit_cli, "CHUNK", 5)  # long enough for the progress bar
    result = runner.invoke(_cli(), ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 12 entries" in result.stdout


def test_cli_verify_names_the_first_bad_entry(engine: Engine, cli_env: None) -> None:
    _fill(engine, 6)
    with engine.begin() as conn:
        _drop_triggers(conn)
        conn.execute(text("UPDATE api_audit SET subject = :s WHERE seq = 4"), {"s": USCC})
    runner = CliRunner()
    result = runner.invoke(_cli(), ["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "entries": 3,
        "bad_seq": 4,
        "reason": "hash mismatch",
    }
    result = runner.invoke(_cli(), ["audit", "verify"])
    assert result.exit_code == 1 and "broken at entry 4: hash mismatch" in result.stdout


def test_cli_verify_without_an_audit_log_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    monkeypatch.delenv("PURECREDIT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(_cli(), ["audit", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "no audit log" in result.output
