"""Portfolio drift, computed over frames (no I/O): how far the book has moved since it was lent.

- Score stability: PSI of the current rescored PDs against a reference sample, on the
  reference's deciles (the credit convention; DESIGN.md, "Choices already measured").
- Characteristic stability: PSI of each profile feature between the profiles the decisions
  read and the profiles the bank holds now; numeric features on the reference's deciles (plus
  a bin for missing values), categorical ones by level.
- Grade migration: decision grade (rows) to current rescored grade (columns), counts and
  row shares.
- NPL trend: the book at each month end (the last end of day of each month).
- Vintage trend: ever-30+/90+ DPD by months on book per drawdown month, with month-end DPD
  rebuilt from each loan's schedule and payments (the ledger keeps no daily loan history).

PSI bands are `score.stability`'s: below `PSI_AMBER` (0.1) stable, up to `PSI_RED` (0.25)
worth investigating, above it a major shift (`score.validation.traffic_light`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.decide.policy import grade_number
from purecredit.lend.play_report import Snapshots, bucket_of, month_of
from purecredit.score.stability import psi_of_counts
from purecredit.score.validation import decile_edges, traffic_light

MISSING = "(missing)"
CATEGORIES = ("normal", "special_mention", "substandard", "doubtful", "loss")
# A payment short of an instalment's dues by less than a fen still settles it (money columns
# are floats on SQLite).
_TOLERANCE = 0.005


@dataclass(frozen=True)
class Stability:
    """A PSI and its bins. `table` columns: bin (label), lower, upper (numeric bins; NaN for a
    level or the missing bin), reference, current (counts), reference_share, current_share,
    contribution (each bin's term of the PSI)."""

    table: pd.DataFrame
    psi: float
    band: str


def _stability(labels: list[str], lower: list[float], upper: list[float],
               ref: np.ndarray, cur: np.ndarray) -> Stability:  # fmt: skip
    ref_f, cur_f = ref.astype("float64"), cur.astype("float64")
    ref_share = ref_f / max(ref_f.sum(), 1.0)
    cur_share = cur_f / max(cur_f.sum(), 1.0)
    # Each bin's term, with psi_of_counts' floor, so the terms add up to the PSI.
    floor_r, floor_c = np.maximum(ref_share, 1e-4), np.maximum(cur_share, 1e-4)
    table = pd.DataFrame(
        {
            "bin": labels,
            "lower": lower,
            "upper": upper,
            "reference": ref.astype("int64"),
            "current": cur.astype("int64"),
            "reference_share": ref_share,
            "current_share": cur_share,
            "contribution": (floor_c - floor_r) * np.log(floor_c / floor_r),
        }
    )
    value = psi_of_counts(ref_f, cur_f)
    return Stability(table, value, traffic_light(value))


def numeric_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> Stability:
    """PSI over the deciles of `reference` (ties merged, outer edges open so current values
    beyond the reference range still count). Missing values (NaN) get a bin of their own, kept
    only when either sample has any: a feature that goes missing more often is drift too."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    known = ref[~np.isnan(ref)]
    if known.size == 0:
        raise ValueError("the reference sample has no value to take deciles of")
    edges = decile_edges(known, bins)
    inner = edges[1:-1]
    n = edges.size - 1

    def counts(values: np.ndarray) -> np.ndarray:
        present = values[~np.isnan(values)]
        binned = np.bincount(np.searchsorted(inner, present, side="right"), minlength=n)
        return np.append(binned, np.isnan(values).sum())

    ref_counts, cur_counts = counts(ref), counts(cur)
    labels = [f"D{i + 1}" for i in range(n)] + [MISSING]
    lower, upper = [*edges[:-1].tolist(), np.nan], [*edges[1:].tolist(), np.nan]
    if ref_counts[-1] == 0 and cur_counts[-1] == 0:
        labels, lower, upper = labels[:-1], lower[:-1], upper[:-1]
        ref_counts, cur_counts = ref_counts[:-1], cur_counts[:-1]
    return _stability(labels, lower, upper, ref_counts, cur_counts)


def level_psi(reference: pd.Series, current: pd.Series) -> Stability:
    """PSI over the levels either sample holds (missing as a level of its own)."""
    ref = reference.astype(object).where(reference.notna(), MISSING).astype(str)
    cur = current.astype(object).where(current.notna(), MISSING).astype(str)
    labels = sorted(set(ref) | set(cur))
    ref_counts = ref.value_counts().reindex(labels, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(labels, fill_value=0).to_numpy()
    nan = [np.nan] * len(labels)
    return _stability(labels, nan, nan, ref_counts, cur_counts)


def characteristic_stability(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Collection[str],
    categorical: Collection[str],
) -> pd.DataFrame:
    """PSI of each named feature present in both frames, sorted worst first. A numeric
    feature whose reference holds no value is left out (no deciles to take). Columns: name,
    type, reference_n, current_n (rows of each sample), psi, band."""
    rows = []
    for name in [*numeric, *categorical]:
        if name not in reference.columns or name not in current.columns:
            continue
        if name in numeric:
            ref = pd.to_numeric(reference[name], errors="coerce").to_numpy(dtype="float64")
            if np.isnan(ref).all():
                continue
            cur = pd.to_numeric(current[name], errors="coerce").to_numpy(dtype="float64")
            found, kind = numeric_psi(ref, cur), "numeric"
        else:
            found, kind = level_psi(reference[name], current[name]), "categorical"
        rows.append((name, kind, len(reference), len(current), found.psi, found.band))
    columns = ["name", "type", "reference_n", "current_n", "psi", "band"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["psi", "name"], ascending=[False, True], ignore_index=True)


@dataclass(frozen=True)
class Migration:
    """Borrowers by decision grade (index) and current grade (columns), best grade first;
    `shares` is each row over its total (rows sum to 1)."""

    counts: pd.DataFrame
    shares: pd.DataFrame


def _grade_order(grade: str) -> tuple[int, str]:
    try:
        return grade_number(grade), grade
    except Invalid:  # an unknown label sorts after the scale, not into it
        return 10**6, grade


def migration(decision_grade: pd.Series, current_grade: pd.Series) -> Migration:
    """Grade migration of the book: one borrower per position of the two aligned series; a
    borrower without a graded decision (NaN) is left out."""
    both = pd.DataFrame({"decided": decision_grade, "now": current_grade}).dropna()
    both = both.astype(str)
    grades = sorted(set(both["decided"]) | set(both["now"]), key=_grade_order)
    counts = (
        pd.crosstab(both["decided"], both["now"])
        .reindex(index=grades, columns=grades, fill_value=0)
        .astype("int64")
    )
    counts.index.name, counts.columns.name = "decision_grade", "current_grade"
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    return Migration(counts, shares)


def npl_trend(book_days: pd.DataFrame) -> pd.DataFrame:
    """The book at each month end: the last finished end of day of each month (the latest
    month may be partial). `book_days` as the ledger holds it (`day`, `loans`, `outstanding`,
    the five categories, `npl_ratio`, `done_at`); unfinished days are left out. Columns:
    month, day, loans, outstanding, the five categories, npl_ratio."""
    columns = ["month", "day", "loans", "outstanding", *CATEGORIES, "npl_ratio"]
    done = book_days[book_days["done_at"].notna()].sort_values("day")
    if done.empty:
        return pd.DataFrame(columns=columns)
    done = done.assign(month=[month_of(d) for d in done["day"]])
    last = done.groupby("month", sort=True).tail(1)
    out = last[columns].reset_index(drop=True)
    for name in ("outstanding", *CATEGORIES, "npl_ratio"):
        out[name] = out[name].astype("float64")
    out["loans"] = out["loans"].astype("int64")
    return out


def month_end_dpd(
    loans: pd.DataFrame,
    instalments: pd.DataFrame,
    payments: pd.DataFrame,
    month_ends: Sequence[date],
) -> Snapshots:
    """Every loan at each month end, rebuilt: DPD is days since the oldest due date whose
    principal and interest the payments made by then do not cover (`lend.state.dpd`'s rule),
    payments meeting instalments oldest first as the waterfall does.

    `loans`: loan_id, start, amount, status, closed_on. `instalments`: loan_id, number,
    due_date, principal, interest (the schedule as it stands; a prepayment keeps what it paid
    ahead on the current instalment, so dues and payments still line up). `payments`:
    loan_id, paid_on, amount applied to scheduled dues (penalty and unapplied left out).
    Returns `play_report.Snapshots`, whose `vintages()` and `roll_rates()` then apply."""
    snapshots = Snapshots()
    if loans.empty:
        return snapshots
    due = instalments.sort_values(["loan_id", "number"]).copy()
    due["owed"] = due["principal"].astype("float64") + due["interest"].astype("float64")
    due["cum_due"] = due.groupby("loan_id")["owed"].cumsum() - _TOLERANCE
    paid = payments.sort_values(["loan_id", "paid_on"]).copy()
    paid["cum_paid"] = paid.groupby("loan_id")["amount"].cumsum().astype("float64")
    for day in sorted(month_ends):
        book = loans[loans["start"] <= day].copy()
        if book.empty:
            continue
        active = book["closed_on"].isna() | (book["closed_on"] > day)
        by_day = paid[paid["paid_on"] <= day].groupby("loan_id")["cum_paid"].last()
        book["cum_paid"] = book["loan_id"].map(by_day).fillna(0.0).astype("float64")
        # The first instalment whose running dues exceed what was paid by `day`.
        first = pd.merge_asof(
            book[["loan_id", "cum_paid"]].sort_values("cum_paid"),
            due[["loan_id", "cum_due", "due_date"]].sort_values("cum_due"),
            left_on="cum_paid",
            right_on="cum_due",
            by="loan_id",
            direction="forward",
            allow_exact_matches=False,
        ).set_index("loan_id")["due_date"]
        oldest = book["loan_id"].map(first)
        late = [(day - d).days if isinstance(d, date) and d < day else 0 for d in oldest]
        dpd = np.where(active.to_numpy(), np.asarray(late, dtype=np.int64), 0)
        frame = pd.DataFrame(
            {
                "vintage": [month_of(d) for d in book["start"]],
                "amount": book["amount"].astype("float64").to_numpy(),
                "dpd": dpd,
                "active": active.to_numpy(),
            },
            index=pd.Index(book["loan_id"], name="loan_id"),
        )
        frame["bucket"] = bucket_of(frame["dpd"].to_numpy(), frame["active"].to_numpy())
        snapshots.frames.append((month_of(day), frame))
    return snapshots
