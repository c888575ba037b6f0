"""Decisions per second, in process, on a county with trained models and online profiles.

Two figures, each over the same applicants:

- **without the write**: the online profile lookup, the ledger standing read, the champion
  model and the pure `decide` (rules, PD, grade, reasons, limit, price, authority);
- **with the write**: `Counter.apply` whole: identity check and token, consent recorded,
  profile lookup, decision, the grant in the unified-limit ledger, the decision stored.

    python benchmarks/bench_decide.py --home HOME --county COUNTY [--n 2000] [--json FILE]

HOME holds a lake, built profiles and trained models (`purecredit demo --no-serve`, or
ingest + `profile build` + `model train`); COUNTY is the synthetic county it came from (only
its population register is read, for resident ID numbers to apply with).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.core.settings import Settings
from purecredit.core.subjects import subject_key
from purecredit.decide.counter import Counter
from purecredit.decide.engine import Application, decide
from purecredit.score.sample import segment_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--county", type=Path, required=True)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--branch", default="341602001")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    settings = Settings(home=args.home)
    counter = Counter(settings)
    register = pd.read_parquet(
        args.county / "sources" / "population_register" / "population_register.parquet"
    )
    born = pd.to_datetime(register["出生日期"], errors="coerce")
    ids = register.loc[(born < "2000-01-01") & (born > "1961-01-01"), "公民身份号码"]
    ids = ids.astype(str).sample(frac=1.0, random_state=7).tolist()
    keys = []
    for resident_id in ids:
        try:
            _, key, _ = subject_key(resident_id, settings)
        except Invalid:  # the register carries deliberate defects
            continue
        if counter.profiles["person"].get(key) is not None:
            keys.append((resident_id, key))
        if len(keys) == args.n:
            break
    branch = args.branch
    level = "outlet"
    policy = counter.policy

    def one(resident_id: str, key: str, i: int) -> str:
        profile = counter.profiles["person"].get(key)
        assert profile is not None
        model = counter.model_for("person", segment_of(profile))
        standing = counter.standing(key, "household")
        app = Application(f"B{i}", key, "person", "household", 50_000, branch, level, "C0",
                          "2026-01-06T09:00:00+00:00")  # fmt: skip
        return decide(app, profile, model, policy, standing, settings.lpr_1y).outcome

    one(*keys[0], 0)
    pure = []
    outcomes: dict[str, int] = {}
    for i, (resident_id, key) in enumerate(keys):
        t = time.perf_counter()
        outcome = one(resident_id, key, i)
        pure.append(time.perf_counter() - t)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    written = []
    for resident_id, _ in keys:
        t = time.perf_counter()
        counter.apply(resident_id, product="household", amount=50_000, branch=branch)
        written.append(time.perf_counter() - t)

    def figures(times: list[float]) -> dict[str, float]:
        ms = np.asarray(times) * 1000
        return {
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "per_s": round(len(ms) / (ms.sum() / 1000), 1),
        }

    result = {
        "applications": len(keys),
        "outcomes": outcomes,
        "without_write": figures(pure),
        "with_write": figures(written),
        "ledger": settings.ledger_url.split(":")[0],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
