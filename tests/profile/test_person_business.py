"""The business module against an independent reading of the delivered files (`raw.read`,
values as text): defective records are left out, and so are subjects whose key appears in any
of them (a quarantined or duplicated row changes what the lake holds, which is the ingest's
business, tested there).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from purecredit.profile.features.person_business import MODULE
from tests.profile.conftest import AS_OF, Profiled, by_subject
from tests.profile.raw import Raw, dates, known_on, read, tokens


def _register(profiled: Profiled) -> tuple[Raw, pd.DataFrame]:
    reg = read(profiled.county, "population_register", text=True)
    return reg, reg.rows.drop_duplicates("resident_id")


def test_planting_and_price_exposure(profiled: Profiled) -> None:
    token = tokens(profiled)
    reg, people = _register(profiled)
    plant = read(profiled.county, "land_planting", text=True)
    prices = read(profiled.county, "herb_prices", text=True)
    rows = plant.rows.assign(year=lambda d: d.year.astype(int))
    rows["planted_area"] = rows.planted_area.astype(float)
    rows["contracted_area"] = pd.to_numeric(rows.contracted_area)
    price = prices.rows.assign(month=pd.to_datetime(prices.rows.month))
    price["idx"] = price.month.dt.year * 12 + price.month.dt.month
    price["price_avg"] = price.price_avg.astype(float)

    planting_households = [
        h for h in sorted(set(rows.household_no)) if not plant.touched(h) and not reg.touched(h)
    ]
    members = people[people.household_no.isin(planting_households)]
    sample = members.iloc[:: max(1, len(members) // 25)]
    no_planting = people[~people.household_no.isin(set(rows.household_no))].iloc[:5]
    no_planting = no_planting[[not reg.touched(h) for h in no_planting.household_no]]
    absent = token("110101190001010010")  # a valid ID nobody in the county has
    subjects = [token(i) for i in [*sample.resident_id, *no_planting.resident_id]]
    got = by_subject(profiled.features([MODULE], [*subjects, absent]))

    checked = 0
    for person in sample.itertuples():
        mine = rows[rows.household_no == person.household_no].sort_values("year")
        last = mine.iloc[-1]
        row = got[token(str(person.resident_id))]
        assert row.household_plants_herbs
        assert row.planting_latest_year == last.year
        assert row.planted_area_mu == last.planted_area
        assert row.planting_main_variety == last.variety
        assert row.planting_varieties_count == mine.variety.nunique()
        prev = mine[mine.year == last.year - 1]
        if prev.empty:
            assert row.planted_area_change_mu is None
        else:
            assert (
                abs(row.planted_area_change_mu - (last.planted_area - prev.planted_area.iloc[0]))
                < 1e-9
            )
        series = price[(price.variety == last.variety) & (price.month.dt.date <= AS_OF)]
        top = series.idx.max()
        base = series[(series.idx >= top - 14) & (series.idx <= top - 12)]
        if base.empty:
            continue
        base_row = base.loc[base.idx.idxmax()]
        if any(prices.touched(last.variety) and f"{m:%Y-%m}" in t for t in prices.texts
               for m in (series.month.max(), base_row.month)):  # fmt: skip
            continue  # a defective bulletin row at either month: not an independent reading
        expected = series.loc[series.idx.idxmax()].price_avg / base_row.price_avg - 1
        assert abs(row.main_variety_price_change_12m - expected) < 1e-9
        checked += 1
    assert checked >= 10

    for person in no_planting.itertuples():
        row = got[token(str(person.resident_id))]
        assert row.household_plants_herbs is False
        assert row.planted_area_mu is None and row.main_variety_price_change_12m is None
    # Not in the register: no household, so nothing about planting; the enterprise registry
    # covers everyone, so leading no firm is a 0.
    nothing = {k: v for k, v in vars(got[absent]).items()
               if k not in ("subject", "as_of", "legal_rep_live_firms")}  # fmt: skip
    assert set(nothing.values()) == {None} and got[absent].legal_rep_live_firms == 0


def test_firms_led_as_legal_representative(profiled: Profiled) -> None:
    token = tokens(profiled)
    firms = read(profiled.county, "enterprise_registry", text=True)
    grades = read(profiled.county, "tax_credit_grade", text=True)
    licences = read(profiled.county, "electronic_licences", text=True)
    reg = firms.rows.dropna(subset=["legal_rep_id"])
    closed = dates(reg.closed_on)
    reg = reg.assign(live=[c > AS_OF if pd.notna(c) else s == "存续"
                           for c, s in zip(closed, reg.status, strict=True)])  # fmt: skip
    g = grades.rows.assign(year=grades.rows.year.astype(int)).sort_values("year")
    latest_grade = g.groupby("uscc").grade.last()
    lic = licences.rows.assign(expires=dates(licences.rows.expires_on))
    lic = lic[(lic.status != "注销") & (lic.expires >= AS_OF)]

    firms_of = reg.groupby("legal_rep_id").uscc.unique()
    reps = [
        p for p in sorted(set(reg.legal_rep_id))
        if not firms.touched(p)
        and not any(grades.touched(u) or licences.touched(u) for u in firms_of[p])
    ]  # fmt: skip
    assert len(reps) > 20
    people = read(profiled.county, "population_register", text=True).rows
    nobody = people[~people.resident_id.isin(set(reg.legal_rep_id))].resident_id.iloc[0]
    got = by_subject(profiled.features([MODULE], [token(p) for p in [*reps, nobody]]))
    order = {"A": 1, "B": 2, "M": 3, "C": 4, "D": 5}
    for rep in reps:
        mine = reg[(reg.legal_rep_id == rep) & reg.live]
        row = got[token(rep)]
        assert row.legal_rep_live_firms == mine.uscc.nunique()
        known = [latest_grade[u] for u in mine.uscc if u in latest_grade.index]
        worst = max(known, key=order.__getitem__) if known else None
        assert row.legal_rep_worst_tax_grade == worst
        if mine.empty:
            assert row.legal_rep_has_live_licence is None
        else:
            assert bool(row.legal_rep_has_live_licence) == bool(
                lic.holder_uscc.isin(mine.uscc).any()
            )
    row = got[token(nobody)]
    assert row.legal_rep_live_firms == 0 and row.legal_rep_worst_tax_grade is None


def test_point_in_time_before_the_copies_arrive(profiled: Profiled) -> None:
    """The copies were delivered on 2026-01-05. The day before, the bank knew each register
    record from its own date plus the owner's lag: a planting survey year from 30 January of
    the next year (so not yet 2025's), a firm from 30 days after its establishment. Before the
    oldest firm was established, and before any survey, nothing."""
    token = tokens(profiled)
    day_before = date(2026, 1, 4)
    reg, people = _register(profiled)
    plant = read(profiled.county, "land_planting", text=True)
    firms = read(profiled.county, "enterprise_registry", text=True)
    rows = plant.rows.assign(year=plant.rows.year.astype(int))
    assert rows.year.max() == 2025  # surveyed, but published after the delivery
    early_rows = rows[known_on("land_planting", plant.rows) <= day_before]
    assert set(early_rows.year) == set(rows.year) - {2025}
    reps = firms.rows.dropna(subset=["legal_rep_id"])
    reps = reps.assign(known=known_on("enterprise_registry", reps), closed=dates(reps.closed_on))
    sample = [
        p for p in people.resident_id.iloc[:50]
        if not reg.touched(p) and not plant.touched(p) and not firms.touched(p)
    ]  # fmt: skip
    led = [p for p in sorted(set(reps.legal_rep_id)) if not firms.touched(p)][:30]
    subjects = [token(p) for p in [*sample, *led]]
    home = people.set_index("resident_id").household_no
    before = by_subject(profiled.features([MODULE], subjects, day_before))
    after = by_subject(profiled.features([MODULE], subjects, AS_OF))
    moved = 0
    for pid in sample:
        row, now = before[token(pid)], after[token(pid)]
        mine = early_rows[early_rows.household_no == home[pid]]
        assert row.household_plants_herbs == (not mine.empty), pid
        assert row.planting_latest_year == (mine.year.max() if not mine.empty else None), pid
        latest = rows[rows.household_no == home[pid]].year.max()
        assert now.planting_latest_year == (None if pd.isna(latest) else latest), pid
        moved += row.planting_latest_year != now.planting_latest_year
    assert moved > 5  # 2025's survey is known on 31 January, not on 4 January
    for pid in [*sample, *led]:
        mine = reps[(reps.legal_rep_id == pid) & (reps.known <= day_before)]
        live = mine[pd.Series([c > day_before if pd.notna(c) else s == "存续"
                               for c, s in zip(mine.closed, mine.status, strict=True)],
                              index=mine.index, dtype=bool)]  # fmt: skip
        assert before[token(pid)].legal_rep_live_firms == live.uscc.nunique(), pid
    assert any(before[token(p)].legal_rep_live_firms for p in led)
    # Firms established in the 30 days before: true, not yet known.
    young = reps[(dates(reps.registered_on) <= day_before) & (reps.known > day_before)]
    assert not young.empty
    # Before any firm or survey record was dated, nothing was known.
    oldest = dates(firms.rows.registered_on).min()
    assert oldest < date(2022, 1, 1)  # the surveys start in 2022
    nothing = profiled.features([MODULE], subjects, oldest - timedelta(days=1)).to_pandas()
    assert nothing.drop(columns=["subject", "as_of"]).isna().all().all()
