"""Courts: enforcement cases and the list of dishonest judgment debtors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import _courts, _dates, _num, _text, days_in
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

COURT = "亳州市中级人民法院 / Bozhou Intermediate People's Court"
# Supreme People's Court, Provisions on Publishing the List of Dishonest Judgment Debtors
# (2017), art. 1: the six circumstances, with rough shares.
CIRCUMSTANCES = {
    "有履行能力而拒不履行生效法律文书确定义务": 0.55,
    "以伪造证据、暴力、威胁等方法妨碍、抗拒执行": 0.03,
    "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行": 0.07,
    "违反财产报告制度": 0.2,
    "违反限制消费令": 0.1,
    "无正当理由拒不履行执行和解协议": 0.05,
}
# Courts outside the county that sue county debtors (case-number code, name).
OUTSIDE_COURTS = np.array(
    [
        ["皖0104", "合肥市蜀山区人民法院"],
        ["皖0102", "合肥市瑶海区人民法院"],
        ["皖1202", "阜阳市颍州区人民法院"],
        ["豫1602", "周口市川汇区人民法院"],
    ]
)

ENFORCEMENT = SourceSpec(
    name="court_enforcement",
    owner=COURT,
    description="Enforcement cases (执行案件) against county people and firms, one per case.",
    entity="party",
    fmt="jsonl",
    headers={
        "case_no": "案号",
        "debtor_name": "被执行人姓名/名称",
        "debtor_id": "被执行人身份证号码",
        "debtor_uscc": "被执行人统一社会信用代码",
        "filed_on": "立案日期",
        "amount": "执行标的(元)",
        "court": "执行法院",
        "status": "案件状态",
        "closed_on": "结案日期",
    },
    id_columns=("debtor_id",),
    uscc_columns=("debtor_uscc",),
    date_columns=("filed_on", "closed_on"),
    key_columns=("case_no",),
    nullable_columns=("debtor_id", "debtor_uscc", "closed_on"),
)
DISHONEST = SourceSpec(
    name="dishonest_debtors",
    owner=COURT,
    description="List of dishonest judgment debtors (失信被执行人名单) and removals from it.",
    entity="party",
    fmt="jsonl",
    headers={
        "case_no": "案号",
        "debtor_name": "被执行人姓名/名称",
        "debtor_id": "身份证号码",
        "debtor_uscc": "统一社会信用代码",
        "legal_rep": "法定代表人或者负责人姓名",
        "court": "执行法院",
        "published_on": "发布时间",
        "circumstance": "失信被执行人行为具体情形",
        "removed_on": "移除日期",
    },
    id_columns=("debtor_id",),
    uscc_columns=("debtor_uscc",),
    date_columns=("published_on", "removed_on"),
    key_columns=("case_no",),
    nullable_columns=("debtor_id", "debtor_uscc", "legal_rep", "removed_on"),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """Enforcement cases and dishonest debtors, as delivered after month `last`: both are
    views of one set of cases drawn over the whole simulation."""
    cases = _cases(world, rng)
    yield _enforcement(world, cases, last)
    yield _dishonest(world, rng, cases, last)


def _parties(world: World, firm: np.ndarray, idx: np.ndarray) -> pd.DataFrame:
    """Name, resident ID or USCC, district and legal representative of people and firms."""
    ent, p = world.enterprises, world.persons
    pid, eid = np.where(firm, 0, idx), np.where(firm, idx, 0)
    rep = ent["legal_rep_pid"].to_numpy()[eid]
    home = world.households["district_code"].to_numpy()[p["household_id"].to_numpy()[pid]]
    pname, ename = p["name"].to_numpy()[pid], ent["name"].to_numpy()[eid]
    return pd.DataFrame(
        {
            "debtor_name": np.where(firm, ename, pname),
            "debtor_id": _text(p["resident_id"].to_numpy()[pid], ~firm),
            "debtor_uscc": _text(ent["uscc"].to_numpy()[eid], firm),
            "legal_rep": _text(p["name"].to_numpy()[rep], firm),
            "district": np.where(firm, ent["district_code"].to_numpy()[eid], home),
        }
    )


def _cases(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Every enforcement case over the simulation, one per enforcement event, filed in the
    debtor's district court. Debtors later listed as dishonest mostly end 终结本次执行 (no
    assets found); the others are paid."""
    ev = world.events[world.events["kind"] == "enforcement"]
    firm, idx = ev["entity"].to_numpy() == "firm", ev["idx"].to_numpy()
    n = idx.size
    cases = _parties(world, firm, idx).assign(firm=firm, idx=idx, month=ev["month"].to_numpy())
    cases["code"], cases["court"] = _courts(world, cases["district"].to_numpy())
    cases["filed_on"] = days_in(rng, world.cal, cases["month"].to_numpy())
    median = np.where(firm, np.log(400_000.0), np.log(60_000.0))
    cases["amount"] = np.round(np.exp(rng.normal(median, 0.9)), 2)
    listed = world.events[world.events["kind"] == "dishonest"]
    has_listing = pd.MultiIndex.from_arrays([ev["entity"], idx]).isin(
        pd.MultiIndex.from_arrays([listed["entity"], listed["idx"]])
    )
    cases["close_month"] = cases["month"].to_numpy() + rng.integers(2, 25, n)
    cases["closed"] = days_in(rng, world.cal, cases["close_month"].to_numpy())
    stuck = rng.random(n) < np.where(has_listing, 0.75, 0.35)
    cases["outcome"] = np.where(stuck, "终结本次执行", "执行完毕")
    cases = cases.sort_values(["filed_on", "firm", "idx"], kind="stable", ignore_index=True)
    year = cases["filed_on"].dt.year.astype(str)
    serial = pd.Series(rng.integers(1, 30, n)).groupby([year, cases["code"]]).cumsum()
    cases["case_no"] = "(" + year + ")" + cases["code"] + "执" + serial.astype(str) + "号"
    return cases


