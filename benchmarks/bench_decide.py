"""Decisions per second, in process, on a county with trained models and online profiles.

Two figures, each over the same applicants:

- **without the write**: the online profile lookup, the champion model, the ledger standing
  read and the pure `decide` (rules, PD, grade, reasons, limit, price, authority), each timed
  on its own as well, so the report shows where the time goes;
- **with the write**: `Counter.apply` whole: identity check and token, consent recorded,
  profile lookup, decision, the grant in the unified-limit ledger, the decision stored.

    python benchmarks/bench_decide.py --home HOME --county COUNTY [--n 2000] [--json FILE]
                                      [--gc-freeze]

HOME holds a lake, built profiles and trained models (`purecredit demo --no-serve`, or
ingest + `profile build` + `model train`); COUNTY is the synthetic county it came from (only
its population register is read, for resident ID numbers to apply with). The applications
are written to HOME's ledger.

Nothing is set aside from the timed part: each decision does its own profile lookup and
ledger read, and the garbage collector runs as it will. `--gc-freeze` runs `gc.collect()`
then `gc.freeze()` after loading, as a server may once at start-up, so that what is loaded for
the life of the process (models, policy, ORM and pandas state) is not scanned again by each
full collection; the JSON says which was measured (`gc_frozen`).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.core.settings import Settings
from purecredit.core.subjects import subject_key
from purecredit.decide.counter import Counter
from purecredit.decide.engine import Application, decide
from purecredit.score.sample import segment_of

STEPS = ("profile", "model", "standing", "decide")


def applicants(counter: Counter, county: Path, n: int) -> list[tuple[str, str]]:
    """(resident ID, lake key) of up to `n` working-age residents who have a profile, in a
    fixed random order."""
    register = pd.read_parquet(
        county / "sources" / "population_register" / "population_register.parquet"
    )
    born = pd.to_datetime(register["出生日期"], errors="coerce")
    ids = register.loc[
        (born < pd.Timestamp("2000-01-01")) & (born > pd.Timestamp("1961-01-01")), "公民身份号码"
    ]
    keys = []
    for resident_id in ids.astype(str).sample(frac=1.0, random_state=7).tolist():
        try:
            _, key, _ = subject_key(resident_id, counter.settings)
        except Invalid:  # the register carries deliberate defects
            continue
        if counter.profiles["person"].get(key) is not None:
            keys.append((resident_id, key))
        if len(keys) == n:
            break
    return keys


def pure_decision(counter: Counter, branch: str) -> Callable[[str, int], tuple[str, list[float]]]:
    """One decision without the write: (outcome, seconds spent in each of `STEPS`)."""
    policy, lpr_1y = counter.policy, counter.settings.lpr_1y

    def one(key: str, i: int) -> tuple[str, list[float]]:
        t0 = time.perf_counter()
        profile = counter.profiles["person"].get(key)
        assert profile is not None
        t1 = time.perf_counter()
        model = counter.model_for("person", segment_of(profile))
        t2 = time.perf_counter()
        standing = counter.standing(key, "household")
        t3 = time.perf_counter()
        app = Application(f"B{i}", key, "person", "household", 50_000, branch, "outlet", "C0",
                          "2026-01-06T09:00:00+00:00")  # fmt: skip
        outcome = decide(app, profile, model, policy, standing, lpr_1y).outcome
        t4 = time.perf_counter()
        return outcome, [t1 - t0, t2 - t1, t3 - t2, t4 - t3]

    return one


def warm(counter: Counter, keys: list[tuple[str, str]], one: Callable[..., object]) -> None:
    """Decide once for each segment among the applicants, so that every champion they need
    is loaded (and its booster made) before anything is timed, as a server's first requests
    would."""
    seen: set[str] = set()
    for i, (_, key) in enumerate(keys):
        segment = segment_of(counter.profiles["person"].get(key) or {})
        if segment not in seen:
            seen.add(segment)
            one(key, i)


def figures(seconds: list[float]) -> dict[str, float]:
    """Decisions per second (one after another, one thread) and latency percentiles, ms."""
    ms = np.asarray(seconds) * 1000
    out: dict[str, float] = {"per_s": round(len(ms) / (ms.sum() / 1000), 1)}
    for q in (50, 95, 99):
        out[f"p{q}_ms"] = round(float(np.percentile(ms, q)), 3)
    out["max_ms"] = round(float(ms.max()), 3)
    return out


def breakdown(steps: list[list[float]]) -> dict[str, dict[str, float]]:
    """Median and p99 microseconds of each step of the decision without the write."""
    us = np.asarray(steps) * 1e6
    return {
        name: {
            "p50_us": round(float(np.percentile(us[:, j], 50)), 1),
            "p99_us": round(float(np.percentile(us[:, j], 99)), 1),
        }
        for j, name in enumerate(STEPS)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--county", type=Path, required=True)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--branch", default="341602001")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after loading")
    args = parser.parse_args()

    counter = Counter(Settings(home=args.home))
    keys = applicants(counter, args.county, args.n)
    one = pure_decision(counter, args.branch)
    warm(counter, keys, one)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()

    pure, steps = [], []
    outcomes: dict[str, int] = {}
    for i, (_, key) in enumerate(keys):
        outcome, spent = one(key, i)
        pure.append(sum(spent))
        steps.append(spent)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    written = []
    for resident_id, _ in keys:
        t = time.perf_counter()
        counter.apply(resident_id, product="household", amount=50_000, branch=args.branch)
        written.append(time.perf_counter() - t)

    result: dict[str, Any] = {
        "applications": len(keys),
        "outcomes": outcomes,
        "gc_frozen": args.gc_freeze,
        "without_write": figures(pure),
        "steps_without_write": breakdown(steps),
        "with_write": figures(written),
        "ledger": counter.settings.ledger_url.split(":")[0],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
