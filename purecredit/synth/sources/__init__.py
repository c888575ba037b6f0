"""Views of the simulated world as each owner delivers it: one module per owner group.

Each module exposes ``tables(world, rng) -> Iterator[SourceTable]``. A table is clean, with
internal ASCII column names; the delivery layer renders, breaks and writes it. Modules get
their own random generator so adding a source never changes another's bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from purecredit.synth.sourcespec import SourceSpec


@dataclass(frozen=True)
class Conflict:
    """Records where a source disagrees, on purpose, with the authoritative source of an item
    (DESIGN: "several sources cross-check"); counted into the manifest."""

    item: str
    authoritative: str
    other: str
    count: int


@dataclass(frozen=True)
class SourceTable:
    spec: SourceSpec
    frame: pd.DataFrame
    conflicts: tuple[Conflict, ...] = ()


if False:  # pragma: no cover - typing only, avoids an import cycle with world
    from purecredit.synth.world import World

Extractor = Callable[["World", np.random.Generator], Iterator[SourceTable]]


def repeated(
    values: np.ndarray | ExtensionArray, rows: np.ndarray, *, fill: bool = False
) -> pd.Categorical:
    """`values[rows]` as a categorical, each distinct value held once: for text that repeats
    row after row, such as a household's address on every monthly bill. The delivery keeps it
    dictionary-encoded until each file is written, so the bytes are those of plain text.

    Rows index like numpy (-1 is the last value), or with `fill`, -1 is a missing value.
    """
    codes, uniques = pd.Series(values, copy=False).factorize()
    picked = codes.astype(np.int32)[rows]
    if fill:
        picked[rows < 0] = -1
    dtype = pd.CategoricalDtype(pd.Index(uniques))
    result: pd.Categorical = pd.Categorical.from_codes(picked, dtype=dtype)
    return result


def month_rng(world: World, source: str, month: int) -> np.random.Generator:
    """The draws of ``source`` for one month after the study month.

    History draws from the package's generator in a fixed order, which fixes the default
    county's bytes; a month past the study month draws from its own generator instead, so
    what a later delivery shows for a month never depends on how many months are delivered,
    and the history's draws stay exactly those of the county.
    """
    return np.random.default_rng([world.config.seed, zlib.crc32(source.encode("utf-8")), month])
