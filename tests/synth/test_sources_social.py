"""The social sources, checked against the world they are views of."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric

from purecredit.synth.config import SynthConfig
from purecredit.synth.sources import SourceTable, social
from purecredit.synth.sourcespec import SourceSpec
from purecredit.synth.world import World, build_world


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SynthConfig(people=3000, seed=7))


@pytest.fixture(scope="module")
def tables(world: World) -> dict[str, SourceTable]:
    return {t.spec.name: t for t in social.tables(world, np.random.default_rng(12))}


def _heads(world: World) -> pd.Series:
    """pid of the head, by household_id."""
    p = world.persons
    heads = p[p["relation"] == "head"]
    return pd.Series(heads["pid"].to_numpy(), index=heads["household_id"].to_numpy())


def _month(world: World, days: pd.Series) -> np.ndarray:
    start = world.cal.month_start(0)
    return np.asarray((days.dt.year - start.year) * 12 + days.dt.month - start.month)


def test_every_source_has_a_valid_spec_and_exactly_its_columns(
    tables: dict[str, SourceTable],
) -> None:
    assert set(tables) == {"land_planting", "credit_village", "utility_payments"}
    for name, table in tables.items():
        assert isinstance(table.spec, SourceSpec)
        assert list(table.frame.columns) == list(table.spec.columns), name
        assert len(table.frame) > 0, name
        keys = table.frame[list(table.spec.key_columns)]
        assert keys.notna().all().all() and not keys.duplicated().any(), name
        required = sorted(set(table.spec.columns) - set(table.spec.nullable_columns))
        assert table.frame[required].notna().all().all(), name
        if table.spec.encoding == "gbk":
            text: list[str] = table.frame.select_dtypes("str").columns.tolist()
            for column in text:
                "".join(table.frame[column].unique()).encode("gbk")


def test_no_social_source_carries_a_resident_id(
    world: World, tables: dict[str, SourceTable]
) -> None:
    ids = set(world.persons["resident_id"])
    for name, table in tables.items():
        assert table.spec.id_columns == (), name
        text: list[str] = table.frame.select_dtypes("str").columns.tolist()
        for column in text:
            values = set(table.frame[column].dropna().unique())
            assert not values & ids, (name, column)
            eighteen = [v for v in values if len(v) == 18 and v[:17].isdigit()]
            assert not [v for v in eighteen if ric.calc_check_digit(v) == v[17]], (name, column)


def test_nothing_is_dated_after_the_last_month(world: World) -> None:
    for last in (world.cal.study_month, world.cal.study_month - 7):
        end = pd.Timestamp(world.cal.month_end(last))
        for table in social.tables(world, np.random.default_rng(12), last_month=last):
            frame = table.frame
            for column in table.spec.date_columns:
                assert (frame[column].dropna() <= end).all(), (table.spec.name, column)
            if "year" in frame:
                assert (frame["year"] <= end.year).all()


def test_planting_follows_the_herbs_growth_years(
    world: World, tables: dict[str, SourceTable]
) -> None:
    land = tables["land_planting"].frame
    hh = world.households
    farming = hh[hh["farms"]].set_index("household_no")
    assert set(land["household_no"]) == set(farming.index)
    assert len(land) == len(farming) * land["year"].nunique()
    growth = {h.name: h.growth_years for h in world.ref.herbs}
    years = land["variety"].map(growth)
    age = land["year"] - land["sown_year"]
    assert ((age >= 0) & (age < years)).all()
    herbs = np.array([h.name for h in world.ref.herbs])
    assert (
        land["variety"].to_numpy() == herbs[farming.loc[land["household_no"], "herb_variety"]]
    ).all()
    # Area changes only when the herb is re-sown; a perennial's stays while it grows.
    same_crop = land.groupby(["household_no", "sown_year"])["planted_area"].nunique()
    assert (same_crop == 1).all()
    annual = land[years == 1].groupby("household_no")["planted_area"].nunique()
    assert (annual > 1).mean() > 0.5
    ratio = land.groupby("household_no")["planted_area"].mean() / farming["plot_mu"]
    assert ratio.between(0.5, 2.0).all()


def test_credit_grades_follow_habits_and_events(
    world: World, tables: dict[str, SourceTable]
) -> None:
    rated = tables["credit_village"].frame
    hh = world.households.set_index("household_no")
    assert not hh.loc[rated["household_no"], "urban"].any()
    rural = hh[~hh["urban"]]
    assert len(rated) == len(rural) * rated["year"].nunique()
    head = _heads(world).loc[hh.loc[rated["household_no"], "household_id"]].to_numpy()
    assert (rated["head_name"].to_numpy() == world.persons["name"].to_numpy()[head]).all()
    character = pd.Series(world.character[head]).groupby(rated["grade"].to_numpy()).mean()
    assert character["AAA"] < character["A"] < character["C"]
    # Heads with a court action in the two years before the rating are graded lower.
    ev = world.events[world.events["kind"].isin(["enforcement", "dishonest", "seizure"])]
    ev = ev[ev["entity"] == "person"]
    at = _month(world, rated["rated_on"])
    hits = pd.DataFrame({"pid": head, "at": at, "row": np.arange(len(rated))}).merge(
        ev.rename(columns={"idx": "pid"}), on="pid"
    )
    hits = hits[(hits["month"] < hits["at"]) & (hits["month"] >= hits["at"] - 24)]
    sued = np.zeros(len(rated), dtype=bool)
    sued[hits["row"].to_numpy()] = True
    low = rated["grade"].isin(["B", "C"]).to_numpy()
    assert sued.sum() > 10 and low[sued].mean() > 2 * low[~sued].mean()
    # A designated credit village stays designated.
    village = rated.groupby(["village_code", "year"])["credit_village"].first().unstack()
    flags = (village == "是").to_numpy()
    assert (np.diff(flags.astype(int), axis=1) >= 0).all() and flags.any() and not flags.all()


def test_utility_bills_every_household_every_month(
    world: World, tables: dict[str, SourceTable]
) -> None:
    bills = tables["utility_payments"].frame
    months = world.cal.study_month + 1
    assert len(bills) == world.households.shape[0] * months
    assert bills.groupby("account_no").size().eq(months).all()
    head = _heads(world).sort_index().to_numpy()
    phones = set(world.persons["phone"].to_numpy()[head])
    assert set(bills["holder_phone"]) <= phones
    summer = bills["billing_month"].dt.month.isin([8, 9])
    spring = bills["billing_month"].dt.month.isin([5, 6])
    assert bills.loc[summer, "amount_due"].mean() > 1.2 * bills.loc[spring, "amount_due"].mean()


def test_utility_lateness_follows_late_events_and_defaults(
    world: World, tables: dict[str, SourceTable]
) -> None:
    bills = tables["utility_payments"].frame
    last = world.cal.study_month
    head = _heads(world)
    phone_of = pd.Series(world.persons["phone"].to_numpy()[head.to_numpy()], index=head.to_numpy())
    bills = bills.assign(t=_month(world, bills["billing_month"]))
    by_key = bills.set_index(["holder_phone", "t"])
    lates = world.lates[world.lates["entity"] == "person"]
    lates = lates[lates["idx"].isin(head.to_numpy()) & (lates["month"] < last)]
    assert len(lates) > 0
    keys = pd.MultiIndex.from_arrays([phone_of.loc[lates["idx"]], lates["month"]])
    assert (by_key.loc[keys, "days_late"] > 0).all()
    assert 0.005 < (bills["days_late"] > 0).mean() < 0.15
    dft = world.defaults[world.defaults["entity"] == "person"]
    dft = dft[dft["idx"].isin(head.to_numpy()) & (dft["month"] + 3 <= last)]
    assert len(dft) > 0
    keys = pd.MultiIndex.from_arrays([phone_of.loc[dft["idx"]], dft["month"]])
    assert (by_key.loc[keys, "days_late"] >= 30).all()
    unpaid = bills["paid_on"].isna()
    assert (bills.loc[unpaid, "t"] >= last - 3).all()
