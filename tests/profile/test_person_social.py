"""The social module against an independent reading of the delivered files (`raw.read`,
values as text; defective records and the subjects they name are kept out)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from purecredit.profile.features.person_social import MODULE
from purecredit.profile.spine import months_before
from tests.profile.conftest import AS_OF, Profiled, by_subject
from tests.profile.raw import Raw, dates, known_on, read, tokens

M12 = date(2025, 1, 31)  # the window starts of AS_OF (2026-01-31)
M24 = date(2024, 1, 31)


def test_credit_village_of_the_household(profiled: Profiled) -> None:
    token = tokens(profiled)
    reg = read(profiled.county, "population_register", text=True)
    village = read(profiled.county, "credit_village", text=True)
    rated = village.rows.assign(year=village.rows.year.astype(int)).sort_values("year")
    latest = rated.groupby("household_no").last()
    people = reg.rows.drop_duplicates("resident_id")
    ok = [h for h in latest.index if not village.touched(h) and not reg.touched(h)]
    sample = people[people.household_no.isin(ok)].iloc[::20]
    unrated = people[~people.household_no.isin(set(rated.household_no))].iloc[:3]
    got = by_subject(profiled.features(
        [MODULE], [token(p) for p in [*sample.resident_id, *unrated.resident_id]]))  # fmt: skip
    assert len(sample) > 20
    for person in sample.itertuples():
        row, want = got[token(str(person.resident_id))], latest.loc[str(person.household_no)]
        assert row.household_credit_grade == want.grade
        assert row.household_credit_year == want.year
        assert row.household_in_credit_village == (want.credit_village == "是")
    for person in unrated.itertuples():
        assert got[token(str(person.resident_id))].household_credit_grade is None


def test_courts_and_illness(profiled: Profiled) -> None:
    token = tokens(profiled)
    court = read(profiled.county, "court_enforcement", text=True)
    listed = read(profiled.county, "dishonest_debtors", text=True)
    ill = read(profiled.county, "medical_serious_illness", text=True)
    cases = court.rows.dropna(subset=["debtor_id"])
    cases = cases.assign(filed=dates(cases.filed_on), closed=dates(cases.closed_on),
                         amount=cases.amount.astype(float))  # fmt: skip
    cases = cases[cases.filed <= AS_OF]
    cases["open"] = [c > AS_OF if pd.notna(c) else s == "执行中"
                     for c, s in zip(cases.closed, cases.status, strict=True)]  # fmt: skip
    dd = listed.rows.dropna(subset=["debtor_id"])
    dd = dd.assign(removed=dates(dd.removed_on))
    claims = ill.rows.assign(settled=dates(ill.rows.settled_on))
    claims = claims[(claims.settled > M24) & (claims.settled <= AS_OF)]
    claims["own"] = claims.total_cost.astype(float) - claims.reimbursed.astype(float)

    ids = set(cases.debtor_id) | set(dd.debtor_id) | set(claims.resident_id)
    sample = sorted(i for i in ids if not (court.touched(i) or listed.touched(i) or ill.touched(i)))
    people = read(profiled.county, "population_register", text=True).rows.resident_id
    clean = people[~people.isin(ids)].iloc[:3].tolist()
    got = by_subject(profiled.features([MODULE], [token(i) for i in [*sample, *clean]]))
    assert len(sample) > 30
    for pid in sample:
        row = got[token(pid)]
        mine = cases[cases.debtor_id == pid]
        assert row.court_cases_count == len(mine)
        assert row.court_open_cases == int(mine.open.sum())
        assert abs(row.court_open_amount - mine[mine.open].amount.sum()) < 1e-6
        lists = dd[dd.debtor_id == pid]
        assert row.dishonest_listings_count == len(lists)
        assert row.dishonest_listed == any(pd.isna(r) or r > AS_OF for r in lists.removed)
        mine_claims = claims[claims.resident_id == pid]
        assert row.serious_illness_claims_24m == len(mine_claims)
        assert abs(row.serious_illness_own_cost_24m - mine_claims.own.sum()) < 1e-6
    for pid in clean:  # covered by the registers, nothing there: zeros, not NULLs
        row = got[token(pid)]
        assert (row.court_cases_count, row.court_open_amount, row.serious_illness_claims_24m) == (
            0, 0, 0)  # fmt: skip
        assert row.dishonest_listed is False


def test_utility_payments(profiled: Profiled) -> None:
    """Bills resolved by holder phone and name together, as the resolution rule says."""
    token = tokens(profiled)
    bills = read(profiled.county, "utility_payments", text=True)
    reg = read(profiled.county, "population_register", text=True)
    cust = read(profiled.county, "bank_customers", text=True)
    people = (
        pd.concat(
            [
                reg.rows[["resident_id", "name", "phone"]],
                cust.rows[["resident_id", "name", "phone"]],
            ]
        )
        .dropna()
        .drop_duplicates()
    )
    unique = people.groupby(["phone", "name"]).resident_id.nunique()
    people = people.set_index(["phone", "name"]).loc[unique[unique == 1].index].reset_index()
    rows = bills.rows.assign(month=dates(bills.rows.billing_month))
    matched = rows.merge(people, left_on=["holder_phone", "holder_name"],
                         right_on=["phone", "name"])  # fmt: skip
    linked = matched.groupby("account_no").resident_id.agg(["nunique", "first"])
    owners = {str(k): str(v) for k, v in linked[linked["nunique"] == 1]["first"].items()}
    rows = rows[rows.account_no.isin(list(owners))]
    rows = rows.assign(person=[owners[a] for a in rows.account_no])
    # The county's feeds end in December 2025, delivered by AS_OF: the window is all there.
    # (Bills are tied to people through the register, a copy known from 2026-01-05, so an
    # earlier as-of date knows no bills at all: the point-in-time test below.)
    window = rows[(rows.month > M12) & (rows.month <= AS_OF)]
    candidates = sorted(set(window.person))
    sample = [
        p
        for p in candidates[::8]
        if not bills.touched(p)
        and not reg.touched(p)
        and not cust.touched(p)
        and not any(bills.touched(a) for a in rows[rows.person == p].account_no.unique())
    ]
    got = by_subject(profiled.features([MODULE], [token(p) for p in sample]))  # fmt: skip
    assert len(sample) > 15
    for pid in sample:
        mine, row = window[window.person == pid], got[token(pid)]
        late = pd.to_numeric(mine.days_late)
        paid = dates(mine.paid_on)
        assert row.utility_bills_12m == len(mine)
        assert abs(row.utility_on_time_share_12m - (late == 0).mean()) < 1e-9
        assert row.utility_max_days_late_12m == late.max()
        assert row.utility_unpaid_bills_12m == sum(pd.isna(p) or p > AS_OF for p in paid)


def test_point_in_time_before_the_copies_arrive(profiled: Profiled) -> None:
    """The copies were delivered on 2026-01-05; the day before, the bank knew each register
    record from its own date plus the owner's publication lag (courts and illness claims 30
    days, dishonest listings 7, village ratings 30, a person from birth plus 30). Before any
    of those records was dated, nothing."""
    token = tokens(profiled)
    day_before = date(2026, 1, 4)
    reg = read(profiled.county, "population_register", text=True)
    court = read(profiled.county, "court_enforcement", text=True)
    listed = read(profiled.county, "dishonest_debtors", text=True)
    ill = read(profiled.county, "medical_serious_illness", text=True)
    village = read(profiled.county, "credit_village", text=True)
    sources = (reg, court, listed, ill, village)

    def known(name: str, raw: Raw) -> pd.DataFrame:
        """Records known by the end of the day before the delivery."""
        return raw.rows[known_on(name, raw.rows) <= day_before]

    cases = known("court_enforcement", court).dropna(subset=["debtor_id"])
    cases = cases.assign(closed=dates(cases.closed_on), amount=cases.amount.astype(float))
    cases["open"] = [c > day_before if pd.notna(c) else s == "执行中"
                     for c, s in zip(cases.closed, cases.status, strict=True)]  # fmt: skip
    dd = known("dishonest_debtors", listed).dropna(subset=["debtor_id"])
    dd = dd.assign(removed=dates(dd.removed_on))
    claims = known("medical_serious_illness", ill)
    claims = claims[dates(claims.settled_on) > months_before(day_before, 24)]
    rated = known("credit_village", village)
    rated = rated.assign(year=rated.year.astype(int)).sort_values("year")
    latest = rated.groupby("household_no").last()
    people = reg.rows.drop_duplicates("resident_id")
    people = people.assign(known=known_on("population_register", people))
    # Both sides of each line: true before the day but published after it, and known.
    # (Dishonest listings are published 7 days on, and none in the last week: all known.)
    for raw, name, when in ((court, "court_enforcement", "filed_on"),
                            (ill, "medical_serious_illness", "settled_on")):  # fmt: skip
        pending = (known_on(name, raw.rows) > day_before) & (dates(raw.rows[when]) <= day_before)
        assert pending.any() and (~pending).any(), name
    ids = set(cases.debtor_id) | set(dd.debtor_id) | set(claims.resident_id)
    assert (people.known <= day_before).all()  # everyone was born before December 2025
    sample = list(people.resident_id.iloc[:50]) + sorted(ids & set(people.resident_id))[:60]
    sample = [i for i in dict.fromkeys(sample) if not any(r.touched(i) for r in sources)]
    assert len(sample) > 60
    got = by_subject(profiled.features([MODULE], [token(i) for i in sample], day_before))
    home = people.set_index("resident_id")
    for pid in sample:
        row = got[token(pid)]
        mine = cases[cases.debtor_id == pid]
        assert row.court_cases_count == len(mine), pid
        assert row.court_open_cases == int(mine.open.sum()), pid
        assert abs(row.court_open_amount - mine[mine.open].amount.sum()) < 1e-6, pid
        lists = dd[dd.debtor_id == pid]
        assert row.dishonest_listings_count == len(lists), pid
        assert row.dishonest_listed == any(pd.isna(r) or r > day_before for r in lists.removed)
        mine_claims = claims[claims.resident_id == pid]
        own = mine_claims.total_cost.astype(float) - mine_claims.reimbursed.astype(float)
        assert row.serious_illness_claims_24m == len(mine_claims), pid
        assert abs(row.serious_illness_own_cost_24m - own.sum()) < 1e-6, pid
        household = home.household_no[pid]
        if household in latest.index:
            want = latest.loc[household]
            assert row.household_credit_grade == want.grade, pid
            assert row.household_credit_year == want.year, pid
        else:  # an unrated household: no grade
            assert row.household_credit_grade is None and row.household_credit_year is None
    assert any(got[token(i)].court_cases_count for i in sample)
    assert any(got[token(i)].household_credit_grade for i in sample)
    # Before any court case, listing, claim, rating or bill was dated, nothing was known.
    first = min(
        dates(raw.rows[when]).min()
        for raw, when in ((court, "filed_on"), (listed, "published_on"), (ill, "settled_on"),
                          (village, "rated_on"))
    )  # fmt: skip
    bills = read(profiled.county, "utility_payments", text=True).rows
    first = min(first, dates(bills.billing_month).min())
    assert first > date(2021, 1, 1)
    people50 = [token(p) for p in people.resident_id.iloc[:50]]
    before = profiled.features([MODULE], people50, first - timedelta(days=1))
    assert all(v is None for row in before.drop(["subject", "as_of"]).to_pylist()
               for v in row.values())  # fmt: skip
