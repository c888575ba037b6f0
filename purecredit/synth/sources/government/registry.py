"""Market regulation: the enterprise register and the shareholders of companies and
cooperatives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.addresses import household_addresses, place_addresses
from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import (
    _dates,
    _first_month,
    _text,
    days_in,
)
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

SAMR = "亳州市市场监督管理局 / Bozhou Administration for Market Regulation"
KIND_ZH = {
    "sole_trader": "个体工商户",
    "company": "有限责任公司",
    "cooperative": "农民专业合作社",
    "collective": "农村集体经济组织",
}
# Industry names, after GB/T 4754-2017 where it has one.
INDUSTRY_ZH = {
    "planting": "中草药种植",
    "processing": "中药饮片加工",
    "trading": "中药批发",
    "retail": "其他综合零售",
    "catering": "正餐服务",
    "services": "其他居民服务业",
    "manufacturing": "其他未列明制造业",
    "logistics": "道路货物运输",
    "collective": "集体资产经营管理",
}

ENTERPRISES = SourceSpec(
    name="enterprise_registry",
    owner=SAMR,
    description="Registered market entities: type, legal representative, capital, status.",
    entity="enterprise",
    fmt="csv",
    encoding="gbk",
    headers={
        "uscc": "统一社会信用代码",
        "name": "企业名称",
        "entity_type": "市场主体类型",
        "legal_rep": "法定代表人",
        "legal_rep_id": "法定代表人身份证件号码",
        "industry": "所属行业",
        "registered_capital": "注册资本(万元)",
        "registered_on": "成立日期",
        "status": "登记状态",
        "closed_on": "注销/吊销日期",
        "address": "住所",
    },
    id_columns=("legal_rep_id",),
    uscc_columns=("uscc",),
    date_columns=("registered_on", "closed_on"),
    key_columns=("uscc",),
    nullable_columns=("legal_rep_id", "registered_capital", "closed_on", "address"),
)
SHAREHOLDERS = SourceSpec(
    name="enterprise_shareholders",
    owner=SAMR,
    description="Shareholders of companies and cooperatives and their subscribed capital.",
    entity="enterprise",
    fmt="csv",
    encoding="gbk",
    headers={
        "uscc": "统一社会信用代码",
        "holder_type": "股东类型",
        "holder_name": "股东名称",
        "holder_id": "股东身份证件号码",
        "holder_uscc": "股东统一社会信用代码",
        "share_pct": "持股比例(%)",
        "subscribed": "认缴出资额(万元)",
    },
    id_columns=("holder_id",),
    uscc_columns=("uscc", "holder_uscc"),
    key_columns=("uscc", "holder_name"),
    nullable_columns=("holder_id", "holder_uscc", "subscribed"),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The register and its shareholders, as delivered after month `last`."""
    yield _registry(world, rng, last)
    yield _shareholders(world, last)


def _registry(world: World, rng: np.random.Generator, last: int) -> SourceTable:
    """Status is as of the last month: 注销 or, mostly after abnormal operation, 吊销."""
    ent, p, cal = world.enterprises, world.persons, world.cal
    n = ent.shape[0]
    rep = ent["legal_rep_pid"].to_numpy()
    closed = _first_month(world, "firm", "deregistration", n)
    abnormal = _first_month(world, "firm", "abnormal", n) < closed
    revoked = rng.random(n) < np.where(abnormal, 0.6, 0.15)
    is_closed = closed <= last
    home = household_addresses(world)[p["household_id"].to_numpy()[rep]]
    sole = ent["kind"].to_numpy() == "sole_trader"
    frame = pd.DataFrame(
        {
            "uscc": ent["uscc"].to_numpy(),
            "name": ent["name"].to_numpy(),
            "entity_type": ent["kind"].map(KIND_ZH).to_numpy(),
            "legal_rep": p["name"].to_numpy()[rep],
            "legal_rep_id": p["resident_id"].to_numpy()[rep],
            "industry": ent["industry"].map(INDUSTRY_ZH).to_numpy(),
            "registered_capital": np.round(ent["registered_capital"].to_numpy() / 1e4, 2),
            "registered_on": days_in(rng, cal, ent["registered_month"].to_numpy()),
            "status": np.where(is_closed, np.where(revoked, "吊销", "注销"), "存续"),
            "closed_on": _dates(days_in(rng, cal, np.minimum(closed, cal.total)), is_closed),
            "address": np.where(
                sole, home, place_addresses(world, rng, ent["village_code"].to_numpy())
            ),
        }
    )
    frame = frame[ent["registered_month"].to_numpy() <= last]
    return SourceTable(ENTERPRISES, frame.sort_values("uscc", ignore_index=True))


def _shareholders(world: World, last: int) -> SourceTable:
    ent, p = world.enterprises, world.persons
    by_holder = world.shareholders.groupby(["eid", "holder_type", "holder_id"], as_index=False)
    sh = by_holder["share_pct"].sum()
    eid = sh["eid"].to_numpy()
    sh = sh[ent["registered_month"].to_numpy()[eid] <= last]
    eid, holder = sh["eid"].to_numpy(), sh["holder_id"].to_numpy()
    person = sh["holder_type"].to_numpy() == "person"
    pid, firm = np.where(person, holder, 0), np.where(person, 0, holder)
    share = np.round(sh["share_pct"].to_numpy(), 2)
    frame = pd.DataFrame(
        {
            "uscc": ent["uscc"].to_numpy()[eid],
            "holder_type": np.where(person, "自然人", "企业法人"),
            "holder_name": np.where(
                person, p["name"].to_numpy()[pid], ent["name"].to_numpy()[firm]
            ),
            "holder_id": _text(p["resident_id"].to_numpy()[pid], person),
            "holder_uscc": _text(ent["uscc"].to_numpy()[firm], ~person),
            "share_pct": share,
            "subscribed": np.round(
                ent["registered_capital"].to_numpy()[eid] / 1e4 * share / 100, 2
            ),
        }
    )
    frame = frame.sort_values(["uscc", "share_pct", "holder_name"], ascending=[True, False, True])
    return SourceTable(SHAREHOLDERS, frame.reset_index(drop=True))
