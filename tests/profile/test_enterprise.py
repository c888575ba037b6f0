"""The enterprise module against an independent computation from the delivered raw files.

Raw rows (`raw.read_text`, `raw.read_monthly`: the lines that do not read as a record left
out) are cleaned the way a careful analyst would, not the way ingest does (`raw.clean`): a row
is kept only when its USCC and resident IDs are canonical and valid and its dates are ISO
dates, and duplicates keep their last copy. Defective rows (bad checksum, impossible date,
broken line, cosmetic near-duplicate) are then gone from both sides, so the comparison is
exact.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from purecredit.profile.features import enterprise
from purecredit.profile.spine import make_spine
from tests.profile.conftest import AS_OF, BEFORE, Profiled, same
from tests.profile.raw import (
    clean,
    read_monthly,
    read_text,
    registry,
    tokens,
    uscc_ok,
)


def features(profiled: Profiled, subjects: list[str], as_of: date = AS_OF) -> pd.DataFrame:
    table = profiled.features([enterprise.MODULE], subjects, as_of)
    return table.to_pandas().set_index("subject")


def test_registration(profiled: Profiled) -> None:
    reg = registry(profiled.county)
    got = features(profiled, list(reg.index))
    industry = {"中草药种植": "planting", "中药饮片加工": "processing", "中药批发": "trading"}
    for uscc, row in reg.iterrows():
        out = got.loc[uscc]
        assert out.entity_type == row.entity_type, uscc
        capital = float(row.registered_capital) * 10_000 if row.registered_capital else None
        assert same(out.registered_capital_yuan, capital), uscc
        assert out.industry_category == (
            industry.get(row.industry, "other") if row.industry else None
        )
        born = date.fromisoformat(row.registered_on)
        age = AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))
        assert out.firm_age_years == age, uscc
        closed = row.closed_on and date.fromisoformat(row.closed_on) <= AS_OF
        assert out.firm_is_live == (not closed and (row.status == "存续" or bool(row.closed_on)))
    # Before the registry copy arrived, nothing is known: NULL, not a default.
    early = features(profiled, list(reg.index[:5]), BEFORE)
    assert early.entity_type.isna().all() and early.firm_is_live.isna().all()
    assert early.live_licences.isna().all() and early.open_enforcement_cases.isna().all()


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


def test_employees_licences_grades_courts(profiled: Profiled) -> None:
    firms = sorted(set(registry(profiled.county).index))
    got = features(profiled, firms)
    # insured employees: the latest of the last 3 complete months with any contributor
    ss = read_monthly(profiled.county, "social_security", AS_OF)
    ss = ss[ss.insurance == "职工基本养老保险"]
    ss = clean(ss, ["month", "resident_id", "insurance"], ["employer_uscc"], ["month"],
               ids=("resident_id",))  # fmt: skip
    ss = ss[ss.month.between("2025-10-01", "2025-12-01")]
    latest = ss[ss.month == ss.groupby("employer_uscc").month.transform("max")]
    staff = latest.groupby("employer_uscc").resident_id.nunique()
    assert (staff.reindex(firms).fillna(0) > 0).any()
    # licences
    lic = read_text(profiled.county, "electronic_licences")
    lic = clean(lic, ["licence_no"], ["holder_uscc"], ["issued_on", "expires_on"])
    live = lic[(lic.status != "注销") & (lic.expires_on >= AS_OF.isoformat())
               & (lic.issued_on <= AS_OF.isoformat())]  # fmt: skip
    herb = live[
        live.licence_type.isin(
            ["中药材经营备案凭证", "药品经营许可证", "药品经营质量管理规范认证证书"]
        )
    ]
    # tax grades
    grades = clean(read_text(profiled.county, "tax_credit_grade"), ["uscc", "year"], ["uscc"], [])
    grades = grades.assign(year=grades.year.astype(int)).sort_values("year")
    last_grade = grades.groupby("uscc").grade.last()
    # court enforcement
    cases = read_text(profiled.county, "court_enforcement")
    cases = clean(cases[cases.debtor_uscc != ""], ["case_no"], ["debtor_uscc"], ["filed_on"],
                  optional_dates=("closed_on",))  # fmt: skip
    open_ = cases[cases.closed_on.map(lambda d: d > AS_OF.isoformat() if d else False)
                  | ((cases.closed_on == "") & (cases.status == "执行中"))]  # fmt: skip
    open_ = open_[open_.filed_on <= AS_OF.isoformat()]
    assert set(open_.debtor_uscc) & set(firms)
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
