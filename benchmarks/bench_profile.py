"""Benchmark: profiles for a county: a training table, full materialisation, online lookups.

    python benchmarks/bench_profile.py [--people 100000] [--home DIR] [--dates 12] [--json FILE]

`--home` reuses an ingested county (a PURECREDIT_HOME with a lake); without it, a county is
built and ingested first (not timed). Then, timed:

1. prepare: every source's records and their resolution (DuckDB over the lake);
2. a training table: every person x `--dates` month ends from January 2026 on, all person
   modules: the county is ingested as delivered on 5 January 2026, so from then on every
   source is known and each row joins every record it would in production (earlier dates
   would see no copy-delivered source and flatter the timing);
3. full materialisation: `build_profiles` as of one date into the ledger (SQLite);
4. online lookups: `OnlineProfiles.get` for 20,000 random people, p50 and p99;
5. graph lookups: `related_online` (everyone within two hops) for 2,000 random people and
   firms, p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.profile.build import build_profiles, subjects
from purecredit.profile.compute import prepare, profile
from purecredit.profile.graph import related_online
from purecredit.profile.online import OnlineProfiles
from purecredit.profile.spine import make_spine
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county

OBSERVED = datetime(2026, 1, 5)
AS_OF = date(2026, 1, 31)


def _month_ends(first: date, n: int) -> list[date]:
    """`n` month ends from `first`'s month on."""
    ends = []
    for k in range(n):
        index = first.year * 12 + first.month + k  # the month after the k-th
        ends.append(date(index // 12, index % 12 + 1, 1) - timedelta(days=1))
    return ends


def _timed(call: Callable[[str], object], keys: list[str]) -> list[int]:
    """Nanoseconds of each call."""
    took = []
    for key in keys:
        start = time.perf_counter_ns()
        call(key)
        took.append(time.perf_counter_ns() - start)
    return took


def _ingested(people: int, tmp: Path) -> Path:
    home = tmp / "home"
    build_county(SynthConfig(people=people), tmp / "county")
    settings = Settings(home=home)
    ingest_directory(
        tmp / "county",
        catalog=load_catalog(),
        lake=Lake(home / "lake"),
        protector=Protector.from_settings(settings, ledger_engine(settings)),
        observed_at=OBSERVED,
    )
    return home


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--home", type=Path, help="an ingested PURECREDIT_HOME to reuse")
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = args.home or _ingested(args.people, tmp)
        lake, catalog = Lake(home / "lake"), load_catalog()

        start = time.perf_counter()
        con = prepare(lake, catalog)
        prepare_s = time.perf_counter() - start

        people = subjects(con, catalog, "person", AS_OF)
        dates = _month_ends(AS_OF, args.dates)
        spine = make_spine(
            np.repeat(np.asarray(people.to_pylist(), dtype=object), len(dates)),
            dates * len(people),
        )
        start = time.perf_counter()
        table = profile(con, "person", spine)
        training_s = time.perf_counter() - start

        engine = ledger_engine(Settings(home=tmp / "online"))
        start = time.perf_counter()
        report = build_profiles(lake, catalog, engine, AS_OF)
        build_s = time.perf_counter() - start

        online = OnlineProfiles(engine, "person")
        pick = random.Random(7)
        took = _timed(online.get, pick.choices(people.to_pylist(), k=args.lookups))
        parties = people.to_pylist() + subjects(con, catalog, "enterprise", AS_OF).to_pylist()
        walks = _timed(lambda key: related_online(engine, key), pick.choices(parties, k=2000))
    result = {
        "people": len(people),
        "features": table.num_columns - 2,
        "prepare_seconds": round(prepare_s, 1),
        "training_rows": table.num_rows,
        "training_seconds": round(training_s, 1),
        "materialise_seconds": round(build_s, 1),
        "materialised": report.subjects,
        "lookup_p50_ms": round(float(np.percentile(took, 50)) / 1e6, 3),
        "lookup_p99_ms": round(float(np.percentile(took, 99)) / 1e6, 3),
        "related_p50_ms": round(float(np.percentile(walks, 50)) / 1e6, 3),
        "related_p99_ms": round(float(np.percentile(walks, 99)) / 1e6, 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cpus": len(os.sched_getaffinity(0)),
    }
    print(
        f"{result['people']:,} people, {result['features']} features: prepare "
        f"{result['prepare_seconds']} s; training table {result['training_rows']:,} rows in "
        f"{result['training_seconds']} s; materialise {result['materialise_seconds']} s; "
        f"lookup p50 {result['lookup_p50_ms']} ms, p99 {result['lookup_p99_ms']} ms; "
        f"two-hop walk p50 {result['related_p50_ms']} ms, p99 {result['related_p99_ms']} ms; "
        f"peak RSS {result['peak_rss_gib']} GiB"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
