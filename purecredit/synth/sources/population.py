"""The public-security population register (公安人口基础信息): the authoritative source of
identity, household membership and registered address. Other sources that know a person only
by household number (户号) or by name and phone are resolved to a person through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.addresses import household_addresses
from purecredit.synth.sources import SourceTable
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

RELATION_ZH = {"head": "户主", "spouse": "配偶", "child": "子女", "parent": "父母"}

REGISTER = SourceSpec(
    name="population_register",
    owner="亳州市公安局 / Bozhou Public Security Bureau",
    description="Registered residents: identity, household and registered address.",
    entity="person",
    fmt="parquet",
    headers={
        "resident_id": "公民身份号码",
        "name": "姓名",
        "sex": "性别",
        "birth_date": "出生日期",
        "household_no": "户号",
        "relation": "与户主关系",
        "address": "户籍地址",
        "phone": "联系电话",
    },
    id_columns=("resident_id",),
    date_columns=("birth_date",),
    key_columns=("resident_id",),
    nullable_columns=("phone", "address"),
)


def tables(world: World, rng: np.random.Generator) -> Iterator[SourceTable]:
    p = world.persons
    hh = world.households
    frame = pd.DataFrame(
        {
            "resident_id": p["resident_id"].to_numpy(),
            "name": p["name"].to_numpy(),
            "sex": np.where(p["male"].to_numpy(), "男", "女"),
            "birth_date": p["birth_date"].to_numpy().astype("datetime64[D]"),
            "household_no": hh["household_no"].to_numpy()[p["household_id"].to_numpy()],
            "relation": p["relation"].map(RELATION_ZH).to_numpy(),
            "address": household_addresses(world)[p["household_id"].to_numpy()],
            "phone": p["phone"].replace("", None).to_numpy(),
        }
    )
    yield SourceTable(REGISTER, frame.sort_values("resident_id", ignore_index=True))
