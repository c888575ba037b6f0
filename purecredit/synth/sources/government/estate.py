"""Real estate registration: the register of units and the court seizures of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.addresses import household_addresses, place_addresses
from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import (
    _courts,
    _dates,
    _num,
    days_in,
)
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

ESTATE = "亳州市不动产登记中心 / Bozhou Real Estate Registration Centre"

PROPERTIES = SourceSpec(
    name="property_registry",
    owner=ESTATE,
    description="Real estate register (不动产登记簿): residential and commercial units by owner.",
    entity="person",
    fmt="csv",
    headers={
        "unit_no": "不动产单元号",
        "owner_name": "权利人",
        "owner_id": "权利人证件号码",
        "location": "坐落",
        "use": "用途",
        "area": "建筑面积(平方米)",
        "price": "登记价格(元)",
        "registered_on": "登记日期",
    },
    id_columns=("owner_id",),
    date_columns=("registered_on",),
    key_columns=("unit_no",),
    nullable_columns=("price",),
)
SEIZURES = SourceSpec(
    name="property_seizures",
    owner=ESTATE,
    description="Court seizures (查封登记) of registered units and their release.",
    entity="property",
    fmt="csv",
    headers={
        "ruling_no": "查封文号",
        "unit_no": "不动产单元号",
        "authority": "查封机关",
        "seized_on": "查封日期",
        "released_on": "解封日期",
    },
    date_columns=("seized_on", "released_on"),
    key_columns=("ruling_no",),
    nullable_columns=("released_on",),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The register and its seizures, as delivered after month `last`: both are views of
    one set of units drawn over the whole simulation."""
    props = _properties(world, rng)
    yield _property_registry(props, last)
    yield _seizures(world, rng, props, last)


def _properties(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Every owner's home (registered before history, in the home village) and, more often the
    richer the owner, a second or third unit in an urban community (a flat or a shop)."""
    cal, p, villages = world.cal, world.persons, world.pop.villages
    owners = np.flatnonzero(world.owns_property)
    rank = np.argsort(np.argsort(world.income[owners])) / max(owners.size, 1)
    more = rng.random(owners.size) < 0.05 + 0.4 * rank**2
    count = 1 + more * (1 + (rng.random(owners.size) < 0.3 * rank))
    pid = np.repeat(owners, count)
    n = pid.size
    home = (np.arange(n) - np.repeat(np.cumsum(count) - count, count)) == 0
    hh = p["household_id"].to_numpy()[pid]
    towns = villages.loc[villages["urban"], "village_code"].to_numpy()
    towns = towns if towns.size else villages["village_code"].to_numpy()
    village = np.where(home, world.households["village_code"].to_numpy()[hh], rng.choice(towns, n))
    urban = villages.set_index("village_code")["urban"].loc[village].to_numpy()
    shop = ~home & (rng.random(n) < 0.3)
    adult_months = np.maximum((p["age"].to_numpy()[pid] - cal.history_months / 12 - 22) * 12, 1)
    month = np.where(
        home,
        -1 - (rng.random(n) * np.minimum(adult_months, 240)).astype(int),
        rng.integers(-120, cal.total, n),
    )
    area = np.where(
        urban,
        np.exp(rng.normal(np.where(shop, np.log(60.0), np.log(95.0)), 0.3)),
        rng.uniform(110, 260, n),
    )
    per_m2 = 5_500 * np.exp(rng.normal(0, 0.2, n)) * np.where(shop, 1.6, 1.0)
    # GB/T 37346 unit number: 12-digit cadastral zone (our village code), parcel feature code
    # (GB state-owned construction land, JC collective homestead), 5-digit parcel serial, F
    # for a building, 4-digit building and 4-digit unit numbers: 28 characters.
    parcel = pd.Series(village).groupby(village).cumcount().to_numpy() + 1
    unit_no = (
        village.astype(object)
        + np.where(urban, "GB", "JC")
        + pd.Series(_num(parcel)).str.zfill(5).to_numpy()
        + "F"
        + pd.Series(_num(rng.integers(1, 60, n))).str.zfill(4).to_numpy()
        + pd.Series(_num(rng.integers(1, 3000, n))).str.zfill(4).to_numpy()
    )
    return pd.DataFrame(
        {
            "pid": pid,
            "month": month,
            "unit_no": unit_no.astype(str),
            "owner_name": p["name"].to_numpy()[pid],
            "owner_id": p["resident_id"].to_numpy()[pid],
            "location": np.where(
                home, household_addresses(world)[hh], place_addresses(world, rng, village)
            ),
            "use": np.where(shop, "商业", "住宅"),
            "area": np.round(area, 2),
            # A self-built village house has no transaction price.
            "price": np.where(urban, np.round(area * per_m2, -2), np.nan),
            "registered_on": days_in(rng, cal, month),
        }
    )


def _property_registry(props: pd.DataFrame, last: int) -> SourceTable:
    props = props[props["month"] <= last].sort_values("unit_no", ignore_index=True)
    return SourceTable(PROPERTIES, props[list(PROPERTIES.columns)])


def _seizures(
    world: World, rng: np.random.Generator, props: pd.DataFrame, last: int
) -> SourceTable:
    """Each seizure event freezes one of the owner's units registered before it, by the court
    of the unit's district (sometimes the intermediate court); about half are released 6-18
    months later."""
    ev = world.events[world.events["kind"] == "seizure"]
    ev = pd.DataFrame({"event": np.arange(ev.shape[0]), "pid": ev["idx"], "t": ev["month"]})
    cand = ev.merge(props[["pid", "month", "unit_no"]], on="pid")
    cand = cand[cand["month"] < cand["t"]]
    cand = cand.assign(r=rng.random(cand.shape[0]))
    out = cand.sort_values(["event", "r"]).drop_duplicates("event", ignore_index=True)
    n = out.shape[0]
    code, court = _courts(world, out["unit_no"].str[:6].to_numpy())
    upper = rng.random(n) < 0.15
    out["authority"] = np.where(upper, "亳州市中级人民法院", court)
    out["code"] = np.where(upper, "皖16", code)
    out["seized_on"] = days_in(rng, world.cal, out["t"].to_numpy())
    release = out["t"].to_numpy() + rng.integers(6, 19, n)
    released = (rng.random(n) < 0.5) & (release <= last)
    out["released_on"] = _dates(days_in(rng, world.cal, release), released)
    out = out.sort_values(["seized_on", "event"], ignore_index=True)
    year = out["seized_on"].dt.year.astype(str)
    serial = pd.Series(rng.integers(1, 20, n)).groupby([year, out["code"]]).cumsum()
    out["ruling_no"] = "(" + year + ")" + out["code"] + "执保" + serial.astype(str) + "号"
    out = out[out["t"] <= last]
    return SourceTable(SEIZURES, out[list(SEIZURES.columns)].reset_index(drop=True))
