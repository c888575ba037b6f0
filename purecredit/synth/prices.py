"""Bozhou herb prices by variety and month: a multi-year boom-and-bust cycle, a seasonal dip
when the harvest comes to market, noise, and the occasional sharp fall that early warnings
should catch. Farmers' and traders' fortunes, and so their risk, follow these prices.
"""

from __future__ import annotations

import numpy as np

from purecredit.synth.calendar import Calendar
from purecredit.synth.reference import Reference

SHARP_FALL_MONTHLY_P = 0.01  # chance per variety and month of a sudden 15-30% fall


def herb_prices(rng: np.random.Generator, ref: Reference, cal: Calendar) -> np.ndarray:
    """Wholesale price in CNY/kg of dried product, shape (varieties, months)."""
    t = np.arange(cal.total)
    months = cal.calendar_months()
    out = np.empty((len(ref.herbs), cal.total))
    for v, herb in enumerate(ref.herbs):
        mid = np.sqrt(herb.price_low * herb.price_high)
        swing = 0.8 * np.log(herb.price_high / herb.price_low) / 2
        phase = rng.uniform(0, 2 * np.pi)
        cycle = swing * np.sin(2 * np.pi * t / (12 * herb.cycle_years) + phase)
        harvest = np.isin(months, herb.harvest)
        before = np.isin(months, [(m - 2) % 12 + 1 for m in herb.harvest])
        seasonal = np.where(harvest, -0.08, np.where(before, 0.05, 0.0))
        noise = np.zeros(cal.total)
        shocks = rng.normal(0, 0.03, cal.total)
        falls = (rng.random(cal.total) < SHARP_FALL_MONTHLY_P) * rng.uniform(
            -0.30, -0.15, cal.total
        )
        for k in range(1, cal.total):
            noise[k] = 0.85 * noise[k - 1] + shocks[k] + falls[k]
        out[v] = np.round(mid * np.exp(cycle + seasonal + noise), 2)
    return out


def price_deviation(prices: np.ndarray) -> np.ndarray:
    """Log price against the variety's own long-run level: what drives growers' margins."""
    logp: np.ndarray = np.log(prices)
    deviation: np.ndarray = logp - logp.mean(axis=1, keepdims=True)
    return deviation
