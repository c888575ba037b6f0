"""Civil affairs: marriage and divorce registrations, and the spouses from outside the
county that they name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.core.identifiers import make_resident_id
from purecredit.synth import names
from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import (
    NEVER,
    _district_names,
    days_in,
    month_starts,
)
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

# Birth places of spouses from outside the county (Hefei, Fuyang, Huaibei, Zhoukou, Shangqiu).
OUTSIDE_REGIONS = np.array(["340104", "341202", "341221", "340602", "411602", "411402"])
MARRIAGE_ARCHIVE_FROM = np.datetime64("2008-01-01")  # older paper records were never digitised

MARRIAGES = SourceSpec(
    name="marriage_registry",
    owner="亳州市民政局 / Bozhou Civil Affairs Bureau",
    description="Marriage and divorce registrations (婚姻登记), digitised from 2008 on.",
    entity="couple",
    fmt="csv",
    encoding="gbk",
    headers={
        "cert_no": "证件字号",
        "kind": "登记类别",
        "registered_on": "登记日期",
        "man_name": "男方姓名",
        "man_id": "男方身份证件号码",
        "woman_name": "女方姓名",
        "woman_id": "女方身份证件号码",
        "office": "登记机关",
    },
    id_columns=("man_id", "woman_id"),
    date_columns=("registered_on",),
    key_columns=("cert_no",),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The marriage registry, as delivered after month `last`."""
    yield _marriages(world, rng, last)


def outside_spouses(world: World) -> pd.DataFrame:
    """Spouses from outside the county who appear in the marriage registry: resident_id, name,
    male, birth_date and partner (pid of the county spouse). A function of the world alone,
    so any source that needs them draws the same people."""
    return _couples(world)[1]


