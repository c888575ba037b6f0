"""A month of walk-in applications for a demo county: who applies, for what, where.

The demo needs decisions of every kind to look at, made by the real counter. Applicants are
drawn from the county's own delivered registers (working-age residents, firms in business),
never from its truth: about 2% of adults and 5% of live firms apply in a month, asking for
amounts spread over each product's range, at the bank's outlets. Every application goes
through `Counter.apply` exactly as one typed at a counter would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from purecredit.core.errors import PurecreditError
from purecredit.decide.counter import Counter
from purecredit.decide.store import branches

PERSON_SHARE = 0.02
FIRM_SHARE = 0.05
HOUSEHOLD_AMOUNTS = (20_000, 30_000, 50_000, 80_000, 100_000, 200_000)
ENTERPRISE_AMOUNTS = (100_000, 200_000, 500_000, 1_000_000)


@dataclass(frozen=True)
class WalkIn:
    identifier: str
    product: str
    amount: int
    branch: str


def walk_ins(county: Path, outlets: list[str], seed: int = 0) -> Iterator[WalkIn]:
    """A month's applications, in arrival order (a seeded shuffle of persons and firms)."""
    rng = np.random.default_rng(seed)
    register = pd.read_parquet(
        county / "sources" / "population_register" / "population_register.parquet",
        columns=["公民身份号码", "出生日期"],
    )
    born = pd.to_datetime(register["出生日期"], errors="coerce")
    working_age = (born > pd.Timestamp("1961-01-01")) & (born < pd.Timestamp("2004-01-01"))
    adults = register.loc[working_age, "公民身份号码"]
    people = adults.sample(frac=PERSON_SHARE, random_state=seed).astype(str).tolist()
    firms_file = county / "sources" / "enterprise_registry" / "enterprise_registry.csv"
    # The delivered file carries the county's deliberate defects: skip what will not read.
    firms = pd.read_csv(
        firms_file, encoding="gbk", encoding_errors="replace", dtype=str, on_bad_lines="skip"
    )
    live = firms.loc[firms["登记状态"] == "存续", "统一社会信用代码"].dropna()
    companies = live.sample(frac=FIRM_SHARE, random_state=seed).tolist()
    asks = [
        WalkIn(p, "household", int(rng.choice(HOUSEHOLD_AMOUNTS)), str(rng.choice(outlets)))
        for p in people
    ] + [
        WalkIn(f, "enterprise", int(rng.choice(ENTERPRISE_AMOUNTS)), str(rng.choice(outlets)))
        for f in companies
    ]
    for i in rng.permutation(len(asks)):
        yield asks[i]


def run_month(
    counter: Counter, county: Path, step: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Send a month of walk-ins through the counter; counts by outcome (and `error` for an
    application refused as an error: a defective register row, a profile the bank lacks)."""
    outlets = [b.code for b in branches(counter.engine) if b.level == "outlet"]
    counts: dict[str, int] = {}
    for walk_in in walk_ins(county, outlets):
        try:
            outcome = counter.apply(
                walk_in.identifier,
                product=walk_in.product,
                amount=walk_in.amount,
                branch=walk_in.branch,
                officer="demo",
            ).summary()["decision"]
        except PurecreditError:
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
        if step:
            step(outcome)
    return counts
