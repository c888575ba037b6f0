"""The financial module against an independent reading of the delivered files (`raw.read`,
values as text; defective records and the subjects they name are kept out)."""

from __future__ import annotations

import statistics
from datetime import date

import pandas as pd

from purecredit.profile.features.person_financial import MODULE
from tests.profile.conftest import AS_OF, Profiled, by_subject
from tests.profile.raw import dates, read, tokens

# Window starts of AS_OF (2026-01-31).
M3, M6, M12, M24 = date(2025, 10, 31), date(2025, 7, 31), date(2025, 1, 31), date(2024, 1, 31)


def test_deposits_and_customer(profiled: Profiled) -> None:
    """Accounts summed per month, then averaged over the person's months."""
    token = tokens(profiled)
    cust = read(profiled.county, "bank_customers", text=True)
    dep = read(profiled.county, "bank_deposits", text=True)
    owners = cust.rows.drop_duplicates("customer_no").set_index("customer_no").resident_id
    rows = dep.rows[dep.rows.customer_no.isin(owners.index)]
    rows = rows.assign(
        person=rows.customer_no.map(owners),
        month=dates(rows.month),
        balance=rows.balance.astype(float),
        inflow=pd.to_numeric(rows.inflow),
    )
    # Every delivered month (to December 2025) is known by AS_OF: files arrive 5 days late.
    grouped = rows[rows.month <= AS_OF].groupby(["person", "month"])[["balance", "inflow"]]
    monthly: pd.DataFrame = grouped.sum(min_count=1).reset_index()
    persons = sorted(set(monthly.person))[::25]
    accounts = rows.groupby("person").customer_no.unique()
    sample = [p for p in persons if not cust.touched(p)
              and not any(dep.touched(a) for a in accounts[p])]  # fmt: skip
    customers = set(cust.rows.resident_id)
    people = read(profiled.county, "population_register", text=True).rows.resident_id
    outsider = people[~people.isin(customers)].iloc[0]
    got = by_subject(profiled.features([MODULE], [token(p) for p in [*sample, outsider]]))
    assert len(sample) > 20
    for pid in sample:
        row, mine = got[token(pid)], monthly[monthly.person == pid].sort_values("month")
        recent = mine[mine.month > M3]
        last = recent.balance.iloc[-1] if len(recent) else None
        assert row.deposit_balance_latest == last or abs(row.deposit_balance_latest - last) < 1e-6
        y = mine[mine.month > M12]
        assert abs(row.deposit_avg_balance_6m - mine[mine.month > M6].balance.mean()) < 1e-6
        assert abs(row.deposit_avg_balance_12m - y.balance.mean()) < 1e-6
        assert abs(row.deposit_avg_inflow_12m - y.inflow.mean()) < 1e-6
        flows = y.inflow.dropna().tolist()
        cv = statistics.stdev(flows) / statistics.mean(flows) if len(flows) >= 3 else None
        assert (row.deposit_inflow_cv_12m is None) == (cv is None)
        if cv is not None:
            assert abs(row.deposit_inflow_cv_12m - cv) < 1e-9
        assert row.deposit_months_12m == len(y)
        opened = dates(cust.rows[cust.rows.resident_id == pid].opened).min()
        assert row.is_bank_customer is True
        assert row.bank_customer_months == (AS_OF.year - opened.year) * 12 + (
            AS_OF.month - opened.month)  # fmt: skip
    row = got[token(outsider)]
    assert row.is_bank_customer is False
    assert row.deposit_months_12m is None and row.deposit_balance_latest is None


def _pension(profiled: Profiled) -> tuple[pd.DataFrame, list[str]]:
    ss = read(profiled.county, "social_security", text=True)
    rows = ss.rows.assign(month=dates(ss.rows.month), base=pd.to_numeric(ss.rows.base))
    people = sorted(set(rows.resident_id))[::40]
    return rows, [p for p in people if not ss.touched(p)]


def test_pension_contributions(profiled: Profiled) -> None:
    token = tokens(profiled)
    rows, sample = _pension(profiled)
    got = by_subject(profiled.features([MODULE], [token(p) for p in sample]))
    assert len(sample) > 20
    for pid in sample:
        mine, row = rows[rows.resident_id == pid], got[token(pid)]
        recent = mine[(mine.month > M24) & (mine.month <= AS_OF)]
        assert row.pension_months_24m == recent.month.nunique()
        based = mine.dropna(subset=["base"]).sort_values(["month", "base"])
        assert row.pension_latest_base == (based.base.iloc[-1] if len(based) else None)
        kinds = sorted(set(recent.insurance), key=lambda k: k != "职工基本养老保险")
        assert row.pension_schemes_24m == ("+".join(kinds) or None)


def test_pension_point_in_time(profiled: Profiled) -> None:
    """As of 2025-06-30 the bank has the months to May only (a month's file arrives 15 days
    after it ends): June's contributions, though dated before the as-of date, do not count."""
    token = tokens(profiled)
    rows, sample = _pension(profiled)
    as_of, m24 = date(2025, 6, 30), date(2023, 6, 30)
    got = by_subject(profiled.features([MODULE], [token(p) for p in sample], as_of))
    june = 0
    for pid in sample:
        mine = rows[rows.resident_id == pid]
        known = mine[(mine.month > m24) & (mine.month < date(2025, 6, 1))]
        assert got[token(pid)].pension_months_24m == known.month.nunique()
        june += int((mine.month == date(2025, 6, 1)).any())
    assert june > 0  # the check had something to exclude