def _couples(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every registration over the simulation (kind, day, county party `a`, partner pid `b` or
    outsider row `out`) and the outsiders.

    Couples living together at month 0 married before history. A quarter of each month's
    brides and grooms marry each other; the others marry someone from outside the county. A
    divorce ends the marriage made during the simulation, else the month-0 couple's, else one
    to an outsider married long ago; a couple is divorced once even if both draw the event.
    """
    rng = np.random.default_rng([world.config.seed, 0x3A2210])
    p, cal, n = world.persons, world.cal, world.persons.shape[0]
    male = p["male"].to_numpy()
    birth = p["birth_date"].to_numpy().astype("datetime64[D]")
    ev = world.events[world.events["entity"] == "person"]
    year = np.timedelta64(365, "D")
    husband = np.flatnonzero((world.spouse >= 0) & male)
    wife = world.spouse[husband]
    wed = np.maximum(birth[husband] + 22 * year, birth[wife] + 20 * year)
    wed = wed + (rng.random(husband.size) * 8 * 365).astype(int)
    day0 = month_starts(cal, np.array([0]))[0]
    wed = np.where(wed < day0, wed, day0 - 1 - (rng.random(husband.size) * 365).astype(int))
    old = pd.DataFrame({"kind": "marriage", "day": wed, "a": husband, "b": wife, "out": -1})
    mar = ev[ev["kind"] == "marriage"]
    mar = pd.DataFrame({"a": mar["idx"].to_numpy(), "t": mar["month"].to_numpy()})
    mar = mar.assign(male=male[mar["a"]], r=rng.random(mar.shape[0])).sort_values(["t", "r"])
    mar["rank"] = mar.groupby(["t", "male"]).cumcount()
    sexes = mar.groupby("t")["male"].agg(["sum", "size"])
    pairs = (0.25 * sexes["sum"].clip(upper=sexes["size"] - sexes["sum"])).astype(int)
    mar = mar[mar["rank"] < mar["t"].map(pairs)]
    grooms, brides = mar[mar["male"]], mar[~mar["male"]]
    wedded = grooms.merge(brides, on=["t", "rank"], suffixes=("", "_b"))
    hh = p["household_id"].to_numpy()
    wedded = wedded[hh[wedded["a"]] != hh[wedded["a_b"]]]
    partner, partner_month = np.full(n, -1), np.full(n, NEVER)
    partner[wedded["a"]], partner[wedded["a_b"]] = wedded["a_b"], wedded["a"]
    alone = np.setdiff1d(ev.loc[ev["kind"] == "marriage", "idx"].to_numpy(), partner[partner >= 0])
    div = ev[ev["kind"] == "divorce"]
    d, dt = div["idx"].to_numpy(), div["month"].to_numpy()
    first = ev[ev["kind"] == "marriage"].drop_duplicates("idx")
    partner_month[first["idx"]] = first["month"]
    later = partner_month[d] < dt
    b = np.where(later, partner[d], world.spouse[d])
    stranger = np.full(n, -1)
    stranger[alone] = np.arange(alone.size)
    out = np.where(later, stranger[d], -1)
    lonely = (b < 0) & (out < 0)
    out[lonely] = alone.size + np.arange(int(lonely.sum()))
    outsiders = _outsiders(rng, world, np.concatenate([alone, d[lonely]]))
    events = pd.DataFrame(
        {
            "kind": np.repeat(
                ["marriage", "marriage", "divorce"], [len(wedded), alone.size, d.size]
            ),
            "t": np.concatenate([wedded["t"], partner_month[alone], dt]),
            "a": np.concatenate([wedded["a"], alone, d]),
            "b": np.concatenate([wedded["a_b"], np.full(alone.size, -1), b]),
            "out": np.concatenate([np.full(len(wedded), -1), np.arange(alone.size), out]),
        }
    )
    events["day"] = days_in(rng, cal, events["t"].to_numpy())
    couple = np.where(events["b"] >= 0, np.minimum(events["a"], events["b"]), -1 - events["out"])
    events = events.assign(couple=couple, other=np.maximum(events["a"], events["b"]))
    events = events.sort_values("t", kind="stable").drop_duplicates(["kind", "couple", "other"])
    regs = pd.concat([old, events.drop(columns=["t", "couple", "other"])], ignore_index=True)
    return regs, outsiders


def _outsiders(rng: np.random.Generator, world: World, partner: np.ndarray) -> pd.DataFrame:
    """People born outside the county, of the partner's opposite sex and about their age (the
    husband two years older on average), with valid resident IDs unlike any in the county."""
    p = world.persons
    male = ~p["male"].to_numpy()[partner]
    gap = rng.normal(2.0, 2.5, partner.size) * np.where(male, -1, 1) * 365.25
    birth = p["birth_date"].to_numpy().astype("datetime64[D]")[partner] + gap.astype(int)
    region = rng.choice(OUTSIDE_REGIONS, partner.size)
    taken = set(p["resident_id"].tolist())
    ids: list[str] = []
    for reg, born, is_male in zip(region.tolist(), birth.tolist(), male.tolist(), strict=True):
        rid = ""
        while not rid or rid in taken:  # GB 11643: an odd sequence number means male
            rid = make_resident_id(reg, born, int(rng.integers(0, 500)) * 2 + is_male)
        taken.add(rid)
        ids.append(rid)
    given = names.given_names(rng, male)
    return pd.DataFrame(
        {
            "resident_id": np.array(ids, dtype=object).astype(str),
            "name": np.char.add(names.surnames(rng, partner.size), given),
            "male": male,
            "birth_date": birth,
            "partner": partner,
        }
    )


def _marriages(world: World, rng: np.random.Generator, last: int) -> SourceTable:
    regs, outsiders = _couples(world)
    p, end = world.persons, month_starts(world.cal, np.array([last + 1]))[0]
    a, b, out = regs["a"].to_numpy(), regs["b"].to_numpy(), regs["out"].to_numpy()
    rid = np.where(b >= 0, p["resident_id"].to_numpy()[b], outsiders["resident_id"].to_numpy()[out])
    name = np.where(b >= 0, p["name"].to_numpy()[b], outsiders["name"].to_numpy()[out])
    a_man = p["male"].to_numpy()[a]
    a_id, a_name = p["resident_id"].to_numpy()[a], p["name"].to_numpy()[a]
    district = world.households["district_code"].to_numpy()[p["household_id"].to_numpy()[a]]
    divorce = regs["kind"].to_numpy() == "divorce"
    frame = pd.DataFrame(
        {
            "kind": np.where(divorce, "离婚登记", "结婚登记"),
            "registered_on": regs["day"].to_numpy(),
            "man_name": np.where(a_man, a_name, name),
            "man_id": np.where(a_man, a_id, rid),
            "woman_name": np.where(a_man, name, a_name),
            "woman_id": np.where(a_man, rid, a_id),
            "office": np.char.add(_district_names(world, district), "民政局婚姻登记处"),
            "letter": np.where(divorce, "L", "J"),
            "district": district,
        }
    )
    frame = frame.sort_values(["registered_on", "man_id"], ignore_index=True)
    year = frame["registered_on"].dt.year.astype(str)
    keys = [frame["letter"], frame["district"], year]
    serial = pd.Series(rng.integers(1, 9, len(frame)))
    serial = serial.groupby(keys).cumsum().astype(str).str.zfill(6)
    frame["cert_no"] = frame["letter"] + frame["district"] + "-" + year + "-" + serial
    day = frame["registered_on"].to_numpy()
    digitised = (frame["kind"].to_numpy() == "离婚登记") | (day >= MARRIAGE_ARCHIVE_FROM)
    frame = frame[(day < end) & digitised]
    return SourceTable(MARRIAGES, frame[list(MARRIAGES.columns)].reset_index(drop=True))
