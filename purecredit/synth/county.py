"""Build a whole synthetic county on disk: every source as its owner delivers it, the
manifest that describes them, and the truth kept apart under ``truth/``.

Layout of ``out``::

    manifest.json            sources, files, row counts, defects, conflicts, study date
    sources/<source>/...     what the data zone receives
    truth/borrowers.parquet  true 12-month PD and realised default per person and enterprise
    truth/defects.parquet    every defective record by source, file and record number
    truth/default_events.parquet, truth/late_events.parquet   for playing loans forward
    truth/pd_history.parquet true 12-month PD per entity at quarter ends before the study date

No pipeline stage may read ``truth/``; only the synth's own play-forward, validation reports
and benchmarks do.
"""

from __future__ import annotations

import logging
import shutil
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from purecredit import __version__
from purecredit.synth.config import SynthConfig
from purecredit.synth.defects import DefectRates
from purecredit.synth.deliver import deliver, release_memory
from purecredit.synth.manifest import Manifest, SourceEntry, write_manifest
from purecredit.synth.sources import (
    Conflict,
    Extractor,
    bank,
    bureau,
    government,
    market,
    population,
    social,
    tax,
)
from purecredit.synth.world import World, build_world, oracle_auc, pd_history_table

logger = logging.getLogger(__name__)

EXTRACTORS: tuple[tuple[str, Extractor], ...] = (
    ("population", population.tables),
    ("government", government.tables),
    ("social", social.tables),
    ("tax", tax.tables),
    ("bank", bank.tables),
    ("bureau", bureau.tables),
    ("market", market.tables),
)
TRUTH_FILES = {
    "borrowers": "truth/borrowers.parquet",
    "defects": "truth/defects.parquet",
    "default_events": "truth/default_events.parquet",
    "late_events": "truth/late_events.parquet",
    "pd_history": "truth/pd_history.parquet",
}

Progress = Callable[[str], None]


def stream_seed(seed: int, name: str) -> np.random.Generator:
    """A generator per named stream, so one source's draws never shift another's."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def build_county(
    config: SynthConfig,
    out: Path,
    *,
    progress: Progress | None = None,
    extractors: Iterable[tuple[str, Extractor]] = EXTRACTORS,
) -> Manifest:
    """Simulate the county and write it under ``out``; returns the manifest it wrote."""
    step = progress or (lambda _: None)
    step("world")
    world = build_world(config)
    for stale in ("sources", "truth"):
        shutil.rmtree(out / stale, ignore_errors=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rates = DefectRates(**{name: config.defect_rate for name in DefectRates.__dataclass_fields__})
    entries: dict[str, SourceEntry] = {}
    logs: list[pd.DataFrame] = []
    conflicts: list[Conflict] = []
    for group, extract in extractors:
        for table in extract(world, stream_seed(config.seed, group)):
            spec, frames = table.spec, [table.frame]
            release_memory()  # what building the frame used and freed
            step(spec.name)
            conflicts.extend(table.conflicts)
            del table  # hand the frame over: deliver drops it once rendered
            entry, log = deliver(
                frames.pop(), spec, out, stream_seed(config.seed, spec.name), rates
            )
            entries[spec.name] = entry
            logs.append(log)
    step("truth")
    _write_truth(world, out, logs)
    manifest = _manifest(world, entries, conflicts, rates)
    write_manifest(manifest, out / "manifest.json")
    return manifest


def _write_truth(world: World, out: Path, logs: list[pd.DataFrame]) -> None:
    truth = world.truth.drop(columns=["latent_z"])
    truth.to_parquet(out / TRUTH_FILES["borrowers"], index=False)
    pd.concat(logs, ignore_index=True).to_parquet(out / TRUTH_FILES["defects"], index=False)
    for name, frame in (("default_events", world.defaults), ("late_events", world.lates)):
        keyed = world.keyed(frame)
        keyed = keyed.assign(
            entity_type=np.where(keyed["entity"] == "person", "person", "enterprise"),
            month=[world.cal.month_start(int(m)) for m in keyed["month"]],
        ).drop(columns=["entity", "idx"])
        keyed.rename(columns={"key": "entity_key"}).to_parquet(out / TRUTH_FILES[name], index=False)
    pq.write_table(pd_history_table(world), out / TRUTH_FILES["pd_history"])


def _manifest(
    world: World, entries: dict[str, SourceEntry], conflicts: list[Conflict], rates: DefectRates
) -> Manifest:
    cfg = world.config
    truth = world.truth
    roles = world.persons["role"].value_counts(normalize=True).round(4).sort_index()
    kinds = world.enterprises["kind"].value_counts().sort_index()
    return Manifest(
        purecredit_version=__version__,
        seed=cfg.seed,
        people=cfg.people,
        months=cfg.months,
        study_date=cfg.study_date,
        history_start=world.cal.month_start(0),
        default_rate=cfg.default_rate,
        defect_rates={
            name: float(getattr(rates, name)) for name in sorted(rates.__dataclass_fields__)
        },
        sources=entries,
        conflicts={
            f"{c.item}:{c.other}": {
                "item": c.item,
                "sources": [c.authoritative, c.other],
                "count": c.count,
            }
            for c in conflicts
        },
        truth=dict(TRUTH_FILES),
        extra={
            "horizon_months": cfg.horizon_months,
            "bureau_report_every": cfg.bureau_report_every,
            "bureau_report_history": cfg.bureau_report_history,
            "pd_history_months": cfg.pd_history_months,
            "conflict_rate": cfg.conflict_rate,
            "households": int(world.households.shape[0]),
            "enterprises": {str(k): int(v) for k, v in kinds.items()},
            "role_shares": {str(k): float(v) for k, v in roles.items()},
            "bank_loans": int(world.bank_loans.shape[0]),
            "realised_default_rate_12m": round(float(truth["default_12m"].mean()), 6),
            "oracle_auc": round(oracle_auc(truth), 6),
        }
        # Only a county built from its own reference facts records them, so the default
        # manifest stays as it was; `later` rebuilds the world from these fields.
        | ({"reference": str(cfg.reference)} if cfg.reference is not None else {}),
    )
