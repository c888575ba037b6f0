"""One ingest run: every delivered file of every catalogued source becomes one batch in the
lake (facts and quarantine together, committed atomically), reconciled as
read = landed + quarantined + duplicates.

A batch is identified by its source and the hash of its content, so ingesting the same
delivery twice changes nothing, and a run killed at any point is completed by the next one:
committed batches are skipped, staged leftovers are removed (``Lake.recover``), and the vault's
writes are idempotent. Rows with bad data are an outcome, not a failure.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property, partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.catalog import Catalog, SourceDef
from purecredit.ingest.catalog_check import match_files
from purecredit.ingest.connectors.base import RawBatch
from purecredit.ingest.connectors.http import read_api
from purecredit.ingest.dedupe import KnownFacts, drop_repeated_records
from purecredit.ingest.facts import to_facts
from purecredit.ingest.protect import Protector, protect
from purecredit.ingest.quarantine import quarantine_rows
from purecredit.ingest.readahead import ReadAhead
from purecredit.ingest.validate import validate
from purecredit.store.lake import Lake

logger = logging.getLogger(__name__)
MONTH_IN_NAME = re.compile(r"_(\d{4})-(\d{2})\.[a-z]+$")

Progress = Callable[[str], None]


@dataclass
class SourceReport:
    read: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    late: int = 0
    facts: int = 0
    files: int = 0
    skipped_files: int = 0
    backfilled: int = 0  # records of a first copy dated back by the source's history rule
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: SourceReport) -> None:
        for name in (
            "read",
            "landed",
            "quarantined",
            "duplicates",
            "late",
            "facts",
            "files",
            "backfilled",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped_files += other.skipped_files
        for reason, n in other.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + n

    @property
    def reconciled(self) -> bool:
        return self.read == self.landed + self.quarantined + self.duplicates


@dataclass
class IngestReport:
    sources: dict[str, SourceReport] = field(default_factory=dict)
    unmatched_files: list[str] = field(default_factory=list)
    conflicts: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "sources": {
                name: {
                    "read": r.read,
                    "landed": r.landed,
                    "quarantined": r.quarantined,
                    "duplicates": r.duplicates,
                    "late": r.late,
                    "facts": r.facts,
                    "files": r.files,
                    "skipped_files": r.skipped_files,
                    "backfilled": r.backfilled,
                    "quarantine_reasons": dict(sorted(r.quarantine_reasons.items())),
                }
                for name, r in sorted(self.sources.items())
            },
            "unmatched_files": self.unmatched_files,
            "conflicts": self.conflicts,
            "reconciled": all(r.reconciled for r in self.sources.values()),
        }


def batch_id_for(source: str, content_hash: str) -> str:
    return hashlib.sha256(f"{source}\0{content_hash}".encode()).hexdigest()[:32]


def file_observed_at(source: SourceDef, rel_path: str, default: datetime) -> datetime:
    """When the bank learned a file's facts: a monthly file's month end plus the source's
    delivery lag; any other file when the run says it was delivered."""
    match = MONTH_IN_NAME.search(rel_path)
    if not (source.monthly and match):
        return default
    year, month = int(match.group(1)), int(match.group(2))
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return datetime.combine(first_next + timedelta(days=source.observed_lag_days - 1), time())


class _Run:
    """What every batch of one run shares, and the one way a batch is taken in.

    A batch goes through two stages: `prepare` (read, validate, de-duplicate, protect,
    unpivot) in the calling thread, and `commit` (drop facts the lake holds, write, commit) in
    one worker thread, so a file is prepared while the one before it is written: most of a
    commit (Parquet encoding, hashing in DuckDB, fsync) runs outside the GIL. Commits keep the
    order of the files, one at a time, and a batch is checked against the lake only once the
    batch before it is committed, so the result is that of a run one file after the other.
    Use it as a context manager: leaving waits for the last commit.
    """

    def __init__(
        self, lake: Lake, protector: Protector, observed_at: datetime, known: KnownFacts
    ) -> None:
        self.lake = lake
        self.protector = protector
        self.observed_at = observed_at
        self.known = known
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lake-commit")
        # The commit in flight: its batch id, its future and the source total it adds to.
        self._pending: tuple[str, Future[SourceReport], SourceReport] | None = None
        self._taken: set[str] = set()  # sources with a batch in this run: no longer a first copy

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._settle()
        finally:
            self._pool.shutdown(wait=True)  # never leave a commit running unattended

    def take(
        self,
        total: SourceReport,
        source: SourceDef,
        *,
        content_hash: str,
        rel: str,
        load: Callable[[], RawBatch],
        last: bool = False,
    ) -> None:
        """Land one delivered file (or API file) unless the lake already has it (or is about
        to: the same bytes twice in one delivery); ``load`` reads it only when needed.
        ``last``: no other file of the source follows in this run."""
        batch = batch_id_for(source.name, content_hash)
        if (self._pending is not None and self._pending[0] == batch) or self.lake.has_batch(batch):
            total.skipped_files += 1
            return
        when = file_observed_at(source, rel, self.observed_at)
        first = source.name not in self._taken and not any(
            marker["source"] == source.name for marker in self.lake.committed_batches()
        )
        self._taken.add(source.name)
        ready = prepare(
            load(),
            source,
            batch_id=batch,
            observed_at=when,
            protector=self.protector,
            backfill=first,
        )
        self._settle()
        job = self._pool.submit(commit, ready, lake=self.lake, known=self.known, last=last)
        self._pending = (batch, job, total)

    def _settle(self) -> None:
        """Wait for the commit in flight and count it (its error, if any, is raised here)."""
        if self._pending is None:
            return
        _, job, total = self._pending
        self._pending = None
        total.add(job.result())


@dataclass(frozen=True)
class _Delivered:
    """One delivered file of a catalogued source."""

    source: SourceDef
    path: Path
    rel: str

    @cached_property
    def content_hash(self) -> str:
        """The hash that names its batch: computed when the file's turn (or read-ahead)
        comes, not for every file before the run starts."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def ingest_directory(
    root: Path,
    *,
    catalog: Catalog,
    lake: Lake,
    protector: Protector,
    observed_at: datetime,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a delivery directory (``root/sources/<source>/...``)."""
    step = progress or (lambda _: None)
    lake.recover()
    check = match_files(catalog, root)
    wanted = set(only) if only is not None else None
    unmatched = sorted(p.relative_to(root).as_posix() for p in check.unmatched)
    report = IngestReport(unmatched_files=unmatched)
    files = [
        _Delivered(catalog.source(name), path, path.relative_to(root).as_posix())
        for name in sorted(check.matched)
        if wanted is None or name in wanted
        for path in sorted(check.matched[name])
    ]

    def uncommitted(index: int) -> bool:
        file = files[index]
        return not lake.has_batch(batch_id_for(file.source.name, file.content_hash))

    ahead = ReadAhead(root, [(f.source, f.path) for f in files], uncommitted)
    known = KnownFacts(lake, duckdb.connect())
    with _Run(lake, protector, observed_at, known) as run, ahead:
        for index, file in enumerate(files):
            total = report.sources.setdefault(file.source.name, SourceReport())
            step(file.rel)
            run.take(
                total,
                file.source,
                content_hash=file.content_hash,
                rel=file.rel,
                load=partial(ahead.load, index),
                last=index + 1 == len(files) or files[index + 1].source.name != file.source.name,
            )
    return report


def ingest_api(
    base_url: str,
    *,
    catalog: Catalog,
    lake: Lake,
    protector: Protector,
    observed_at: datetime,
    token: str,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest every catalogued source a data-exchange API serves (one batch per served file)."""
    step = progress or (lambda _: None)
    lake.recover()
    report = IngestReport()
    wanted = set(only) if only is not None else None
    with _Run(lake, protector, observed_at, KnownFacts(lake, duckdb.connect())) as run:
        for name in sorted(catalog.sources):
            if wanted is not None and name not in wanted:
                continue
            source = catalog.source(name)
            total = report.sources.setdefault(name, SourceReport())
            for raw in read_api(base_url, source, token=token):
                step(raw.file)
                run.take(
                    total,
                    source,
                    content_hash=raw.content_hash,
                    rel=raw.file,
                    load=partial(_itself, raw),
                )
    return report


