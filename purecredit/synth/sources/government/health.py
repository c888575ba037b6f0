"""Medical insurance: serious-illness insurance settlements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government._shared import _num, days_in, month_starts
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

# Serious-illness categories: share of episodes, median cost of one claim (CNY).
DISEASES = {
    "恶性肿瘤": (0.5, 70_000.0),
    "尿毒症透析": (0.15, 45_000.0),
    "器官移植": (0.03, 220_000.0),
    "重度精神疾病": (0.1, 30_000.0),
    "急性心肌梗死": (0.1, 60_000.0),
    "脑卒中": (0.12, 50_000.0),
}
HOSPITALS = np.array(
    ["亳州市人民医院", "亳州市中医院", "安徽医科大学第一附属医院", "中国科学技术大学附属第一医院"]
)
# Anhui serious-illness insurance, roughly: basic insurance pays about 55%, then 60% of the
# remaining eligible cost above a 15,000 CNY deductible.
ILLNESS_DEDUCTIBLE, ILLNESS_SHARE, BASIC_SHARE = 15_000.0, 0.6, 0.55

MEDICAL = SourceSpec(
    name="medical_serious_illness",
    owner="亳州市医疗保障局 / Bozhou Healthcare Security Administration",
    description=(
        "Serious-illness insurance (大病保险) settlements. Sensitive personal information "
        "(PIPL art. 28): use is restricted downstream."
    ),
    entity="person",
    fmt="jsonl",
    headers={
        "claim_no": "结算单据号",
        "name": "参保人姓名",
        "resident_id": "公民身份号码",
        "scheme": "参保险种",
        "disease": "病种类别",
        "hospital": "定点医疗机构",
        "admitted_on": "入院日期",
        "settled_on": "结算日期",
        "total_cost": "医疗总费用(元)",
        "reimbursed": "大病保险支付金额(元)",
    },
    id_columns=("resident_id",),
    date_columns=("admitted_on", "settled_on"),
    key_columns=("claim_no",),
)


def tables(world: World, rng: np.random.Generator, last: int) -> Iterator[SourceTable]:
    """The settlements, as delivered after month `last`."""
    yield _medical(world, rng, last)


def _medical(world: World, rng: np.random.Generator, last: int) -> SourceTable:
    """One to four settlements per illness episode, a month or three apart."""
    ev = world.events[world.events["kind"] == "illness"]
    p, cal, n = world.persons, world.cal, ev.shape[0]
    shares, medians = np.array(list(DISEASES.values())).T
    disease = rng.choice(len(DISEASES), n, p=shares / shares.sum())
    claims = rng.integers(1, 5, n)
    episode = np.repeat(np.arange(n), claims)
    first = np.repeat(np.cumsum(claims) - claims, claims)
    gap = np.where(np.arange(episode.size) == first, 0, rng.integers(1, 4, episode.size))
    month = ev["month"].to_numpy()[episode] + np.cumsum(gap) - np.cumsum(gap)[first]
    admitted = days_in(rng, cal, month)
    settled = admitted + rng.integers(3, 30, episode.size) + rng.integers(0, 15, episode.size)
    cost = np.round(medians[disease[episode]] * np.exp(rng.normal(0, 0.5, episode.size)), 2)
    pid = ev["idx"].to_numpy()[episode]
    year = _num(admitted.astype("datetime64[Y]").astype(int) + 1970)
    serial = pd.Series(_num(rng.permutation(episode.size) + 1)).str.zfill(8).to_numpy()
    eligible = cost * (1 - BASIC_SHARE) - ILLNESS_DEDUCTIBLE
    frame = pd.DataFrame(
        {
            "claim_no": "DBBX" + year + serial,
            "name": p["name"].to_numpy()[pid],
            "resident_id": p["resident_id"].to_numpy()[pid],
            "scheme": np.where(
                p["role"].to_numpy()[pid] == "salaried", "职工基本医疗保险", "城乡居民基本医疗保险"
            ),
            "disease": np.array(list(DISEASES))[disease[episode]],
            "hospital": rng.choice(HOSPITALS, episode.size, p=[0.4, 0.25, 0.25, 0.1]),
            "admitted_on": admitted,
            "settled_on": settled,
            "total_cost": cost,
            "reimbursed": np.round(ILLNESS_SHARE * np.maximum(eligible, 0), 2),
        }
    )
    frame = frame[settled < month_starts(cal, np.array([last + 1]))[0]]
    return SourceTable(MEDICAL, frame.sort_values(["settled_on", "claim_no"], ignore_index=True))
