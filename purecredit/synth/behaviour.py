"""How a borrower pays each instalment, read off the world's default, cure and lateness events.

One rule serves the bank's history (instalments before the study date) and the play-forward
(loans the bank grants later), so a loan behaves the same whichever way it was made:

- an instalment due before the borrower's first default after the loan started is paid on its
  due date, or 1-29 days late in a month with a lateness event;
- from the default month on, nothing is paid until the cure month (``cure_after`` months
  later), when all arrears are paid at once; without a cure, nothing is paid again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEVER = -1
_HASH_ROWS = 1 << 16  # instalments hashed at a time


def instalment_outcomes(
    *,
    keys: np.ndarray,
    start_month: np.ndarray,
    due_month: np.ndarray,
    defaults: pd.DataFrame,
    lates: pd.DataFrame,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (paid_month, days_late) per instalment; paid_month is NEVER when unpaid.

    ``defaults`` has columns key, month, cure_after; ``lates`` has key, month. ``keys`` are
    the borrower keys (resident ID or USCC) of each instalment; months are the simulation's
    month index. Deterministic in ``seed`` and the inputs' values, not their order.
    """
    n = keys.size
    frame = pd.DataFrame({"key": keys, "start": start_month, "due": due_month, "row": np.arange(n)})
    hit = frame.merge(defaults[["key", "month", "cure_after"]], on="key", how="inner")
    hit = hit[(hit["month"] > hit["start"]) & (hit["month"] <= hit["due"])]
    first = hit.sort_values(["row", "month"]).drop_duplicates("row")
    default_month = np.full(n, NEVER)
    cure_after = np.full(n, NEVER)
    default_month[first["row"].to_numpy()] = first["month"].to_numpy()
    cure_after[first["row"].to_numpy()] = first["cure_after"].to_numpy()
    defaulted = default_month != NEVER
    cured = defaulted & (cure_after >= 0)
    cure_month = np.where(cured, default_month + cure_after, NEVER)
    # A cure before this instalment fell due leaves it untouched; otherwise it waits for the cure.
    waiting = defaulted & ~(cured & (cure_month < due_month))
    paid_month = np.where(waiting, cure_month, due_month)
    is_late = _has_event(keys, due_month, lates) & ~waiting
    jitter = _stable_days(keys, due_month, seed)
    days_late = np.where(
        waiting,
        np.where(cured, (cure_month - due_month) * 30 + jitter % 28, NEVER),
        np.where(is_late, 1 + jitter % 29, 0),
    )
    return paid_month, days_late


def _has_event(keys: np.ndarray, months: np.ndarray, events: pd.DataFrame) -> np.ndarray:
    """Whether (key, month) of each row is among the (key, month) pairs of ``events``.

    Pairs are compared as integers (the key's position among the event keys, the month), so
    millions of instalments need no index of tuples."""
    event_codes, event_keys = pd.factorize(events["key"])
    which = pd.Index(event_keys).get_indexer(keys)  # -1: the key has no event at all
    found = np.zeros(keys.size, dtype=bool)
    hit = np.flatnonzero(which >= 0)
    if hit.size == 0:
        return found
    event_months = events["month"].to_numpy().astype(np.int64)
    months = np.asarray(months, dtype=np.int64)
    low = min(int(event_months.min()), int(months[hit].min()))
    width = max(int(event_months.max()), int(months[hit].max())) - low + 1
    pairs = event_codes * width + (event_months - low)
    found[hit] = np.isin(which[hit] * width + (months[hit] - low), pairs)
    return found


def _stable_days(keys: np.ndarray, months: np.ndarray, seed: int) -> np.ndarray:
    """A day count in [0, 2^31) that depends only on (seed, key, month), not on row order."""
    days = np.empty(keys.size, dtype=np.int64)
    # Hashing is value by value, so blocks give the same days without row-sized wide text.
    for at in range(0, keys.size, _HASH_ROWS):
        block = slice(at, at + _HASH_ROWS)
        text = np.char.add(keys[block].astype(str), months[block].astype(str))
        hashed = pd.util.hash_array(text, hash_key=_hash_key(seed))
        days[block] = hashed % np.uint64(2**31)
    return days


def _hash_key(seed: int) -> str:
    return f"{seed:016d}"[-16:]
