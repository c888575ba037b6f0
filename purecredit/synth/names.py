"""Plausible Chinese names, phone numbers and place names, drawn in bulk.

Vectorised over numpy arrays because a county of a million people needs a million names in
well under a second; nothing here is meant to be real.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from purecredit.synth.reference import load_names

# Mobile number blocks of the three Chinese carriers (MIIT numbering plan), first three digits.
_PHONE_PREFIXES = np.array(
    [
        *(130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157),
        *(158, 159, 166, 173, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199),
    ]
)


@lru_cache(maxsize=1)
def _material() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, str]:
    names = load_names()
    surnames = np.array(list(names["surnames"].keys()))
    weights = np.array(list(names["surnames"].values()), dtype=float)
    male = np.array(list(names["given_male"]))
    female = np.array(list(names["given_female"]))
    return (
        surnames,
        weights / weights.sum(),
        male,
        female,
        names["place_chars"],
        names["firm_brands"],
    )


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    pool, weights, *_ = _material()
    return rng.choice(pool, size=n, p=weights)


def given_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """One- or two-character given names, the characters chosen by the person's sex."""
    _, _, male_pool, female_pool, *_ = _material()
    n = male.size
    first = np.where(male, rng.choice(male_pool, n), rng.choice(female_pool, n))
    second = np.where(male, rng.choice(male_pool, n), rng.choice(female_pool, n))
    two = rng.random(n) < 0.7
    return np.where(two, np.char.add(first, second), first)


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique 11-digit mobile numbers."""
    out = np.empty(0, dtype="U11")
    while out.size < n:
        need = int((n - out.size) * 1.05) + 10
        prefix = rng.choice(_PHONE_PREFIXES, need)
        body = rng.integers(0, 100_000_000, need)
        fresh = np.char.add(prefix.astype("U3"), np.char.zfill(body.astype("U8"), 8))
        out = np.unique(np.concatenate([out, fresh]))
    return rng.permutation(out)[:n]


def place_names(rng: np.random.Generator, n: int, suffix: str) -> np.ndarray:
    """Distinct two-character place names with a suffix (镇, 村, 社区)."""
    chars = np.array(list(_material()[4]))
    pairs = np.char.add(chars[:, None], chars[None, :]).ravel()
    pairs = pairs[np.array([p[0] != p[1] for p in pairs])]
    # Larger counties reuse names, as real ones do across towns; codes stay unique.
    picks = rng.choice(pairs, n, replace=n > pairs.size)
    return np.char.add(picks, suffix)


def brands(rng: np.random.Generator, n: int) -> np.ndarray:
    chars = np.array(list(_material()[5]))
    return np.char.add(rng.choice(chars, n), rng.choice(chars, n))
