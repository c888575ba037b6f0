"""The gateway's audit log: every call, append-only and hash-chained, in the ledger.

Each entry records who called (client), what (method and route template), about whom (the
lake token or USCC, never a raw resident ID), how it ended (HTTP status, outcome), how long
it took and the request id. Entry `seq` carries ``prev_hash``, the hash of entry ``seq - 1``
(`GENESIS` for the first), and its own ``hash``: SHA-256 over the canonical JSON of all its
other fields. `verify` walks the chain and names the first entry that does not hold.

Append-only, three ways: the code only ever inserts; triggers created with the table refuse
UPDATE and DELETE (and TRUNCATE on PostgreSQL); and anyone who drops the triggers and edits,
deletes or reorders entries breaks the chain, which `verify` reports. What a plain hash chain
cannot show is the newest entries cut off together, or the whole chain rewritten from some
point on: record the head hash (`VerifyResult.head`) somewhere the ledger's writers cannot
reach to catch those.

One chain shared by every worker process, so appends are serialised: the chain lock is
PostgreSQL's transaction advisory lock on the table, or SQLite's write lock (BEGIN
IMMEDIATE). ``seq`` is the primary key and ``prev_hash`` is unique, so even a writer that
slipped past the lock could not fork the chain: its insert would fail. `append` on a
`Connection` joins the caller's transaction, so a decision and its audit entry commit or roll
back together; append last, just before committing, since the chain lock is held until then.
"""

from __future__ import annotations

import hashlib
import json
import math
import queue
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.identifiers import parse_resident_id
from purecredit.store.ledger import run_locked

GENESIS = "0" * 64  # the prev_hash of entry 1
UNMATCHED = "(unmatched)"  # the endpoint of a request no route matched (404s)
# Advisory-lock namespace ("PCAU"), shifted above the table's oid: one lock per audit table.
_LOCK_NAMESPACE = 0x50434155 << 32
_ROUTE = re.compile(r"/|(/([a-z][a-z0-9._-]*|\{[A-Za-z_][A-Za-z0-9_]*\}))+")
# A resident ID's shape standing alone inside a value (a path segment, a word): 18 characters
# (17 digits, then digit or X) or the old 15-digit form, with no letter or digit either side.
# Runs of digits inside a hex token touch letters, so tokens are never mistaken for one.
_RESIDENT_ID_SHAPE = re.compile(r"(?<![0-9A-Z])(\d{17}[\dX]|\d{15})(?![0-9A-Z])")

metadata = MetaData()

