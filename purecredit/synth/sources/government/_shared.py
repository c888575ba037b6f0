"""Helpers used by several government agencies: month days, basic courts, district names,
first events and nullable columns. `month_starts` and `days_in` are also used by the social
sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.calendar import Calendar

if TYPE_CHECKING:
    from purecredit.synth.world import World

NEVER = 1_000_000  # month index of something that never happens


def month_starts(cal: Calendar, months: np.ndarray) -> np.ndarray:
    """First day (datetime64[D]) of each month index; indices may be negative."""
    return (np.datetime64(cal.month_start(0), "M") + np.asarray(months)).astype("datetime64[D]")


def days_in(rng: np.random.Generator, cal: Calendar, months: np.ndarray) -> np.ndarray:
    """A uniformly drawn day within each month index."""
    start = month_starts(cal, months)
    length = (month_starts(cal, np.asarray(months) + 1) - start).astype(int)
    day: np.ndarray = start + (rng.random(start.size) * length).astype(int)
    return day


def _num(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(str).astype(object)


def _courts(world: World, districts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Case-number code (皖 + digits 3-6 of the county code) and name of each basic court."""
    code = "皖" + pd.Series(np.asarray(districts).astype(str)).str[2:6]
    return code.to_numpy().astype(str), np.char.add(_district_names(world, districts), "人民法院")


def _district_names(world: World, districts: np.ndarray) -> np.ndarray:
    """Formal names of districts as agencies use them: 亳州市谯城区, 涡阳县."""
    dn = world.pop.villages.drop_duplicates("district_code").set_index("district_code")
    name = dn["district_name"].reindex(districts).to_numpy().astype(str)
    out: np.ndarray = np.where(np.char.endswith(name, "区"), np.char.add("亳州市", name), name)
    return out


def _first_month(world: World, entity: str, kind: str, size: int) -> np.ndarray:
    """Month of each entity's first event of `kind` (NEVER if none)."""
    ev = world.events
    ev = ev[(ev["entity"] == entity) & (ev["kind"] == kind)]
    out = np.full(size, NEVER)
    np.minimum.at(out, ev["idx"].to_numpy(), ev["month"].to_numpy())
    return out


def _text(values: np.ndarray, present: np.ndarray) -> pd.Series:
    """A text column missing where `present` is false."""
    return pd.Series(values, dtype="str").where(present)


def _dates(values: np.ndarray, present: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[D]")).where(present)
