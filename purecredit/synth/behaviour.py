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
    late_key = pd.MultiIndex.from_frame(lates[["key", "month"]])
    is_late = pd.MultiIndex.from_arrays([keys, due_month]).isin(late_key) & ~waiting
    jitter = _stable_days(keys, due_month, seed)
    days_late = np.where(
        waiting,
        np.where(cured, (cure_month - due_month) * 30 + jitter % 28, NEVER),
        np.where(is_late, 1 + jitter % 29, 0),
    )
    return paid_month, days_late


def _stable_days(keys: np.ndarray, months: np.ndarray, seed: int) -> np.ndarray:
    """A day count in [0, 2^31) that depends only on (seed, key, month), not on row order."""
    hashed = pd.util.hash_array(
        np.char.add(keys.astype(str), months.astype(str)), hash_key=_hash_key(seed)
    )
    return (hashed % np.uint64(2**31)).astype(np.int64)


def _hash_key(seed: int) -> str:
    return f"{seed:016d}"[-16:]