def _enforcement(world: World, cases: pd.DataFrame, last: int) -> SourceTable:
    cases = cases[cases["month"] <= last]
    done = cases["close_month"].to_numpy() <= last
    frame = cases.assign(
        status=np.where(done, cases["outcome"], "执行中"),
        closed_on=cases["closed"].where(done),
    )
    return SourceTable(ENFORCEMENT, frame[list(ENFORCEMENT.columns)].reset_index(drop=True))


def _dishonest(
    world: World, rng: np.random.Generator, cases: pd.DataFrame, last: int
) -> SourceTable:
    """Each listing names the debtor's latest county case filed by then; a listing before any
    county case comes from a court elsewhere (the creditor sued where it sits). About half are
    removed 3-30 months later, once the debtor pays."""
    ev = world.events[world.events["kind"] == "dishonest"]
    firm, idx, n = ev["entity"].to_numpy() == "firm", ev["idx"].to_numpy(), ev.shape[0]
    out = _parties(world, firm, idx).assign(firm=firm, idx=idx, month=ev["month"].to_numpy())
    out["published_on"] = pd.Series(days_in(rng, world.cal, out["month"].to_numpy()))
    out["row"] = np.arange(n)
    out = pd.merge_asof(
        out.sort_values("published_on"),
        cases[["firm", "idx", "filed_on", "case_no", "court"]].sort_values("filed_on"),
        left_on="published_on",
        right_on="filed_on",
        by=["firm", "idx"],
    ).sort_values("row", ignore_index=True)
    pick = OUTSIDE_COURTS[rng.integers(0, len(OUTSIDE_COURTS), n)]
    year = out["published_on"].dt.year.astype(str)
    serial = _num(rng.permutation(n) + 1000)
    elsewhere = "(" + year + ")" + pick[:, 0].astype(object) + "执" + serial + "号"
    away = out["case_no"].isna().to_numpy()
    out["case_no"] = out["case_no"].where(~away, elsewhere)
    out["court"] = out["court"].where(~away, pick[:, 1])
    shares = np.array(list(CIRCUMSTANCES.values()))
    out["circumstance"] = rng.choice(list(CIRCUMSTANCES), n, p=shares / shares.sum())
    removal = out["month"].to_numpy() + rng.integers(3, 31, n)
    removed = (rng.random(n) < 0.55) & (removal <= last)
    out["removed_on"] = _dates(days_in(rng, world.cal, removal), removed)
    out = out[out["month"] <= last].drop_duplicates("case_no")
    out = out.sort_values(["published_on", "case_no"], ignore_index=True)
    return SourceTable(DISHONEST, out[list(DISHONEST.columns)])
