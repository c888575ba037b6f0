"""A county's later deliveries: what each owner sends at the end of each month after the
study date, so post-loan monitoring has new data to watch.

Layout, for each month k after the study month (``YYYY-MM`` its label)::

    later/YYYY-MM/manifest.json        the delivery's files, row counts and defect counts
    later/YYYY-MM/sources/<source>/... the same file names and formats as the county's

What a delivery holds:

- a monthly feed (a source with ``monthly_by``: social security, tax returns and invoices,
  utility bills, deposits, repayments, and the credit-bureau extracts, where the bank pulls one
  post-loan report per subject at the month end) holds only the month's file;
- a register or other copy holds the previous copy as delivered, byte for byte (its defects
  included: an owner's bad records stay bad), followed by the records new or changed in the
  month, a changed record as a new version carrying its own date (``closed_on``, ``updated``,
  ...); so re-ingesting it adds facts only for those records.

The world is rebuilt from the county's manifest (same seed, same world) and every extractor
draws a month's values independently of how many months are delivered (`sources.month_rng`),
so a later delivery never revises what was delivered before. Defects fall on the new rows at
the county's rates, except late-arriving rows: a one-month delivery has no later file.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from purecredit import __version__
from purecredit.core.errors import Invalid
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import EXTRACTORS, stream_seed
from purecredit.synth.defects import DefectRates
from purecredit.synth.deliver import deliver, release_memory, render
from purecredit.synth.formats import WrittenFile, write_parquet, write_xlsx
from purecredit.synth.manifest import (
    FileEntry,
    Manifest,
    SourceEntry,
    read_manifest,
    write_manifest,
)
from purecredit.synth.sourcespec import SourceSpec
from purecredit.synth.world import World, build_world

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
LATER = "later"


def config_from_manifest(manifest: Manifest) -> SynthConfig:
    """The config a county was built with, as far as its manifest records it."""
    extra = manifest.extra
    fields = (
        *("horizon_months", "bureau_report_every", "bureau_report_history"),
        *("pd_history_months", "conflict_rate", "reference"),
    )
    known = {name: extra[name] for name in fields if name in extra}
    rates = set(manifest.defect_rates.values())
    return SynthConfig.model_validate(
        {
            "people": manifest.people,
            "seed": manifest.seed,
            "months": manifest.months,
            "study_date": manifest.study_date,
            "default_rate": manifest.default_rate,
            "defect_rate": max(rates) if rates else 0.0,
            **known,
        }
    )


def build_later(county: Path, months: int, *, progress: Progress | None = None) -> list[Path]:
    """Write the deliveries of the ``months`` months after the county's study date under
    ``county/later/``; returns their directories, oldest first.

    Raises `Invalid` (naming ``months``) when a month would pass the simulated horizon, and
    when the rebuilt world is not the county's (another purecredit version, say).
    """
    step = progress or (lambda _: None)
    manifest = read_manifest(county / "manifest.json")
    config = config_from_manifest(manifest)
    if not 1 <= months <= config.horizon_months:
        raise Invalid(
            f"months={months}: a later delivery must be 1 to {config.horizon_months} months "
            "after the study date (the world's horizon_months)"
        )
    step("world")
    world = build_world(config)
    _check_same_world(world, manifest)
    rates = replace(DefectRates(**manifest.defect_rates), late_arriving=0.0)
    study = world.cal.study_month
    step("baseline")
    copies = {spec.name: frame for spec, frame in _extract(world, study) if spec.monthly_by is None}
    previous, written = county, []
    for last in range(study + 1, study + months + 1):
        label = world.cal.month_label(last)
        out = county / LATER / label
        shutil.rmtree(out, ignore_errors=True)
        entries: dict[str, SourceEntry] = {}
        for spec, frame in _extract(world, last):
            step(f"{label} {spec.name}")
            seed = stream_seed(config.seed, f"{spec.name}@{label}")
            if spec.monthly_by is None:
                fresh = _changed(frame, copies[spec.name], spec)
                copies[spec.name] = frame
                entries[spec.name] = _deliver_copy(fresh, spec, previous, out, seed, rates)
            else:
                month = _in_month(frame, spec, world, last)
                del frame
                entries[spec.name] = deliver(month, spec, out, seed, rates)[0]
            release_memory()
        write_manifest(_manifest(manifest, entries, label, rates), out / "manifest.json")
        logger.info("later delivery %s: %d sources", label, len(entries))
        written.append(out)
        previous = out
    return written


def _check_same_world(world: World, manifest: Manifest) -> None:
    """The rebuilt world must be the county's: same households and the same loan book."""
    expected = {k: manifest.extra.get(k) for k in ("households", "bank_loans")}
    found = {"households": world.households.shape[0], "bank_loans": world.bank_loans.shape[0]}
    if any(expected[k] is not None and expected[k] != found[k] for k in found):
        raise Invalid(f"the rebuilt world differs from the county's manifest: {found}")


