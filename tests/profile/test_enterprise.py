"""The enterprise module against an independent computation from the delivered raw files.

Raw rows are cleaned the way a careful analyst would, not the way ingest does: a row is kept
only when its USCC and resident IDs are canonical and valid and its dates are ISO dates, and
duplicates keep their last copy. Defective rows (bad checksum, impossible date, broken
line, cosmetic near-duplicate) are then gone from both sides, so the comparison is exact.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlglot

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.ingest.catalog import load_catalog
from purecredit.profile.features import enterprise
from purecredit.profile.spine import make_spine
from tests.profile.conftest import AS_OF, Profiled

EARLY = date(2025, 6, 30)  # before any copy (registry, licences, courts) reached the bank


def _rename(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    headers = {f.header: name for name, f in load_catalog().source(source).fields.items()}
    return frame.rename(columns=headers)


def _files(profiled: Profiled, source: str) -> list[Path]:
    pattern = load_catalog().source(source).files
    return sorted((profiled.county / "sources" / source).glob(pattern))


def raw_csv(profiled: Profiled, source: str) -> pd.DataFrame:
    """Every line that decodes and has the header's column count, as text."""
    encoding = load_catalog().source(source).encoding
    rows: list[dict[str, str]] = []
    for path in _files(profiled, source):
        header: list[str] | None = None
        for line in path.read_bytes().splitlines():
            try:
                cells = next(csv.reader([line.decode(encoding)]))
            except (UnicodeDecodeError, StopIteration):
                continue
            if header is None:
                header = cells
            elif len(cells) == len(header):
                rows.append(dict(zip(header, [c.strip() for c in cells], strict=True)))
    return _rename(source, pd.DataFrame(rows))


def raw_jsonl(profiled: Profiled, source: str) -> pd.DataFrame:
    rows = []
    for path in _files(profiled, source):
        for line in path.read_bytes().splitlines():
            try:
                rows.append(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, ValueError):
                continue
    frame = _rename(source, pd.DataFrame(rows)).fillna("")
    return frame.astype(str).apply(lambda column: column.str.strip())


def raw_monthly(profiled: Profiled, source: str, as_of: date) -> pd.DataFrame:
    """The monthly parquet files the bank had received by the end of `as_of`."""
    lag = load_catalog().source(source).observed_lag_days
    parts = []
    for path in _files(profiled, source):
        month = datetime.strptime(path.stem[-7:], "%Y-%m").date()
        first_next = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        if first_next + timedelta(days=lag - 1) <= as_of:
            parts.append(pd.read_parquet(path))
    return _rename(source, pd.concat(parts, ignore_index=True))


def uscc_ok(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_uscc(value).code == value
    except Invalid:
        return False


def id_ok(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_resident_id(value).number == value
    except Invalid:
        return False


def iso_ok(value: object, required: bool = True) -> bool:
    if not isinstance(value, str) or value == "":
        return not required and (value is None or value == "" or value != value)
    try:
        return datetime.strptime(value, "%Y-%m-%d").strftime("%Y-%m-%d") == value
    except ValueError:
        return False


def clean(
    frame: pd.DataFrame,
    key: list[str],
    usccs: list[str],
    dates: list[str],
    ids: tuple[str, ...] = (),
    optional_dates: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Rows with canonical codes and ISO dates, one per key (the last delivered)."""
    keep = pd.Series(True, index=frame.index)
    for column in usccs:
        keep &= frame[column].map(uscc_ok)
    for column in ids:
        keep &= frame[column].map(lambda v: v in (None, "") or v != v or id_ok(v))
    for column in dates:
        keep &= frame[column].map(iso_ok)
    for column in optional_dates:
        keep &= frame[column].map(lambda v: iso_ok(v, required=False))
    return frame[keep].drop_duplicates(key, keep="last")


def same(got: object, expected: float | None) -> bool:
    """Equal within float rounding, NULL matching NULL (NaN or None)."""
    if expected is None or expected != expected:
        return got is None or got != got
    return got == pytest.approx(expected)


def lake_id(profiled: Profiled, number: str) -> str:
    return profiled.tokenizer().token(number, "id")  # the lake key, `id:…`


def registry(profiled: Profiled) -> pd.DataFrame:
    reg = raw_csv(profiled, "enterprise_registry")
    reg = clean(reg, ["uscc"], ["uscc"], ["registered_on"], ids=("legal_rep_id",),
                optional_dates=("closed_on",))  # fmt: skip
    return reg.set_index("uscc", drop=False)


def features(profiled: Profiled, subjects: list[str], as_of: date = AS_OF) -> pd.DataFrame:
    table = profiled.features([enterprise.MODULE], subjects, as_of)
    return table.to_pandas().set_index("subject")


def test_sql_is_portable() -> None:
    for sql in (enterprise.SQL, enterprise.LEGAL_REP_SQL):
        sqlglot.transpile(
            sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
        )


def test_registration(profiled: Profiled) -> None:
    reg = registry(profiled)
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
    early = features(profiled, list(reg.index[:5]), EARLY)
    assert early.entity_type.isna().all() and early.firm_is_live.isna().all()
    assert early.live_licences.isna().all() and early.open_enforcement_cases.isna().all()


def _sales_window(returns: pd.DataFrame, as_of: date, first: int, last: int) -> pd.Series:
    """Sales per firm over calendar months `first`..`last` before the as-of month."""
    a = as_of.year * 12 + as_of.month
    period = pd.to_datetime(returns["period"])
    m = period.dt.year * 12 + period.dt.month
    inside = returns[(m >= a - last) & (m <= a - first)]
    return inside.groupby("uscc")["sales"].sum()


@pytest.mark.parametrize("as_of", [EARLY, AS_OF])
def test_sales_point_in_time(profiled: Profiled, as_of: date) -> None:
    returns = raw_monthly(profiled, "tax_returns", as_of)
    returns = clean(returns, ["uscc", "period"], ["uscc"], ["period"], optional_dates=("filed_on",))
    firms = sorted(set(registry(profiled).index))
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
    firms = sorted(set(registry(profiled).index))
    got = features(profiled, firms)
    # insured employees: the latest of the last 3 complete months with any contributor
    ss = raw_monthly(profiled, "social_security", AS_OF)
    ss = ss[ss.insurance == "职工基本养老保险"]
    ss = clean(ss, ["month", "resident_id", "insurance"], ["employer_uscc"], ["month"],
               ids=("resident_id",))  # fmt: skip
    ss = ss[ss.month.between("2025-10-01", "2025-12-01")]
    latest = ss[ss.month == ss.groupby("employer_uscc").month.transform("max")]
    staff = latest.groupby("employer_uscc").resident_id.nunique()
    assert (staff.reindex(firms).fillna(0) > 0).any()
    # licences
    lic = _rename("electronic_licences", pd.read_excel(
        _files(profiled, "electronic_licences")[0], dtype=str)).fillna("")  # fmt: skip
    lic = clean(lic, ["licence_no"], ["holder_uscc"], ["issued_on", "expires_on"])
    live = lic[(lic.status != "注销") & (lic.expires_on >= AS_OF.isoformat())
               & (lic.issued_on <= AS_OF.isoformat())]  # fmt: skip
    herb = live[
        live.licence_type.isin(
            ["中药材经营备案凭证", "药品经营许可证", "药品经营质量管理规范认证证书"]
        )
    ]
    # tax grades
    grades = clean(raw_csv(profiled, "tax_credit_grade"), ["uscc", "year"], ["uscc"], [])
    grades = grades.assign(year=grades.year.astype(int)).sort_values("year")
    last_grade = grades.groupby("uscc").grade.last()
    # court enforcement
    cases = raw_jsonl(profiled, "court_enforcement")
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
    returns = raw_monthly(profiled, "tax_returns", AS_OF)
    outside = sorted(set(returns.uscc[returns.uscc.map(uscc_ok)]) - set(registry(profiled).index))
    got = features(profiled, outside[:3])
    assert got.entity_type.isna().all() and got.firm_age_years.isna().all()
    assert got.sales_12m.notna().all()  # the tax office knows it all the same


def test_herb_exposure(profiled: Profiled) -> None:
    firms = sorted(set(registry(profiled).index))
    got = features(profiled, firms)
    assert set(got.herb_basket_source) == {"county", "legal_rep_household"}
    county = got[got.herb_basket_source == "county"].herb_price_change_12m
    assert county.nunique() == 1  # one county basket per date
    assert got.herb_price_change_12m.between(-1, 10).all()


def test_legal_rep_sql(profiled: Profiled) -> None:
    reg = registry(profiled)
    sample = reg[reg.legal_rep_id != ""].index[:10].tolist()
    no_rep = reg[reg.legal_rep_id == ""].index[:2].tolist()
    spine = make_spine(sample + no_rep, [AS_OF] * len(sample + no_rep))
    profiled.con.register("spine_input", spine)
    profiled.con.execute("CREATE OR REPLACE TEMP TABLE spine AS SELECT * FROM spine_input")
    profiled.con.unregister("spine_input")
    rows = profiled.con.sql(enterprise.LEGAL_REP_SQL).fetchall()
    got = {subject: person for subject, as_of, person in rows}
    assert got == {u: lake_id(profiled, reg.loc[u, "legal_rep_id"]) for u in sample}
    assert len(rows) == len(got)