def _itself(raw: RawBatch) -> RawBatch:
    return raw


@dataclass(frozen=True)
class Prepared:
    """A batch ready to commit: its facts and quarantine rows, all that does not depend on
    what the lake holds. (With parsing done by the read-ahead process, unpivoting here
    balances this stage against the commit stage that runs beside it.)"""

    source: str
    batch_id: str
    facts: pa.Table
    quarantine: pa.Table
    records: int  # records left once repeated ones are dropped
    report: SourceReport  # all but landed, facts and the duplicates the lake already held


def prepare(
    raw: RawBatch,
    source: SourceDef,
    *,
    batch_id: str,
    observed_at: datetime,
    protector: Protector,
    backfill: bool = False,
) -> Prepared:
    """Validate, de-duplicate and protect one batch; unpivot it into facts. ``backfill``: the
    batch is the source's first copy, dated back by its history rule if it has one."""
    checked = validate(raw.table, source)
    unique, repeated = drop_repeated_records(checked.table)
    protected = protect(unique, source, protector)
    facts = to_facts(
        protected, source, batch_id=batch_id, observed_at=observed_at, backfill=backfill
    )
    rejects = pa.concat_tables([raw.rejects, checked.rejects], promote_options="permissive")
    quarantine = quarantine_rows(
        rejects, source=source.name, batch_id=batch_id, observed_at=observed_at, protector=protector
    )
    reasons: dict[str, int] = {}
    if quarantine.num_rows:
        for row in quarantine.group_by("defect").aggregate([("record", "count")]).to_pylist():
            reasons[str(row["defect"])] = int(row["record_count"])
    report = SourceReport(
        read=raw.table.num_rows + raw.rejects.num_rows,
        quarantined=quarantine.num_rows,
        duplicates=repeated,
        late=_late(unique, source, observed_at),
        files=1,
        backfilled=unique.num_rows if backfill and source.history else 0,
        quarantine_reasons=reasons,
    )
    return Prepared(source.name, batch_id, facts, quarantine, unique.num_rows, report)