audit_log = Table(
    "api_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("client_id", String(64)),
    Column("method", String(10), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("subject", String(100)),
    Column("status", Integer, nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),  # one successor each
    Column("hash", String(64), nullable=False),
)

_REFUSAL = "api_audit is append-only"
_TRIGGERS = {
    "postgresql": (
        f"""CREATE OR REPLACE FUNCTION api_audit_refuse() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END $$""",
        """CREATE TRIGGER api_audit_no_change BEFORE UPDATE OR DELETE ON api_audit
            FOR EACH ROW EXECUTE FUNCTION api_audit_refuse()""",
        """CREATE TRIGGER api_audit_no_truncate BEFORE TRUNCATE ON api_audit
            FOR EACH STATEMENT EXECUTE FUNCTION api_audit_refuse()""",
    ),
    "sqlite": tuple(
        f"""CREATE TRIGGER api_audit_no_{op.lower()} BEFORE {op} ON api_audit
            BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"""
        for op in ("UPDATE", "DELETE")
    ),
}


@event.listens_for(audit_log, "after_create")
def _refuse_changes(_table: Table, connection: Connection, **_: Any) -> None:
    """Install the append-only triggers with the table, in the same transaction."""
    for statement in _TRIGGERS.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


def create_tables(engine: Engine) -> None:
    """Create the audit table, with its append-only triggers, if it does not exist yet."""
    metadata.create_all(engine)


# ----------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class AuditEntry:
    """One call, as the gateway saw it. `endpoint` is the route template
    (``/v1/applications/{id}``, or `UNMATCHED`), never the raw path, so no identifier in a
    URL reaches the log; `subject` is the lake token (``id:...``) or USCC, or None."""

    request_id: str
    client_id: str | None
    method: str
    endpoint: str
    subject: str | None
    status: int
    outcome: str
    latency_ms: float


@dataclass(frozen=True)
class AuditRecord(AuditEntry):
    """An entry as stored: its place in the chain, when it was written, and its hashes."""

    seq: int
    at: datetime
    prev_hash: str
    hash: str


def _no_resident_id(value: str, field: str) -> None:
    """Refuse a value that is, or contains, a resident ID number (GB 11643)."""
    normalised = unicodedata.normalize("NFKC", value).upper()
    candidates = [value, *_RESIDENT_ID_SHAPE.findall(normalised)]
    for candidate in candidates:
        try:
            parse_resident_id(candidate, field=field)
        except Invalid:
            continue
        raise Invalid("must not carry a resident ID number: log its token", field=field)


def _text(value: Any, field: str, size: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > size:
        raise Invalid(f"must be a non-empty string of at most {size} characters", field=field)
    _no_resident_id(value, field)


def check_entry(entry: AuditEntry) -> AuditEntry:
    """`entry` with `latency_ms` rounded to microseconds, or `Invalid` naming the field."""
    _text(entry.request_id, "request_id", 64)
    _text(entry.client_id, "client_id", 64, optional=True)
    _text(entry.method, "method", 10)
    _text(entry.endpoint, "endpoint", 200)
    if entry.endpoint != UNMATCHED and not _ROUTE.fullmatch(entry.endpoint):
        raise Invalid("must be a route template such as /v1/applications/{id}", field="endpoint")
    _text(entry.subject, "subject", 100, optional=True)
    _text(entry.outcome, "outcome", 40)
    if isinstance(entry.status, bool) or not isinstance(entry.status, int):
        raise Invalid("must be an HTTP status code", field="status")
    if not 100 <= entry.status <= 599:
        raise Invalid("must be an HTTP status code", field="status")
    latency = entry.latency_ms
    if isinstance(latency, bool) or not isinstance(latency, int | float):
        raise Invalid("must be a number of milliseconds", field="latency_ms")
    if not math.isfinite(latency) or latency < 0:
        raise Invalid("must be a finite, non-negative number of milliseconds", field="latency_ms")
    # A float that survives both databases' double precision and JSON unchanged.
    values = asdict(entry) | {"latency_ms": round(float(latency), 3)}
    return AuditEntry(**values)


def _canonical_at(at: datetime) -> str:
    # SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones in the session's
    # time zone: the hash always sees UTC to the microsecond.
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def entry_hash(row: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of every stored field
    but `hash`; `prev_hash` is among them, which is what chains the entries."""
    body = {name: row[name] for name in _HASHED}
    body["at"] = _canonical_at(row["at"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_HASHED = tuple(f.name for f in fields(AuditRecord) if f.name != "hash")


# ----------------------------------------------------------------------------- appending


def _lock_chain(connection: Connection) -> None:
    """Take the chain lock until the transaction ends. SQLite: the caller's write lock is
    the chain lock (BEGIN IMMEDIATE, or taken at this transaction's first write)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:ns + CAST(CAST(:t AS regclass) AS oid)::bigint)"),
            {"ns": _LOCK_NAMESPACE, "t": audit_log.name},
        )


def _append_locked(connection: Connection, entries: list[AuditEntry]) -> list[AuditRecord]:
    _lock_chain(connection)
    last = connection.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (0, GENESIS) if last is None else (int(last.seq), str(last.hash))
    at, records = datetime.now(UTC), []
    for entry in entries:
        seq += 1
        row = asdict(entry) | {"seq": seq, "at": at, "prev_hash": prev}
        records.append(AuditRecord(**row, hash=entry_hash(row)))
        prev = records[-1].hash
    connection.execute(insert(audit_log), [asdict(record) for record in records])
    return records


def append_many(target: Engine | Connection, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Append `entries`, in order and together, to the chain; return them as stored.

    Given an `Engine`, in a transaction of its own, committed on return (retried whole on a
    PostgreSQL deadlock). Given a `Connection`, inside the caller's open transaction, which
    then holds the chain lock until it commits or rolls back; on PostgreSQL that transaction
    must be READ COMMITTED (the default), so that it sees the entry the previous lock holder
    committed. Every append waits for the chain lock and a commit, so a gateway under load
    appends the entries of many calls at once rather than one transaction each. Raises
    `Invalid` naming the field of the first bad entry, before taking any lock."""
    return _append_checked(target, [check_entry(entry) for entry in entries])


def _append_checked(target: Engine | Connection, checked: list[AuditEntry]) -> list[AuditRecord]:
    """`append_many` of entries `check_entry` has already passed."""
    if not checked:
        return []
    if isinstance(target, Connection):
        if not target.in_transaction():
            raise ValueError("append on a Connection joins its transaction: begin one first")
        return _append_locked(target, checked)

    if target.dialect.name == "postgresql":
        # Whatever the server's default, the read after the lock must see the latest commit
        # (psycopg puts the level in its BEGIN: no extra round trip).
        target = target.execution_options(isolation_level="READ COMMITTED")
    return run_locked(target, lambda connection: _append_locked(connection, checked))


def append(target: Engine | Connection, entry: AuditEntry) -> AuditRecord:
    """Append one entry (see `append_many`: the same transaction rules)."""
    return append_many(target, [entry])[0]


class GroupAppender:
    """Appends the entries of many concurrent calls together: group commit for the chain.

    Every append takes the one chain lock and waits for a commit, so one transaction per call
    would let a busy gateway audit no faster than its disk syncs, one call at a time. Calls
    `submit` their entry and wait on the returned future; one thread per worker process takes
    whatever has queued up (at most `batch`) and appends it in one transaction (as `append_many`),
    then resolves each future with its record, or with the error. A call still answers only
    once its own entry is committed, so no 2xx is ever sent for an unaudited call; under load
    the entries of the calls that arrived during one commit share the next.
    """

    def __init__(self, engine: Engine, *, batch: int = 500) -> None:
        self.engine, self.batch = engine, batch
        self._queue: queue.SimpleQueue[tuple[AuditEntry, Future[AuditRecord]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="audit-appender", daemon=True)
        self._thread.start()

    def submit(self, entry: AuditEntry) -> Future[AuditRecord]:
        """Queue `entry`; the future gives its stored record once committed. A bad entry
        fails its own future at once and never joins a batch (it would sink the others)."""
        future: Future[AuditRecord] = Future()
        try:
            self._queue.put((check_entry(entry), future))
        except Invalid as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Append what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            waiting = [first]
            while len(waiting) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                waiting.append(more)
            self._append(waiting)

    def _append(self, waiting: list[tuple[AuditEntry, Future[AuditRecord]]]) -> None:
        try:
            # Each entry was checked by `submit`: not again here, on every call's path.
            records = _append_checked(self.engine, [entry for entry, _ in waiting])
        except Exception as exc:  # every caller learns it, and answers 500 instead of a 2xx
            for _, future in waiting:
                future.set_exception(exc)
            return
        for (_, future), record in zip(waiting, records, strict=True):
            future.set_result(record)


# ----------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class VerifyResult:
    """`ok` when every entry holds; otherwise `bad_seq` is the first that does not and
    `reason` says why (``missing``, ``hash mismatch`` or ``broken link``). `entries` counts
    the entries checked and found good; `head` is the last good entry's hash."""

    ok: bool
    entries: int
    head: str = GENESIS
    bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: ``{"ok": true, "entries": n}``, plus where and why when not ok."""
        if self.ok:
            return {"ok": True, "entries": self.entries}
        return {
            "ok": False,
            "entries": self.entries,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
        }


def _require_log(engine: Engine) -> None:
    if not inspect(engine).has_table(audit_log.name):
        raise NotFound("the ledger has no audit log (the gateway creates it on start)")


def last_seq(engine: Engine) -> int:
    """The newest entry's seq (the number of entries, in an intact chain); 0 when empty.
    Raises `NotFound` when the ledger has no audit log at all."""
    _require_log(engine)
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(audit_log.c.seq))).scalar() or 0)


def _chunks(engine: Engine, chunk: int) -> Iterator[list[dict[str, Any]]]:
    """The entries in seq order, `chunk` at a time by keyset (``seq > last``): memory stays
    flat on millions of rows, and no cursor is held open across the walk."""
    after = 0
    while True:
        with engine.connect() as connection:
            rows = (
                connection.execute(
                    select(audit_log)
                    .where(audit_log.c.seq > after)
                    .order_by(audit_log.c.seq)
                    .limit(chunk)
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        yield [dict(row) for row in rows]
        after = int(rows[-1]["seq"])


def verify(
    engine: Engine, *, chunk: int = 10_000, progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """Walk the chain from entry 1 and stop at the first entry that does not hold: a seq
    missing (deleted, or renumbered), a hash that is not its content's (edited), or a
    prev_hash that is not the previous entry's hash (removed, inserted or reordered).
    `progress` is called with the entries checked after each chunk. Entries appended during
    the walk are checked too. Raises `NotFound` when the ledger has no audit log at all."""
    _require_log(engine)
    checked, prev = 0, GENESIS
    for rows in _chunks(engine, chunk):
        for row in rows:
            expected = checked + 1
            if row["seq"] != expected:
                return VerifyResult(False, checked, prev, expected, "missing")
            if entry_hash(row) != row["hash"]:
                return VerifyResult(False, checked, prev, expected, "hash mismatch")
            if row["prev_hash"] != prev:
                return VerifyResult(False, checked, prev, expected, "broken link")
            checked, prev = expected, row["hash"]
        if progress is not None:
            progress(checked)
    return VerifyResult(True, checked, prev)
