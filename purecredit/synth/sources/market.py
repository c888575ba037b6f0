"""Bozhou herb-market prices (亳州中药材交易中心): monthly price by variety, the signal for
growers' and traders' income and for the sharp-fall warning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.sources import SourceTable, month_rng
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

PRICES = SourceSpec(
    name="herb_prices",
    owner="亳州中药材交易中心 / Bozhou TCM Herb Trading Centre",
    description="Monthly wholesale price of each herb variety, CNY per kg of dried product.",
    entity="market",
    fmt="csv",
    headers={
        "variety": "品种",
        "grade": "规格",
        "month": "月份",
        "price_avg": "均价(元/公斤)",
        "price_high": "最高价",
        "price_low": "最低价",
    },
    date_columns=("month",),
    key_columns=("variety", "month"),
    nullable_columns=("price_high", "price_low"),
)


def tables(
    world: World, rng: np.random.Generator, last_month: int | None = None
) -> Iterator[SourceTable]:
    last = world.cal.study_month if last_month is None else last_month
    months = np.arange(last + 1)
    names = np.array([h.name for h in world.ref.herbs])
    v, t = np.meshgrid(np.arange(names.size), months, indexing="ij")
    avg = world.prices[:, : last + 1].ravel()
    head = min(last, world.cal.study_month)  # history: one draw, variety by variety
    spread = rng.uniform(0.03, 0.12, (names.size, head + 1))
    later = [
        month_rng(world, PRICES.name, t).uniform(0.03, 0.12, names.size)
        for t in range(head + 1, last + 1)
    ]
    spread = np.column_stack([spread, *later]).ravel()
    frame = pd.DataFrame(
        {
            "variety": names[v.ravel()],
            "grade": "统货",
            "month": [world.cal.month_start(int(m)) for m in t.ravel()],
            "price_avg": avg,
            "price_high": np.round(avg * (1 + spread), 2),
            "price_low": np.round(avg * (1 - spread), 2),
        }
    )
    yield SourceTable(PRICES, frame.sort_values(["month", "variety"], ignore_index=True))