def commit(ready: Prepared, *, lake: Lake, known: KnownFacts, last: bool = False) -> SourceReport:
    """Commit a prepared batch without the facts the lake already holds; returns its
    reconciliation. ``known`` (shared by the run's batches) tells which
    facts those are, and learns this batch's once it is committed (its keys are only
    hashed for that when more files of the source follow: ``last`` is False)."""
    name = ready.source
    new = known.new_facts(ready.facts, name, keep_keys=not last)
    fresh = new.table
    landed = pc.count_distinct(fresh.column("record")).as_py() if fresh.num_rows else 0
    with lake.batch(name, ready.batch_id) as writer:
        writer.write("facts", fresh)
        writer.write("quarantine", ready.quarantine)
    known.remember(ready.batch_id, new.keys)
    report = replace(
        ready.report,
        landed=landed,
        facts=fresh.num_rows,
        duplicates=ready.report.duplicates + ready.records - landed,
        quarantine_reasons=dict(ready.report.quarantine_reasons),
    )
    return report


def land(
    raw: RawBatch,
    source: SourceDef,
    *,
    batch_id: str,
    observed_at: datetime,
    lake: Lake,
    protector: Protector,
    known: KnownFacts,
) -> SourceReport:
    """Validate, de-duplicate, protect and commit one batch; returns its reconciliation
    (`prepare`, then `commit`, in the calling thread)."""
    ready = prepare(raw, source, batch_id=batch_id, observed_at=observed_at, protector=protector)
    return commit(ready, lake=lake, known=known)


def _late(table: pa.Table, source: SourceDef, observed_at: datetime) -> int:
    """Records of a monthly feed dated before the month their file reports on."""
    if not (source.monthly and source.valid_from) or table.num_rows == 0:
        return 0
    file_month = (observed_at - timedelta(days=source.observed_lag_days)).date().replace(day=1)
    dated = table.column(source.valid_from)
    return int(pc.sum(pc.less(dated, pa.scalar(file_month, pa.date32()))).as_py() or 0)
