"""Benchmark: how long a synthetic county takes to build, and its peak memory.

    python benchmarks/bench_synth.py [--people 10000 1000000] [--json FILE]

Each size runs in its own process so peak RSS is that build's alone. The issue's targets:
10,000 people with all sources in under 30 s; 1,000,000 in under 15 min and below 8 GiB.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(people: int) -> dict[str, float]:
    """Build one county in this process and report seconds, peak RSS and output size."""
    from purecredit.synth.config import SynthConfig
    from purecredit.synth.county import build_county

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = build_county(SynthConfig(people=people), Path(tmp))
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = sum(e.rows for e in manifest.sources.values())
    return {
        "people": people,
        "seconds": round(seconds, 2),
        "peak_rss_gib": round(peak_kib / 2**20, 2),
        "rows": rows,
        "rows_per_second": round(rows / seconds),
        "output_mib": round(size / 2**20, 1),
        "sources": len(manifest.sources),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    results = []
    for people in args.people:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(people)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        r = result
        print(
            f"{people:>10,} people  {r['seconds']:>8.1f} s  peak {r['peak_rss_gib']:.2f} GiB  "
            f"{r['rows']:>12,} rows ({r['rows_per_second']:,}/s)  {r['output_mib']:,} MiB"
        )
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpus()}
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
