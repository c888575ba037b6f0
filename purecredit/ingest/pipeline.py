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
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.ingest.catalog import Catalog, SourceDef
from purecredit.ingest.catalog_check import match_files
from purecredit.ingest.connectors.base import RawBatch
from purecredit.ingest.connectors.files import read_file
from purecredit.ingest.connectors.http import read_api
from purecredit.ingest.dedupe import drop_repeated_records, new_facts
from purecredit.ingest.facts import to_facts
from purecredit.ingest.protect import Protector, protect
from purecredit.ingest.quarantine import quarantine_rows
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
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: SourceReport) -> None:
        for name in ("read", "landed", "quarantined", "duplicates", "late", "facts", "files"):
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


@dataclass(frozen=True)
class _Run:
    """What every batch of one run shares, and the one way a batch is taken in."""

    lake: Lake
    protector: Protector
    observed_at: datetime
    con: duckdb.DuckDBPyConnection

    def take(
        self,
        total: SourceReport,
        source: SourceDef,
        *,
        content_hash: str,
        rel: str,
        load: Callable[[], RawBatch],
    ) -> None:
        """Land one delivered file (or API file) unless the lake already has it; ``load``
        reads it only when needed."""
        batch = batch_id_for(source.name, content_hash)
        if self.lake.has_batch(batch):
            total.skipped_files += 1
            return
        when = file_observed_at(source, rel, self.observed_at)
        total.add(
            land(
                load(),
                source,
                batch_id=batch,
                observed_at=when,
                lake=self.lake,
                protector=self.protector,
                con=self.con,
            )
        )


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
    run = _Run(lake, protector, observed_at, duckdb.connect())
    check = match_files(catalog, root)
    wanted = set(only) if only is not None else None
    unmatched = sorted(p.relative_to(root).as_posix() for p in check.unmatched)
    report = IngestReport(unmatched_files=unmatched)
    for name in sorted(check.matched):
        if wanted is not None and name not in wanted:
            continue
        source = catalog.source(name)
        total = report.sources.setdefault(name, SourceReport())
        for path in sorted(check.matched[name]):
            rel = path.relative_to(root).as_posix()
            step(rel)
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            run.take(
                total,
                source,
                content_hash=content,
                rel=rel,
                load=partial(read_file, path, root, source),
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
    run = _Run(lake, protector, observed_at, duckdb.connect())
    report = IngestReport()
    wanted = set(only) if only is not None else None
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


def land(
    raw: RawBatch,
    source: SourceDef,
    *,
    batch_id: str,
    observed_at: datetime,
    lake: Lake,
    protector: Protector,
    con: duckdb.DuckDBPyConnection,
) -> SourceReport:
    """Validate, de-duplicate, protect and commit one batch; returns its reconciliation.
    ``con`` is a scratch DuckDB connection the run shares (opening one costs milliseconds)."""
    checked = validate(raw.table, source)
    unique, repeated = drop_repeated_records(checked.table)
    protected = protect(unique, source, protector)
    facts = to_facts(protected, source, batch_id=batch_id, observed_at=observed_at)
    fresh = new_facts(facts, con, lake.files("facts", source.name))
    landed_records = pc.count_distinct(fresh.column("record")).as_py() if fresh.num_rows else 0
    already_known = unique.num_rows - landed_records
    rejects = pa.concat_tables([raw.rejects, checked.rejects], promote_options="permissive")
    quarantine = quarantine_rows(
        rejects, source=source.name, batch_id=batch_id, observed_at=observed_at, protector=protector
    )
    with lake.batch(source.name, batch_id) as writer:
        writer.write("facts", fresh)
        writer.write("quarantine", quarantine)
    reasons: dict[str, int] = {}
    if quarantine.num_rows:
        for row in quarantine.group_by("defect").aggregate([("record", "count")]).to_pylist():
            reasons[str(row["defect"])] = int(row["record_count"])
    return SourceReport(
        read=raw.table.num_rows + raw.rejects.num_rows,
        landed=landed_records,
        quarantined=quarantine.num_rows,
        duplicates=repeated + already_known,
        late=_late(unique, source, observed_at),
        facts=fresh.num_rows,
        files=1,
        quarantine_reasons=reasons,
    )


def _late(table: pa.Table, source: SourceDef, observed_at: datetime) -> int:
    """Records of a monthly feed dated before the month their file reports on."""
    if not (source.monthly and source.valid_from) or table.num_rows == 0:
        return 0
    file_month = (observed_at - timedelta(days=source.observed_lag_days)).date().replace(day=1)
    dated = table.column(source.valid_from)
    return int(pc.sum(pc.less(dated, pa.scalar(file_month, pa.date32()))).as_py() or 0)
