"""Villages, households and the people in them, with valid resident ID numbers and roles.

Roles follow the brief's "a thousand pharma firms, a hundred thousand herb traders, a million
herb farmers" among 6.5 million registered residents: about 15% of people farm herbs, a few
percent trade them or keep a shop, a fraction of a percent lead a firm, a fifth earn a wage.
The shares below are per adult (18-70) and depend on whether the village is urban.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from stdnum.cn import ric

from purecredit.synth import names
from purecredit.synth.calendar import Calendar
from purecredit.synth.reference import Reference

ROLES = ("herb_farmer", "herb_trader", "sole_trader", "firm_owner", "salaried", "other")
RURAL_ROLE_SHARES = (0.22, 0.025, 0.05, 0.008, 0.16, 0.537)
URBAN_ROLE_SHARES = (0.02, 0.04, 0.09, 0.012, 0.45, 0.388)
HOUSEHOLD_SIZES = np.array([1, 2, 3, 4, 5, 6])
HOUSEHOLD_SIZE_P = np.array([0.12, 0.22, 0.25, 0.22, 0.12, 0.07])  # mean 3.2 (bozhou.yaml)
# Birth places of residents born outside the county (Hefei, Fuyang, Suzhou, Zhengzhou, Nanjing).
OUTSIDE_REGIONS = np.array(["340102", "340104", "341202", "341203", "341302", "410102", "320102"])
PEOPLE_PER_VILLAGE = 400
MONTHLY_INCOME_MEDIAN = {
    "herb_farmer": 2200.0,
    "herb_trader": 6500.0,
    "sole_trader": 5200.0,
    "firm_owner": 9500.0,
    "salaried": 3800.0,
    "other": 1400.0,
    "retired": 1300.0,
    "minor": 0.0,
}


@dataclass(frozen=True)
class Population:
    villages: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame


def build_villages(rng: np.random.Generator, ref: Reference, people: int) -> pd.DataFrame:
    """Villages (and urban communities) grouped into towns within each district."""
    n = max(10, people // PEOPLE_PER_VILLAGE)
    shares = np.array([d.share for d in ref.districts])
    district = rng.choice(len(ref.districts), size=n, p=shares / shares.sum())
    district = np.sort(district)
    rank = np.arange(n) - np.searchsorted(district, district)
    town = rank // 12
    urban_share = np.array([0.5 if d.urban else 0.15 for d in ref.districts])[district]
    urban = rng.random(n) < urban_share
    codes = np.array([d.code for d in ref.districts])[district]
    village_code = np.char.add(
        np.char.add(codes, np.char.zfill((town + 1).astype("U3"), 3)),
        np.char.zfill((rank % 12 + 1).astype("U3"), 3),
    )
    _, town_id = np.unique(district * 1000 + town, return_inverse=True)
    town_names = names.place_names(rng, int(town_id.max()) + 1, "镇")[town_id]
    village_names = np.where(
        urban, names.place_names(rng, n, "社区"), names.place_names(rng, n, "村")
    )
    return pd.DataFrame(
        {
            "village_code": village_code,
            "district_code": codes,
            "district_name": np.array([d.name for d in ref.districts])[district],
            "town_name": town_names,
            "village_name": village_names,
            "urban": urban,
        }
    )


def build_population(
    rng: np.random.Generator, ref: Reference, cal: Calendar, people: int
) -> Population:
    villages = build_villages(rng, ref, people)
    sizes = rng.choice(HOUSEHOLD_SIZES, size=people // 2, p=HOUSEHOLD_SIZE_P)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), people)) + 1]
    sizes[-1] -= int(sizes.sum()) - people
    n_households = sizes.size
    village_idx = rng.integers(0, len(villages), n_households)
    households = pd.DataFrame(
        {
            "household_id": np.arange(n_households),
            "village_code": villages["village_code"].to_numpy()[village_idx],
            "district_code": villages["district_code"].to_numpy()[village_idx],
            "urban": villages["urban"].to_numpy()[village_idx],
            "size": sizes,
        }
    )
    # 户号: district code plus a ten-digit serial, the form household registers use.
    households["household_no"] = np.char.add(
        households["district_code"].to_numpy().astype("U6"),
        np.char.zfill(
            (1_000_000 + rng.permutation(n_households * 3)[:n_households]).astype("U10"), 10
        ),
    )
    persons = _members(rng, cal, households)
    persons = _identities(rng, cal, persons, households)
    persons = _roles(rng, persons, households)
    households = _livelihoods(rng, ref, households, persons)
    hid = persons["household_id"].to_numpy()
    persons = persons.assign(
        district_code=households["district_code"].to_numpy()[hid],
        village_code=households["village_code"].to_numpy()[hid],
    )
    return Population(villages, households, persons)


def _members(rng: np.random.Generator, cal: Calendar, hh: pd.DataFrame) -> pd.DataFrame:
    sizes = hh["size"].to_numpy()
    hid = np.repeat(hh["household_id"].to_numpy(), sizes)
    rank = np.arange(hid.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    n = hid.size
    head_age = np.clip(rng.normal(48, 12, hh.shape[0]), 24, 80)[hid]
    head_male = (rng.random(hh.shape[0]) < 0.85)[hid]
    has_spouse = ((sizes >= 2) & (rng.random(sizes.size) < 0.88))[hid]
    relation = np.full(n, "child", dtype="U6")
    relation[rank == 0] = "head"
    relation[(rank == 1) & has_spouse] = "spouse"
    elder = (rank >= 2) & (rng.random(n) < 0.15)
    relation[elder | ((rank == 1) & ~has_spouse & (rng.random(n) < 0.3))] = "parent"
    age = np.where(
        relation == "head",
        head_age,
        np.where(
            relation == "spouse",
            head_age + rng.normal(-1.5, 3, n),
            np.where(
                relation == "parent",
                head_age + rng.uniform(22, 32, n),
                head_age - rng.uniform(20, 38, n),
            ),
        ),
    )
    # Resample impossible ages instead of clipping them: clipped ages would share one birth
    # date, and GB 11643 leaves only 500 sequence numbers per sex, region and day.
    age = np.where(age < 0.1, rng.uniform(0.1, 17.9, n), age)
    age = np.where(age > 94, rng.uniform(80, 94, n), age)
    male = np.where(
        relation == "head",
        head_male,
        np.where(relation == "spouse", ~head_male, rng.random(n) < 0.51),
    )
    birth = np.datetime64(cal.study_date) - (age * 365.25).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "household_id": hid,
            "relation": relation,
            "male": male,
            "birth_date": birth,
        }
    )


def _identities(
    rng: np.random.Generator, cal: Calendar, persons: pd.DataFrame, hh: pd.DataFrame
) -> pd.DataFrame:
    n = persons.shape[0]
    hid = persons["household_id"].to_numpy()
    region = hh["district_code"].to_numpy().astype("U6")[hid]
    outside = rng.random(n) < 0.05
    region = np.where(outside, rng.choice(OUTSIDE_REGIONS, n), region)
    birth = persons["birth_date"].to_numpy().astype("datetime64[D]")
    ymd = np.char.replace(birth.astype("U10"), "-", "")
    male = persons["male"].to_numpy()
    ids = np.empty(n, dtype="U18")
    todo = np.arange(n)
    rounds = 0
    while todo.size:
        rounds += 1
        if rounds > 10:  # that day's sequence numbers are used up: move to the next day
            birth[todo] += np.timedelta64(1, "D")
            ymd[todo] = np.char.replace(birth[todo].astype("U10"), "-", "")
        seq = rng.integers(0, 500, todo.size) * 2 + male[todo]  # GB 11643: odd sequence = male
        body = np.char.add(np.char.add(region[todo], ymd[todo]), np.char.zfill(seq.astype("U3"), 3))
        ids[todo] = [b + ric.calc_check_digit(b + "0") for b in body.tolist()]
        _, first = np.unique(ids, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
    surname = names.surnames(rng, n)
    father_surname = _household_father_surname(persons, surname)
    child = persons["relation"].to_numpy() == "child"
    surname = np.where(child & (rng.random(n) < 0.92), father_surname, surname)
    age = (np.datetime64(cal.study_date) - birth).astype(int) / 365.25
    phone = np.where(age >= 16, names.phones(rng, n), "")
    return persons.assign(
        birth_date=birth,
        resident_id=ids,
        name=np.char.add(surname, names.given_names(rng, male)),
        phone=phone,
        age=age,
    )


def _household_father_surname(persons: pd.DataFrame, surname: np.ndarray) -> np.ndarray:
    rel = persons["relation"].to_numpy()
    adult_male = ((rel == "head") | (rel == "spouse")) & persons["male"].to_numpy()
    hid = persons["household_id"].to_numpy()
    father = np.full(int(hid.max()) + 1, "", dtype=surname.dtype)
    father[hid[adult_male]] = surname[adult_male]
    out = father[hid]
    return np.where(out == "", surname, out)


def _roles(rng: np.random.Generator, persons: pd.DataFrame, hh: pd.DataFrame) -> pd.DataFrame:
    n = persons.shape[0]
    age = persons["age"].to_numpy()
    urban = hh["urban"].to_numpy()[persons["household_id"].to_numpy()]
    draw_rural = rng.choice(len(ROLES), n, p=RURAL_ROLE_SHARES)
    draw_urban = rng.choice(len(ROLES), n, p=URBAN_ROLE_SHARES)
    role_idx = np.where(urban, draw_urban, draw_rural)
    # Couples often share a livelihood: a spouse takes the head's role with some probability.
    rel = persons["relation"].to_numpy()
    head_role = np.full(int(hh.shape[0]), -1)
    head_role[persons["household_id"].to_numpy()[rel == "head"]] = role_idx[rel == "head"]
    spouse_head = head_role[persons["household_id"].to_numpy()]
    share = (rel == "spouse") & np.isin(spouse_head, [0, 1]) & (rng.random(n) < 0.7)
    role_idx = np.where(share, spouse_head, role_idx)
    role = np.array(ROLES)[role_idx]
    role = np.where(age < 18, "minor", np.where(age > 70, "retired", role))
    return persons.assign(role=role)


def _livelihoods(
    rng: np.random.Generator, ref: Reference, hh: pd.DataFrame, persons: pd.DataFrame
) -> pd.DataFrame:
    """Herb variety and planted area of households that farm or trade herbs."""
    herb_weights = np.array([3.0 if h.famous else 1.0 for h in ref.herbs])
    n = hh.shape[0]
    variety = rng.choice(len(ref.herbs), n, p=herb_weights / herb_weights.sum())
    hid = persons["household_id"].to_numpy()
    role = persons["role"].to_numpy()
    farms = np.zeros(n, dtype=bool)
    farms[hid[role == "herb_farmer"]] = True
    trades = np.zeros(n, dtype=bool)
    trades[hid[role == "herb_trader"]] = True
    low, high = ref.plot_mu
    plot = np.clip(np.round(rng.lognormal(np.log(6.0), 0.6, n), 1), low, high)
    return hh.assign(
        herb_variety=np.where(farms | trades, variety, -1),
        plot_mu=np.where(farms, plot, 0.0),
        farms=farms,
    )


def monthly_income_base(rng: np.random.Generator, persons: pd.DataFrame) -> np.ndarray:
    """A person's typical monthly income in CNY before seasons and shocks."""
    median = persons["role"].map(MONTHLY_INCOME_MEDIAN).to_numpy(dtype=float)
    return median * rng.lognormal(0.0, 0.45, persons.shape[0])


def birth_dates(persons: pd.DataFrame) -> list[date]:
    return [d.date() for d in pd.to_datetime(persons["birth_date"])]
