"""Social security: employee and resident pension contributions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.calendar import Calendar
from purecredit.synth.sources import SourceTable, repeated
from purecredit.synth.sources.government._shared import month_starts
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

# Employee pension: contribution base bounded by 60%-300% of the provincial average wage
# (approximate Anhui figures, rising 4% a year); 8% employee, 16% employer (2019 reform).
BASE_BOUNDS_FIRST_YEAR, BASE_GROWTH = (3_800.0, 19_000.0), 1.04
EMPLOYEE_RATE, EMPLOYER_RATE = 0.08, 0.16
RESIDENT_GRADES = np.array([200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 3000])
EMPLOYER_IN_COUNTY = 0.6
INSURANCE = ["职工基本养老保险", "城乡居民基本养老保险"]  # employees', residents' scheme

SOCIAL_SECURITY = SourceSpec(
    name="social_security",
    owner="亳州市人力资源和社会保障局 / Bozhou Human Resources and Social Security Bureau",
    description="Pension contributions: employees monthly, the residents' scheme each December.",
    entity="person",
    fmt="parquet",
    headers={
        "month": "费款所属期",
        "resident_id": "公民身份号码",
        "name": "姓名",
        "insurance": "险种类型",
        "employer_uscc": "单位统一社会信用代码",
        "base": "缴费基数(元)",
        "employee_amount": "个人缴费金额(元)",
        "employer_amount": "单位缴费金额(元)",
    },
    id_columns=("resident_id",),
    uscc_columns=("employer_uscc",),
    date_columns=("month",),
    key_columns=("month", "resident_id", "insurance"),
    nullable_columns=("employer_uscc", "base", "employer_amount"),
    monthly_by="month",
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The contributions, as delivered after month `last`."""
    yield _social_security(world, rng, last)


def _social_security(world: World, rng: np.random.Generator, last: int) -> SourceTable:
    """Employees' rows, then residents', stably sorted by month. Who, employer and scheme
    repeat month after month: categoricals with the same categories in both parts, so each
    column is put together once, in sorted order, from small codes."""
    parts = (_employees(world, rng, last), _residents(world, rng, last))
    months = np.concatenate([part["month"].to_numpy() for part in parts])
    order = np.argsort(months, kind="stable")
    columns = {name: _stacked([part[name] for part in parts], order) for name in parts[0].columns}
    return SourceTable(SOCIAL_SECURITY, pd.DataFrame(columns, copy=False))


def _stacked(parts: list[pd.Series], order: np.ndarray) -> pd.Categorical | np.ndarray:
    """The parts' values one after the other, taken in `order`."""
    first = parts[0]
    if isinstance(first.dtype, pd.CategoricalDtype):
        if any(part.dtype != first.dtype for part in parts):
            raise ValueError("categorical parts must share their categories")
        codes = np.concatenate([part.cat.codes.to_numpy() for part in parts])[order]
        dtype = pd.CategoricalDtype(pd.Index(first.cat.categories), ordered=first.cat.ordered)
        result: pd.Categorical = pd.Categorical.from_codes(codes, dtype=dtype)
        return result
    stacked: np.ndarray = np.concatenate([part.to_numpy() for part in parts])[order]
    return stacked


def _employees(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """A row per month in work from age 16. Each job spell has one employer: a firm of the
    county that exists through the whole simulation (60%), else one outside (no USCC)."""
    cal, p, ent = world.cal, world.persons, world.enterprises
    employed = world.paths.employed
    staff = np.flatnonzero(employed.any(axis=1))
    work = employed[staff]
    starts = work & ~np.concatenate([np.zeros((staff.size, 1), bool), work[:, :-1]], axis=1)
    spell = np.cumsum(starts, axis=1, dtype=np.int16)
    lasting = world.paths.firm_active.all(axis=1)
    pool = np.flatnonzero(lasting & (ent["kind"].to_numpy() != "sole_trader"))
    size = (staff.size, int(spell.max(initial=0)) + 1)
    weight = ent["employees"].to_numpy()[pool].astype(float)
    firm = rng.choice(pool, size, p=weight / weight.sum()) if pool.size else np.zeros(size, int)
    firm = np.where((rng.random(size) < EMPLOYER_IN_COUNTY) & (pool.size > 0), firm, -1)
    t, row = np.nonzero(work[:, : last + 1].T)
    pid = staff[row]
    old_enough = p["age"].to_numpy()[pid] - (cal.study_month - t) / 12 >= 16
    t, row, pid = t[old_enough], row[old_enough], pid[old_enough]
    employer = firm[row, spell[row, t]]
    years = month_starts(cal, t).astype("datetime64[Y]").astype(int) - _year(cal, 0)
    lower, upper = (b * BASE_GROWTH**years for b in BASE_BOUNDS_FIRST_YEAR)
    base = np.round(np.clip(world.income[pid] * BASE_GROWTH**years, lower, upper))
    del row, old_enough, years, lower, upper  # a row per person and month: millions of rows
    return pd.DataFrame(
        {
            "month": month_starts(cal, t),
            "resident_id": repeated(p["resident_id"].array, pid),
            "name": repeated(p["name"].array, pid),
            "insurance": _insurance(INSURANCE[0], pid.size),
            "employer_uscc": repeated(ent["uscc"].array, employer, fill=True),
            "base": base,
            "employee_amount": np.round(base * EMPLOYEE_RATE, 2),
            "employer_amount": np.round(base * EMPLOYER_RATE, 2),
        },
        copy=False,
    )


def _residents(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """Adults of 18-59 without a wage pay the residents' pension once a year, in December; the
    grade rises with income and falls with poor payment habits, and some skip a year."""
    cal, p = world.cal, world.persons
    n = p.shape[0]
    join = rng.random(n) < 1 / (1 + np.exp(-(2.0 - 0.6 * world.character)))
    taste = rng.normal(0, 0.35, n) - 0.35 * world.character
    taste += 0.9 * np.log(np.maximum(world.income, 300) / 1_500)
    unwaged = p["role"].to_numpy() != "salaried"
    parts = []
    for t in np.flatnonzero(cal.calendar_months() == 12):
        age = p["age"].to_numpy() - (cal.study_month - t) / 12
        pays = join & unwaged & (age >= 18) & (age < 60) & (rng.random(n) < 0.95)
        score = taste + rng.normal(0, 0.15, n)
        grade = RESIDENT_GRADES[np.clip(np.floor((score + 0.3) / 0.25), 0, 11).astype(int)]
        pid = np.flatnonzero(pays & (t <= last))
        parts.append(
            pd.DataFrame(
                {
                    "month": month_starts(cal, np.full(pid.size, t)),
                    "resident_id": repeated(p["resident_id"].array, pid),
                    "name": repeated(p["name"].array, pid),
                    "insurance": _insurance(INSURANCE[1], pid.size),
                    "employer_uscc": repeated(
                        world.enterprises["uscc"].array, np.full(pid.size, -1), fill=True
                    ),
                    "base": np.nan,
                    "employee_amount": grade[pid].astype(float),
                    "employer_amount": np.nan,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _insurance(kind: str, size: int) -> pd.Categorical:
    """The scheme of `size` rows; both schemes' rows share the categories, so they concatenate
    as one categorical."""
    codes = np.full(size, INSURANCE.index(kind), dtype=np.int8)
    dtype = pd.CategoricalDtype(pd.Index(INSURANCE))
    result: pd.Categorical = pd.Categorical.from_codes(codes, dtype=dtype)
    return result


def _year(cal: Calendar, month: int) -> int:
    return cal.month_start(month).year - 1970
