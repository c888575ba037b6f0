"""Reference facts the synthetic county is built from (districts, herbs, loan conventions).

The defaults ship with the package (``data/bozhou.yaml``, a copy of the project's shared
reference) so that a fresh install builds a county with no other files; ``load_reference``
takes another path so a user can model a different county.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class District:
    code: str
    name: str
    name_en: str
    share: float
    urban: bool


@dataclass(frozen=True)
class Herb:
    name: str
    name_en: str
    harvest: tuple[int, ...]
    growth_years: int
    price_low: float
    price_high: float
    cycle_years: int
    famous: bool


@dataclass(frozen=True)
class RatePoint:
    start: date
    rate: float


@dataclass(frozen=True)
class Reference:
    city_code: str
    districts: tuple[District, ...]
    herbs: tuple[Herb, ...]
    plot_mu: tuple[float, float]
    yield_kg_per_mu: tuple[float, float]
    cost_per_mu: tuple[float, float]
    lpr_1y: tuple[RatePoint, ...]
    five_category_dpd: dict[str, int]
    penalty_markup: tuple[float, float]
    raw: dict[str, Any]

    def lpr_1y_at(self, day: date) -> float:
        """The 1-year Loan Prime Rate in force on ``day`` (the earliest known before history)."""
        rate = self.lpr_1y[0].rate
        for point in self.lpr_1y:
            if point.start <= day:
                rate = point.rate
        return rate


def _names(path: Path | None) -> dict[str, Any]:
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else files("purecredit.synth").joinpath("data/bozhou.yaml").read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def load_reference(path: Path | None = None) -> Reference:
    """Load the county's reference facts; ``None`` means the packaged Bozhou defaults."""
    raw = _names(path)
    region, farming, banking = raw["region"], raw["farming"], raw["banking"]
    districts = tuple(
        District(d["code"], d["name"], d["name_en"], float(d["share"]), bool(d.get("urban")))
        for d in region["districts"]
    )
    herbs = tuple(
        Herb(
            h["name"],
            h["name_en"],
            tuple(h["harvest"]),
            int(h["growth_years"]),
            float(h["price"][0]),
            float(h["price"][1]),
            int(h["cycle_years"]),
            bool(h.get("bozhou_famous")),
        )
        for h in raw["herbs"]
    )
    lpr = tuple(RatePoint(p["from"], float(p["rate"])) for p in banking["lpr_1y"])
    return Reference(
        city_code=str(region["city"]["code"]),
        districts=districts,
        herbs=herbs,
        plot_mu=(
            float(farming["plot_mu_per_household"][0]),
            float(farming["plot_mu_per_household"][1]),
        ),
        yield_kg_per_mu=tuple(map(float, farming["yield_kg_dried_per_mu"])),  # type: ignore[arg-type]
        cost_per_mu=tuple(map(float, farming["cost_cny_per_mu_per_year"])),  # type: ignore[arg-type]
        lpr_1y=lpr,
        five_category_dpd={k: int(v) for k, v in banking["five_category_dpd"].items()},
        penalty_markup=(
            float(banking["penalty_markup_on_overdue"][0]),
            float(banking["penalty_markup_on_overdue"][1]),
        ),
        raw=raw,
    )


def load_names() -> dict[str, Any]:
    """Surnames with weights, given-name and place characters (``data/names.yaml``)."""
    text = files("purecredit.synth").joinpath("data/names.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded
