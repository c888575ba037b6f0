"""The business module against an independent reading of the delivered files.

`read_raw` (shared with the other person-module tests) reads a source's files as delivered,
with no ingest code: rows named by catalogue field, every value as text. The county's truth
lists its deliberately defective records; they are left out, and subjects whose key appears
in any defective record's text are not compared (a quarantined or duplicated row changes what
the lake holds, which is the ingest's business, tested there).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot

from purecredit.ingest.catalog import load_catalog
from purecredit.profile.features.person_business import MODULE
from tests.profile.conftest import AS_OF, Profiled


@dataclass
class Raw:
    rows: pd.DataFrame  # clean rows, catalogue field names, values as text (None when empty)
    bad: list[str]  # the text of every defective record

    def touched(self, key: str) -> bool:
        return any(key in text for text in self.bad)


def _records(path: Path, encoding: str) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        return [
            {k: None if v is None else str(v) for k, v in row.items()}
            for row in pq.read_table(path).to_pylist()
        ]
    if path.suffix == ".jsonl":
        out: list[dict[str, Any]] = []
        for line in path.read_bytes().decode(encoding, errors="replace").splitlines():
            try:
                out.append({k: None if v is None else str(v) for k, v in json.loads(line).items()})
            except json.JSONDecodeError:
                out.append({"_text": line})
        return out
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        head = [str(h) for h in values[0]]
        return [
            {h: None if v is None else str(v)[:10] if hasattr(v, "date") else str(v)
             for h, v in zip(head, row, strict=False)}
            for row in values[1:]
        ]  # fmt: skip
    text = path.read_bytes().decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text))
    head = next(reader)
    return [{h: v or None for h, v in zip(head, row, strict=False)} for row in reader]


def read_raw(county: Path, source: str) -> Raw:
    """A source as delivered, defective records set apart (truth/defects.parquet numbers a
    file's data records from 1)."""
    src = load_catalog().source(source)
    names = {f.header: name for name, f in src.fields.items()}
    defects = pd.read_parquet(county / "truth" / "defects.parquet")
    rows: list[dict[str, Any]] = []
    bad: list[str] = []
    for path in sorted((county / "sources" / source).iterdir()):
        rel = path.relative_to(county).as_posix()
        wrong = set(defects.loc[defects.file == rel, "record"].astype(int))
        for number, record in enumerate(_records(path, src.encoding), 1):
            if number in wrong:
                bad.append(json.dumps(record, ensure_ascii=False))
            else:
                rows.append({names.get(k, k): v for k, v in record.items()})
    return Raw(pd.DataFrame(rows, columns=list(src.fields)), bad)


def tokens(profiled: Profiled) -> Callable[[str], str]:
    """Plain resident ID -> its key in the lake (`id:…`), one tokenizer for many calls."""
    keys = profiled.tokenizer()
    return lambda plain: keys.token(plain, "id")


def by_subject(table: pa.Table) -> dict[str, SimpleNamespace]:
    """Feature rows by subject, NULL as None (pandas would turn a NULL text into NaN)."""
    return {row["subject"]: SimpleNamespace(**row) for row in table.to_pylist()}


def test_sql_is_portable() -> None:
    sqlglot.transpile(
        MODULE.sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
    )


def _register(profiled: Profiled) -> tuple[Raw, pd.DataFrame]:
    reg = read_raw(profiled.county, "population_register")
    return reg, reg.rows.drop_duplicates("resident_id")


def test_planting_and_price_exposure(profiled: Profiled) -> None:
    token = tokens(profiled)
    reg, people = _register(profiled)
    plant = read_raw(profiled.county, "land_planting")
    prices = read_raw(profiled.county, "herb_prices")
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
        if any(prices.touched(last.variety) and f"{m:%Y-%m}" in t for t in prices.bad
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
    firms = read_raw(profiled.county, "enterprise_registry")
    grades = read_raw(profiled.county, "tax_credit_grade")
    licences = read_raw(profiled.county, "electronic_licences")
    reg = firms.rows.dropna(subset=["legal_rep_id"])
    closed = pd.to_datetime(reg.closed_on).dt.date
    reg = reg.assign(live=[c > AS_OF if pd.notna(c) else s == "存续"
                           for c, s in zip(closed, reg.status, strict=True)])  # fmt: skip
    g = grades.rows.assign(year=grades.rows.year.astype(int)).sort_values("year")
    latest_grade = g.groupby("uscc").grade.last()
    lic = licences.rows.assign(expires=pd.to_datetime(licences.rows.expires_on).dt.date)
    lic = lic[(lic.status != "注销") & (lic.expires >= AS_OF)]

    firms_of = reg.groupby("legal_rep_id").uscc.unique()
    reps = [
        p for p in sorted(set(reg.legal_rep_id))
        if not firms.touched(p)
        and not any(grades.touched(u) or licences.touched(u) for u in firms_of[p])
    ]  # fmt: skip
    assert len(reps) > 20
    people = read_raw(profiled.county, "population_register").rows
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


def test_point_in_time_nothing_before_the_copies_arrive(profiled: Profiled) -> None:
    """The copies were observed on 2026-01-05: the day before, the bank knew none of them."""
    people = read_raw(profiled.county, "population_register").rows.resident_id.iloc[:50]
    token = tokens(profiled)
    subjects = [token(p) for p in people]
    before = profiled.features([MODULE], subjects, date(2026, 1, 4)).to_pandas()
    assert before.drop(columns=["subject", "as_of"]).isna().all().all()
    after = profiled.features([MODULE], subjects, AS_OF).to_pandas()
    assert after.household_plants_herbs.notna().all()
    assert after.legal_rep_live_firms.notna().all()
