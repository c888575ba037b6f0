"""Street addresses: a household's is a fact of the world, the same in every source that
records it (population register, property registry, power bills, the bank's KYC), so it is
drawn once here from a generator of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from purecredit.synth.world import World


def place_addresses(
    world: World, rng: np.random.Generator, village_codes: np.ndarray
) -> np.ndarray:
    """Street addresses in the given villages: 组 and house number in a village, building,
    entrance and flat in an urban community."""
    v = world.pop.villages.set_index("village_code").loc[village_codes]
    n = len(village_codes)
    prefix = "安徽省亳州市" + v["district_name"] + v["town_name"] + v["village_name"]
    rural = _text_of(rng.integers(1, 13, n)) + "组" + _text_of(rng.integers(1, 90, n)) + "号"
    flat = rng.integers(1, 19, n) * 100 + rng.integers(1, 5, n)
    urban = _text_of(rng.integers(1, 40, n)) + "栋" + _text_of(rng.integers(1, 5, n)) + "单元"
    urban = urban + _text_of(flat) + "室"
    out: np.ndarray = prefix.to_numpy() + np.where(v["urban"].to_numpy(), urban, rural)
    return out.astype(str)


def household_addresses(world: World) -> np.ndarray:
    """Address of every household, the same in the property registry and the power company's
    bills (a generator seeded by the world, so both modules draw it alike)."""
    rng = np.random.default_rng([world.config.seed, 0xADD2E55])
    return place_addresses(world, rng, world.households["village_code"].to_numpy())


def _text_of(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(str).astype(object)