def _extract(world: World, last: int) -> list[tuple[SourceSpec, pd.DataFrame]]:
    """Every source's clean table as of the end of month ``last``, with the county's streams.

    The population register has no history to cut (its extractor takes no month); bureau
    reports are pulled at ``last`` only.
    """
    tables: list[tuple[SourceSpec, pd.DataFrame]] = []
    for group, extract in EXTRACTORS:
        rng = stream_seed(world.config.seed, group)
        found = extract(world, rng) if group == "population" else extract(world, rng, last)  # type: ignore[call-arg]
        tables.extend((table.spec, table.frame) for table in found)
    return tables


def _in_month(frame: pd.DataFrame, spec: SourceSpec, world: World, last: int) -> pd.DataFrame:
    """The rows of a monthly feed dated in month ``last`` (its file of that month)."""
    assert spec.monthly_by is not None
    dates = pd.to_datetime(frame[spec.monthly_by]).to_numpy()
    start = np.datetime64(world.cal.month_start(last))
    end = np.datetime64(world.cal.month_start(last + 1))
    return frame[(dates >= start) & (dates < end)].reset_index(drop=True)


def _changed(current: pd.DataFrame, before: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """Rows of ``current`` not in ``before``, compared as delivered (rendered text), in order."""
    now, then = _row_hashes(current, spec), _row_hashes(before, spec)
    return current[~np.isin(now, then)].reset_index(drop=True)


def _row_hashes(frame: pd.DataFrame, spec: SourceSpec) -> np.ndarray:
    table = render(frame, spec)
    text = pd.DataFrame({c: table.column(c).to_pandas().astype(str) for c in spec.columns})
    return np.asarray(pd.util.hash_pandas_object(text, index=False).to_numpy())


def _deliver_copy(
    fresh: pd.DataFrame,
    spec: SourceSpec,
    previous: Path,
    out: Path,
    rng: np.random.Generator,
    rates: DefectRates,
) -> SourceEntry:
    """The previous copy as delivered, then the month's new and changed rows, damaged at
    ``rates``; the entry counts the new rows' defects."""
    rel = f"sources/{spec.name}/{spec.file_name(None)}"
    with tempfile.TemporaryDirectory() as scratch:
        entry, _ = deliver(fresh, spec, Path(scratch), rng, rates)
        done = _append(previous / rel, Path(scratch) / rel, out, rel, spec)
    files = [FileEntry(path=done.path, rows=done.rows, sha256=done.sha256)]
    return entry.model_copy(update={"files": files, "rows": done.rows})


def _append(before: Path, fresh: Path, out: Path, rel: str, spec: SourceSpec) -> WrittenFile:
    """``before``'s records unchanged, then ``fresh``'s, in the source's own format."""
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.fmt == "parquet":
        old, new = pq.read_table(before), pq.read_table(fresh)
        both = pa.concat_tables([old, new.cast(old.schema)]) if old.num_rows else new
        return write_parquet(both, out, rel)
    if spec.fmt == "xlsx":
        header, rows = _xlsx_rows(before)
        rows += _xlsx_rows(fresh)[1]
        columns = {name: pa.array([r[i] for r in rows]) for i, name in enumerate(header)}
        return write_xlsx(pa.table(columns) if rows else _empty(header), out, rel)
    data = fresh.read_bytes()
    if spec.fmt == "csv":  # one header line, then records
        data = data[data.index(b"\n") + 1 :]
    target.write_bytes(before.read_bytes() + data)
    return _written(target, rel, spec)


def _xlsx_rows(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    """Header and data rows of every sheet (a sheet spills past Excel's row limit)."""
    book = openpyxl.load_workbook(path, read_only=True)
    header: list[str] = []
    rows: list[tuple[object, ...]] = []
    for sheet in book.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        header = [str(v) for v in values[0]] if values else header
        rows.extend(values[1:])
    book.close()
    return header, rows


def _empty(header: list[str]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in header})


def _written(path: Path, rel: str, spec: SourceSpec) -> WrittenFile:
    """Records and sha256 of a text file written by appending (records are lines)."""
    data = path.read_bytes()
    lines = data.count(b"\n") - (1 if spec.fmt == "csv" else 0)
    return WrittenFile(rel, lines, hashlib.sha256(data).hexdigest())


def _manifest(
    county: Manifest, entries: dict[str, SourceEntry], label: str, rates: DefectRates
) -> Manifest:
    return county.model_copy(
        update={
            "purecredit_version": __version__,
            "defect_rates": {name: float(getattr(rates, name)) for name in sorted(rates.as_dict())},
            "sources": entries,
            "conflicts": {},
            "truth": {},
            "extra": {"delivery_month": label, "study_date": county.study_date.isoformat()},
        }
    )
