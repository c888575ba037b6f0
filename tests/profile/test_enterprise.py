"""The enterprise module against an independent computation from the delivered raw files.

Raw rows (`raw.read_text`, `raw.read_monthly`: the lines that do not read as a record left
out) are cleaned the way a careful analyst would, not the way ingest does (`raw.clean`): a row
is kept only when its USCC and resident IDs are canonical and valid and its dates are ISO
dates, and duplicates keep their last copy. Defective rows (bad checksum, impossible date,
broken line, cosmetic near-duplicate) are then gone from both sides, so the comparison is
exact.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from purecredit.profile.features import enterprise
from purecredit.profile.spine import make_spine
from tests.profile.conftest import AS_OF, BEFORE, Profiled, same
from tests.profile.raw import (
    clean,
    known_on,
    read_monthly,
    read_text,
    registry,
    tokens,
    uscc_ok,
)

GRADES_PENDING = date(2025, 3, 31)  # a year's tax grades are known 120 days after its end


def features(profiled: Profiled, subjects: list[str], as_of: date = AS_OF) -> pd.DataFrame:
    table = profiled.features([enterprise.MODULE], subjects, as_of)
    return table.to_pandas().set_index("subject")


@pytest.mark.parametrize("as_of", [AS_OF, BEFORE])
def test_registration(profiled: Profiled, as_of: date) -> None:
    reg = registry(profiled.county)
    got = features(profiled, list(reg.index), as_of)
    # The registry's first copy (delivered on ARRIVED) is known firm by firm from its date of
    # establishment plus 30 days: before the copy arrived, only the firms established by then.
    known = (known_on("enterprise_registry", reg) <= as_of) & (reg.registered_on <= str(as_of))
    if as_of == BEFORE:
        assert known.sum() > 20 and (~known).sum() > 5  # both sides of the line
        young = reg.registered_on.map(date.fromisoformat) > BEFORE - timedelta(days=30)
        assert (known == ~young).all()
    else:
        assert known.all()
    industry = {"中草药种植": "planting", "中药饮片加工": "processing", "中药批发": "trading"}
    for uscc, row in reg.iterrows():
        out = got.loc[uscc]
        if not known[uscc]:  # not yet known: NULL, not a default
            assert pd.isna(out.entity_type) and pd.isna(out.firm_is_live), uscc
            assert pd.isna(out.firm_age_years) and pd.isna(out.registered_capital_yuan), uscc
            assert pd.isna(out.industry_category), uscc
            continue
        assert out.entity_type == row.entity_type, uscc
        capital = float(row.registered_capital) * 10_000 if row.registered_capital else None
        assert same(out.registered_capital_yuan, capital), uscc
        assert out.industry_category == (
            industry.get(row.industry, "other") if row.industry else None
        )
        born = date.fromisoformat(row.registered_on)
        age = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        assert out.firm_age_years == age, uscc
        closed = row.closed_on and date.fromisoformat(row.closed_on) <= as_of
        assert out.firm_is_live == (not closed and (row.status == "存续" or bool(row.closed_on)))


def test_nothing_known_before_any_record(profiled: Profiled) -> None:
    """Before the oldest firm was established, no register knew anything of any firm."""
    reg = registry(profiled.county)
    early = min(date.fromisoformat(d) for d in reg.registered_on) - timedelta(days=1)
    assert early < date(2017, 1, 1)  # before any licence, court case or tax record too
    got = features(profiled, list(reg.index), early)
    assert got.entity_type.isna().all() and got.firm_is_live.isna().all()
    assert got.live_licences.isna().all() and got.open_enforcement_cases.isna().all()
    assert got.tax_grade.isna().all() and got.on_dishonest_list.isna().all()
    assert got.insured_employees.isna().all() and got.sales_12m.isna().all()


def _sales_window(returns: pd.DataFrame, as_of: date, first: int, last: int) -> pd.Series:
    """Sales per firm over calendar months `first`..`last` before the as-of month."""
    a = as_of.year * 12 + as_of.month
    period = pd.to_datetime(returns["period"])
    m = period.dt.year * 12 + period.dt.month
    inside = returns[(m >= a - last) & (m <= a - first)]
    return inside.groupby("uscc")["sales"].sum()


@pytest.mark.parametrize("as_of", [BEFORE, AS_OF])
def test_sales_point_in_time(profiled: Profiled, as_of: date) -> None:
    returns = read_monthly(profiled.county, "tax_returns", as_of)
    returns = clean(returns, ["uscc", "period"], ["uscc"], ["period"], optional_dates=("filed_on",))
    firms = sorted(set(registry(profiled.county).index))
    got = features(profiled, firms, as_of)
    s12, p12 = _sales_window(returns, as_of, 1, 12), _sales_window(returns, as_of, 13, 24)
    s3, p3 = _sales_window(returns, as_of, 1, 3), _sales_window(returns, as_of, 13, 15)
    filers = set(returns["uscc"])
    assert filers & set(firms) and set(firms) - filers  # both cases are covered
    for uscc in firms:
        out = got.loc[uscc]
        if uscc not in filers:  # no return known: NULL, not zero sales
            assert pd.isna(out.sales_12m) and pd.isna(out.sales_trend_12m), uscc
            continue
        assert out.sales_12m == pytest.approx(s12.get(uscc, 0.0)), uscc
        assert out.sales_prev_12m == pytest.approx(p12.get(uscc, 0.0)), uscc
        trend = s12.get(uscc, 0.0) / p12[uscc] if p12.get(uscc, 0.0) else None
        assert same(out.sales_trend_12m, trend), uscc
        yoy = s3.get(uscc, 0.0) / p3[uscc] if p3.get(uscc, 0.0) else None
        assert same(out.sales_3m_yoy, yoy), uscc


@pytest.mark.parametrize("as_of", [AS_OF, BEFORE, GRADES_PENDING])
def test_employees_licences_grades_courts(profiled: Profiled, as_of: date) -> None:
    firms = sorted(set(registry(profiled.county).index))
    got = features(profiled, firms, as_of)
    day = as_of.isoformat()
    # insured employees: the latest of the last 3 complete months with any contributor
    ss = read_monthly(profiled.county, "social_security", as_of)
    ss = ss[ss.insurance == "职工基本养老保险"]
    ss = clean(ss, ["month", "resident_id", "insurance"], ["employer_uscc"], ["month"],
               ids=("resident_id",))  # fmt: skip
    a = as_of.year * 12 + as_of.month
    month = pd.to_datetime(ss.month)
    ss = ss[(month.dt.year * 12 + month.dt.month).between(a - 3, a - 1)]
    latest = ss[ss.month == ss.groupby("employer_uscc").month.transform("max")]
    staff = latest.groupby("employer_uscc").resident_id.nunique()
    assert (staff.reindex(firms).fillna(0) > 0).any()
    # Copies known record by record from their own date plus the lag (before ARRIVED).
    # licences
    lic = read_text(profiled.county, "electronic_licences")
    lic = clean(lic, ["licence_no"], ["holder_uscc"], ["issued_on", "expires_on"])
    pending = lic[(known_on("electronic_licences", lic) > as_of) & (lic.issued_on <= day)]
    lic = lic[known_on("electronic_licences", lic) <= as_of]
    live = lic[(lic.status != "注销") & (lic.expires_on >= day) & (lic.issued_on <= day)]
    herb = live[
        live.licence_type.isin(
            ["中药材经营备案凭证", "药品经营许可证", "药品经营质量管理规范认证证书"]
        )
    ]
    # tax grades: a year's grade is known 120 days after the year's end
    grades = clean(read_text(profiled.county, "tax_credit_grade"), ["uscc", "year"], ["uscc"], [])
    grades = grades[known_on("tax_credit_grade", grades) <= as_of]
    grades = grades.assign(year=grades.year.astype(int)).sort_values("year")
    last_grade = grades.groupby("uscc").grade.last()
    # court enforcement
    cases = read_text(profiled.county, "court_enforcement")
    cases = clean(cases[cases.debtor_uscc != ""], ["case_no"], ["debtor_uscc"], ["filed_on"],
                  optional_dates=("closed_on",))  # fmt: skip
    waiting = cases[(known_on("court_enforcement", cases) > as_of) & (cases.filed_on <= day)]
    pending = pd.concat([pending.holder_uscc, waiting.debtor_uscc])
    cases = cases[known_on("court_enforcement", cases) <= as_of]
    open_ = cases[cases.closed_on.map(lambda d: d > day if d else False)
                  | ((cases.closed_on == "") & (cases.status == "执行中"))]  # fmt: skip
    open_ = open_[open_.filed_on <= day]
    assert set(open_.debtor_uscc) & set(firms)
    if as_of != AS_OF:
        assert last_grade.isin(["A", "B", "C", "D", "M"]).all() and len(last_grade) > 20
    if as_of == GRADES_PENDING:  # the rule is exercised: some records true, not yet known
        assert len(pending) > 0
        assert set(grades.year) == {2022, 2023}  # 2024's grades are published 30 April 2025
    for uscc in firms:
        out = got.loc[uscc]
        assert out.insured_employees == staff.get(uscc, 0), uscc
        assert out.live_licences == (live.holder_uscc == uscc).sum(), uscc
        assert out.has_herb_trade_licence == (uscc in set(herb.holder_uscc)), uscc
        assert (out.tax_grade if isinstance(out.tax_grade, str) else None) == last_grade.get(uscc)
        mine = open_[open_.debtor_uscc == uscc]
        assert out.open_enforcement_cases == len(mine), uscc
        assert out.open_enforcement_amount == pytest.approx(mine.amount.astype(float).sum())


def test_firm_outside_the_registry_is_null(profiled: Profiled) -> None:
    returns = read_monthly(profiled.county, "tax_returns", AS_OF)
    outside = sorted(
        set(returns.uscc[returns.uscc.map(uscc_ok)]) - set(registry(profiled.county).index)
    )
    got = features(profiled, outside[:3])
    assert got.entity_type.isna().all() and got.firm_age_years.isna().all()
    assert got.sales_12m.notna().all()  # the tax office knows it all the same


def test_herb_exposure(profiled: Profiled) -> None:
    firms = sorted(set(registry(profiled.county).index))
    got = features(profiled, firms)
    assert set(got.herb_basket_source) == {"county", "legal_rep_household"}
    county = got[got.herb_basket_source == "county"].herb_price_change_12m
    assert county.nunique() == 1  # one county basket per date
    assert got.herb_price_change_12m.between(-1, 10).all()


def test_legal_rep_sql(profiled: Profiled) -> None:
    reg = registry(profiled.county)
    sample = reg[reg.legal_rep_id != ""].index[:10].tolist()
    no_rep = reg[reg.legal_rep_id == ""].index[:2].tolist()
    spine = make_spine(sample + no_rep, [AS_OF] * len(sample + no_rep))
    profiled.con.register("spine_input", spine)
    profiled.con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT * FROM spine_input")
    profiled.con.unregister("spine_input")
    rows = profiled.con.sql(enterprise.LEGAL_REP_SQL).fetchall()
    got = {subject: person for subject, as_of, person in rows}
    token = tokens(profiled)
    assert got == {u: token(reg.loc[u, "legal_rep_id"]) for u in sample}
    assert len(rows) == len(got)
