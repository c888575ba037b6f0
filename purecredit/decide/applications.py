"""Batches of applications: a month of a county's walk-ins, a file of them, and sending them
through the counter.

The demo, the replay check and the policy simulator all need many applications that look like
a month at the bank's outlets. They are drawn from the county's own delivered registers
(working-age residents, firms in business), never from its truth: by default about 2% of
adults and 5% of live firms apply in a month, asking for amounts spread over each product's
range, at the bank's outlets, on the month's days from the profiles' date on. Asked for more
than the county has, some customers come back (a second application, answered from the line
the first one opened).

A file of applications is JSON lines, one application each, with the fields of `Ask`; a line
that does not read is an error naming the file, the line and the field. `asks_for` takes
either a file or a month (`YYYY-MM`), so every command that takes applications takes both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid, PurecreditError
from purecredit.decide.counter import Counter
from purecredit.decide.store import branches

PERSON_SHARE = 0.02
FIRM_SHARE = 0.05
WORKING_AGE = (22, 65)
HOUSEHOLD_AMOUNTS = (20_000, 30_000, 50_000, 80_000, 100_000, 200_000)
ENTERPRISE_AMOUNTS = (100_000, 200_000, 500_000, 1_000_000)
OPEN_HOURS = (8.5, 17.0)
MONTH = re.compile(r"^\d{4}-\d{2}$")


@dataclass(frozen=True)
class Ask:
    """One application as typed at a counter (identity, product, amount, branch) and when."""

    identifier: str
    product: str
    amount: int
    branch: str
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "received_at": self.received_at.isoformat()}


def _month_start(month: str) -> date:
    if not MONTH.match(month):
        raise Invalid(f"{month!r} is neither a file of applications nor a month YYYY-MM",
                      field="applications")  # fmt: skip
    try:
        return date.fromisoformat(f"{month}-01")
    except ValueError:
        raise Invalid(f"{month!r} is not a month", field="applications") from None


def _applicants(county: Path, first_day: date) -> tuple[list[str], list[str]]:
    """Working-age residents on that day and live firms, as the registers deliver them."""
    register = pd.read_parquet(
        county / "sources" / "population_register" / "population_register.parquet",
        columns=["公民身份号码", "出生日期"],
    )
    born = pd.to_datetime(register["出生日期"], errors="coerce")  # the register has defects
    day = pd.Timestamp(first_day)
    youngest, oldest = (day - pd.DateOffset(years=age) for age in WORKING_AGE)
    adults = register.loc[(born > oldest) & (born <= youngest), "公民身份号码"]
    firms_file = county / "sources" / "enterprise_registry" / "enterprise_registry.csv"
    # The delivered file carries the county's deliberate defects: skip what will not read.
    firms = pd.read_csv(
        firms_file, encoding="gbk", encoding_errors="replace", dtype=str, on_bad_lines="skip"
    )
    live = firms.loc[firms["登记状态"] == "存续", "统一社会信用代码"].dropna()
    return adults.astype(str).tolist(), live.astype(str).tolist()


def _draw(rng: np.random.Generator, pool: list[str], size: int) -> list[str]:
    """`size` applicants; beyond the pool's size some come back a second time."""
    if not pool or size == 0:
        return []
    return [pool[i] for i in rng.choice(len(pool), size=size, replace=size > len(pool))]


def month_of_walk_ins(
    county: Path,
    outlets: list[str],
    month: str,
    *,
    count: int | None = None,
    from_day: date | None = None,
    seed: int = 0,
) -> list[Ask]:
    """A month's applications in arrival order: `count` of them (persons and firms in the
    county's proportion), or the usual share of each when None. `from_day` is the first day
    applications arrive (the profiles' date, when it falls in the month)."""
    first = _month_start(month)
    last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    start = max(first, from_day or first)
    if start > last:
        raise Invalid(f"no day of {month} is on or after {start}: profiles are from then",
                      field="applications")  # fmt: skip
    if not outlets:
        raise Invalid("the bank has no outlets to apply at", field="branch")
    rng = np.random.default_rng(seed)
    people, firms = _applicants(county, first)
    if count is None:
        n_people, n_firms = round(len(people) * PERSON_SHARE), round(len(firms) * FIRM_SHARE)
    else:
        n_firms = round(count * len(firms) / max(1, len(people) + len(firms)))
        n_people = count - n_firms
    days = (last - start).days + 1
    asks = []
    for who, product, amounts in (
        (_draw(rng, people, n_people), "household", HOUSEHOLD_AMOUNTS),
        (_draw(rng, firms, n_firms), "enterprise", ENTERPRISE_AMOUNTS),
    ):
        for identifier in who:
            hours = rng.uniform(*OPEN_HOURS)
            received = datetime.combine(
                start + timedelta(days=int(rng.integers(days))), time(), tzinfo=UTC
            ) + timedelta(hours=hours)
            asks.append(Ask(identifier, product, int(rng.choice(amounts)),
                            str(rng.choice(outlets)), received))  # fmt: skip
    return sorted(asks, key=lambda a: a.received_at)


def write_asks(path: Path, asks: Iterable[Ask]) -> int:
    """Write applications as JSON lines; how many."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for ask in asks:
            out.write(json.dumps(ask.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_asks(path: Path) -> list[Ask]:
    """Applications from JSON lines; a line that does not read names the line and field."""
    asks = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            asks.append(_ask(row, path, number))
    return asks


def _ask(row: Any, path: Path, number: int) -> Ask:
    where = f"{path.name} line {number}"
    if not isinstance(row, dict):
        raise Invalid(f"{where}: not a JSON object", record=where)
    for name, kind in (("identifier", str), ("product", str), ("amount", int), ("branch", str),
                       ("received_at", str)):  # fmt: skip
        value = row.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Invalid(f"{where}: {name} must be a {kind.__name__}, not {value!r}",
                          record=where, field=name)  # fmt: skip
    try:
        received = datetime.fromisoformat(row["received_at"])
    except ValueError:
        raise Invalid(f"{where}: received_at is not an ISO date and time",
                      record=where, field="received_at") from None  # fmt: skip
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return Ask(row["identifier"], row["product"], row["amount"], row["branch"], received)


def asks_for(
    source: str,
    county: Path,
    outlets: list[str],
    *,
    count: int | None = None,
    from_day: date | None = None,
) -> list[Ask]:
    """Applications from a file of them, or a month of the county's walk-ins (`YYYY-MM`)."""
    path = Path(source)
    if path.is_file():
        return read_asks(path)
    return month_of_walk_ins(county, outlets, source, count=count, from_day=from_day)


def outlets_of(counter: Counter) -> list[str]:
    return [b.code for b in branches(counter.engine) if b.level == "outlet"]


def run_asks(
    counter: Counter, asks: Iterable[Ask], step: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Send applications through the counter, each as if typed at it when it was received;
    counts by outcome (and `error` for one refused as an error: a defective register row, a
    profile the bank lacks)."""
    counts: dict[str, int] = {}
    for ask in asks:
        try:
            outcome = counter.apply(
                ask.identifier,
                product=ask.product,
                amount=ask.amount,
                branch=ask.branch,
                officer="batch",
                now=ask.received_at,
            ).summary()["decision"]
        except PurecreditError:
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
        if step:
            step(outcome)
    return counts
