"""State of a person at a given month, derived from the world's events (marital status)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from purecredit.synth.world import World

SINGLE, MARRIED, DIVORCED = 0, 1, 2
MARITAL_ZH = np.array(["未婚", "已婚", "离婚"])


def marital_status(world: World, month: int) -> np.ndarray:
    """Status code per person at the end of ``month``: couples living together at month 0 are
    married; a marriage event marries a person; a divorce event divorces the couple."""
    status = np.where(world.spouse >= 0, MARRIED, SINGLE)
    rel = world.persons["relation"].to_numpy()
    status = np.where(
        (status == SINGLE) & (world.persons["age"].to_numpy() > 45) & (rel == "head"),
        DIVORCED,
        status,
    )
    ev = world.events
    ev = ev[
        (ev["entity"] == "person")
        & ev["kind"].isin(["marriage", "divorce"])
        & (ev["month"] <= month)
    ]
    for kind, idx in zip(ev["kind"].to_numpy(), ev["idx"].to_numpy(), strict=True):
        if kind == "marriage":
            status[idx] = MARRIED
        else:
            status[idx] = DIVORCED
            if world.spouse[idx] >= 0:
                status[world.spouse[idx]] = DIVORCED
    return status
