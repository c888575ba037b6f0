"""Government sources of the county: market registration, licences, courts, real estate, civil
affairs, medical insurance and social security, each the way its agency keeps it.

Every draw covers the whole simulation and the cut to history comes last (`_last`), so a later
delivery covering more months only adds records and never changes delivered ones. Facts that
two sources must agree on (household addresses, spouses from outside the county) come from
generators seeded by the world rather than by the package's `rng`.

One module per agency; each exposes `tables(world, rng, last)` for its sources, and this
package chains them in a fixed order: the order in which they draw from the one `rng`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from purecredit.synth.sources import SourceTable
from purecredit.synth.sources.government import (
    civil,
    courts,
    estate,
    health,
    licences,
    pension,
    registry,
)
from purecredit.synth.sources.government._shared import days_in, month_starts
from purecredit.synth.sources.government.civil import outside_spouses
from purecredit.synth.sources.government.courts import CIRCUMSTANCES
from purecredit.synth.sources.government.health import DISEASES
from purecredit.synth.sources.government.licences import GSP_ABOLISHED, LICENCE_TYPES
from purecredit.synth.sources.government.pension import RESIDENT_GRADES
from purecredit.synth.sources.government.registry import KIND_ZH

if TYPE_CHECKING:
    from purecredit.synth.world import World

__all__ = [
    "CIRCUMSTANCES",
    "DISEASES",
    "GSP_ABOLISHED",
    "KIND_ZH",
    "LICENCE_TYPES",
    "RESIDENT_GRADES",
    "days_in",
    "month_starts",
    "outside_spouses",
    "tables",
]


def tables(
    world: World, rng: np.random.Generator, last_month: int | None = None
) -> Iterator[SourceTable]:
    """The government sources up to `last_month` (default: the study month)."""
    last = _last(world, last_month)
    yield from registry.tables(world, rng, last)
    yield from licences.tables(world, rng, last)
    yield from courts.tables(world, rng, last)
    yield from estate.tables(world, rng, last)
    yield from civil.tables(world, rng, last)
    yield from health.tables(world, rng, last)
    yield from pension.tables(world, rng, last)


def _last(world: World, last_month: int | None) -> int:
    """The one place where history is cut: nothing after this month is delivered."""
    return world.cal.study_month if last_month is None else last_month
