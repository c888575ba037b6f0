"""The electronic licence library: herb, drug-trading, GSP and food licences."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import _first_month, _num, days_in, month_starts
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

# Licence type, issuer, validity in months. GSP certification was abolished by the revised
# Drug Administration Law (in force 2019-12-01): certificates then held ran to their expiry.
LICENCE_TYPES = {
    "herb": ("中药材经营备案凭证", "亳州市市场监督管理局", 36),
    "drug": ("药品经营许可证", "安徽省药品监督管理局", 60),
    "gsp": ("药品经营质量管理规范认证证书", "安徽省药品监督管理局", 60),
    "food": ("食品经营许可证", "亳州市市场监督管理局", 60),
}
GSP_ABOLISHED = date(2019, 12, 1)

LICENCES = SourceSpec(
    name="electronic_licences",
    owner="亳州市数据资源管理局 / Bozhou Data Resources Administration",
    description="Electronic licence library: herb, drug, GSP and food licences, with renewals.",
    entity="enterprise",
    fmt="xlsx",
    headers={
        "licence_no": "证照编号",
        "licence_type": "证照名称",
        "holder_uscc": "持证主体统一社会信用代码",
        "holder_name": "持证主体名称",
        "issuer": "发证机关",
        "issued_on": "发证日期",
        "expires_on": "有效期截止日期",
        "status": "证照状态",
    },
    uscc_columns=("holder_uscc",),
    date_columns=("issued_on", "expires_on"),
    key_columns=("licence_no",),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The licence library, as delivered after month `last`."""
    yield _licences(world, rng, last)


def _licence_holders(ent: pd.DataFrame) -> dict[str, np.ndarray]:
    """Who holds which licence: herb traders a herb record, TCM companies a drug-trading
    licence and a GSP certificate, shops and eateries a food licence."""
    kind, industry = ent["kind"].to_numpy(), ent["industry"].to_numpy()
    tcm_firm = (kind == "company") & np.isin(industry, ["processing", "trading"])
    return {
        "herb": (kind == "sole_trader") & (industry == "trading"),
        "drug": tcm_firm,
        "gsp": tcm_firm,
        "food": (kind == "sole_trader") & np.isin(industry, ["retail", "catering"]),
    }


def _licences(world: World, rng: np.random.Generator, last: int) -> SourceTable:
    """A chain of licences per holder: each renewed when it expires (a fifth of renewals a few
    months late), none after deregistration; the library holds those in force since month 0."""
    ent, cal = world.enterprises, world.cal
    closed = _first_month(world, "firm", "deregistration", ent.shape[0])
    end = month_starts(cal, np.array([last + 1]))[0] - np.timedelta64(1, "D")
    parts = []
    for kind, held in _licence_holders(ent).items():
        label, issuer, valid = LICENCE_TYPES[kind]
        eid = np.flatnonzero(held)
        first = ent["registered_month"].to_numpy()[eid] + rng.integers(0, 3, eid.size)
        k = int(np.ceil((cal.total - first.min()) / valid)) + 1 if eid.size else 1
        late = np.where(rng.random((eid.size, k)) < 0.2, rng.integers(1, 5, (eid.size, k)), 0)
        late[:, 0] = 0
        issue = first[:, None] + valid * np.arange(k)[None, :] + np.cumsum(late, axis=1)
        stop = np.minimum(closed[eid], cal.total)
        if kind == "gsp":
            stop = np.minimum(stop, cal.month_of(GSP_ABOLISHED))
        row, col = np.nonzero(issue < stop[:, None])
        issued = days_in(rng, cal, issue[row, col])
        expires = pd.Series(issued) + pd.DateOffset(months=valid) - pd.Timedelta(days=1)
        parts.append(
            pd.DataFrame(
                {
                    "eid": eid[row],
                    "month": issue[row, col],
                    "licence_type": label,
                    "issuer": issuer,
                    "issued_on": issued,
                    "expires_on": expires.to_numpy().astype("datetime64[D]"),
                    "licence_no": _licence_numbers(rng, kind, issued, ent, eid[row]),
                }
            )
        )
    lic = pd.concat(parts, ignore_index=True)
    eid = lic["eid"].to_numpy()
    ends = lic["expires_on"].to_numpy()
    # A licence still running when its holder is deregistered is cancelled with it.
    cancelled = (closed[eid] <= last) & (ends >= month_starts(cal, np.minimum(closed[eid], last)))
    lic["status"] = np.where(cancelled, "注销", np.where(ends < end, "过期", "有效"))
    lic["holder_uscc"] = ent["uscc"].to_numpy()[eid]
    lic["holder_name"] = ent["name"].to_numpy()[eid]
    keep = (lic["month"].to_numpy() <= last) & (ends >= month_starts(cal, np.array([0]))[0])
    lic = lic[keep].sort_values(["issued_on", "licence_no"], ignore_index=True)
    return SourceTable(LICENCES, lic[list(LICENCES.columns)])


def _licence_numbers(
    rng: np.random.Generator, kind: str, issued: np.ndarray, ent: pd.DataFrame, eid: np.ndarray
) -> np.ndarray:
    """Numbers in each licence's usual form, with serials unique within the kind."""
    serial = pd.Series(_num(rng.permutation(eid.size) + 1))
    year = pd.Series(_num(issued.astype("datetime64[Y]").astype(int) + 1970))
    district = pd.Series(ent["district_code"].to_numpy()[eid])
    numbers = {
        "herb": "亳药材备" + year + serial.str.zfill(6),
        "drug": "皖AA558" + serial.str.zfill(4),
        "gsp": "A-AH-" + year.str[2:] + "-" + serial.str.zfill(4),
        "food": "JY1" + district + serial.str.zfill(7),
    }
    return numbers[kind].to_numpy().astype(str)
