"""What a played book looks like: month-end snapshots of every loan, vintage curves, roll
rates and the book at the end, beside the pilot's and the national rural banks' NPL ratios.

- DPD buckets: 0, 1-30, 31-90, 91-180, 181+ days past due (active loans; `closed` for a loan
  settled or written off).
- Vintage curves: loans grouped by the month they were drawn; for each month on book (0 is
  the drawdown month's end), the share of the vintage's drawn amount that has been 30+ (or
  90+) days past due at some month end so far. Cumulative ("ever"), as vintages are read:
  a loan that cures still counts against the month it was drawn in.
- Roll rates: loans by DPD bucket at one month end and the next, counted, with each row's
  shares; summed over every pair of consecutive month ends played.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from purecredit.decide import exposure
from purecredit.lend.eod import EodResult
from purecredit.lend.money import ZERO
from purecredit.lend.tables import ACTIVE, dec, fen_sum, loans, repayments, yuan
from purecredit.store.ledger import snapshot
from purecredit.synth.reference import load_reference

BUCKETS = ("0", "1-30", "31-90", "91-180", "181+")
CLOSED = "closed"
EDGES = (0, 1, 31, 91, 181)


def bucket_of(dpd: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Each loan's DPD bucket name, `closed` when it is no longer active."""
    index = np.searchsorted(np.asarray(EDGES), dpd, side="right") - 1
    names = np.asarray(BUCKETS, dtype=object)[index]
    return np.where(active, names, CLOSED)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: str, second: str) -> int:
    (y1, m1), (y2, m2) = (map(int, first.split("-")), map(int, second.split("-")))
    return (y2 - y1) * 12 + (m2 - m1)


@dataclass
class Snapshots:
    """Every loan at each month end of the play (read from the ledger after that day's end
    of day)."""

    frames: list[tuple[str, pd.DataFrame]] = field(default_factory=list)

    def take(self, engine: Engine, day: date) -> None:
        query = select(
            loans.c.loan_id, loans.c.start, loans.c.amount, loans.c.dpd, loans.c.status
        ).where(loans.c.start <= day)
        with snapshot(engine) as connection:
            rows = connection.execute(query).all()
        frame = pd.DataFrame(
            {
                "loan_id": [r.loan_id for r in rows],
                "vintage": [month_of(r.start) for r in rows],
                "amount": [float(dec(r.amount)) for r in rows],
                "dpd": np.asarray([int(r.dpd) for r in rows], dtype=np.int64),
                "active": np.asarray([r.status == ACTIVE for r in rows], dtype=bool),
            }
        )
        # A loan settled during a day keeps the DPD of the end of day before: it counts as 0.
        frame["dpd"] = frame["dpd"].where(frame["active"], 0)
        frame["bucket"] = bucket_of(frame["dpd"].to_numpy(), frame["active"].to_numpy())
        self.frames.append((month_of(day), frame.set_index("loan_id")))

    def vintages(self) -> dict[str, Any]:
        """Per drawdown month: loans, amount drawn and the ever-30+/90+ shares by month on
        book."""
        out: dict[str, Any] = {}
        worst = pd.Series(dtype=np.int64)  # each loan's worst month-end DPD so far
        for month, frame in self.frames:
            dpd = frame["dpd"]
            worst = pd.concat([worst.reindex(dpd.index, fill_value=0), dpd], axis=1).max(axis=1)
            for vintage, group in frame.groupby("vintage"):
                on_book = months_between(str(vintage), month)
                drawn = float(group["amount"].sum())
                ever = worst.reindex(group.index)
                entry = out.setdefault(
                    str(vintage),
                    {"loans": len(group), "drawn": _money(drawn), "dpd30": [], "dpd90": []},
                )
                for threshold in (30, 90):
                    share = float(group["amount"][ever >= threshold].sum()) / drawn
                    entry[f"dpd{threshold}"].append(
                        {"months_on_book": on_book, "share": round(share, 6)}
                    )
        return dict(sorted(out.items()))

    def roll_rates(self) -> dict[str, Any]:
        """Loans by bucket at one month end (rows) and the next (columns), summed over the
        play; `share` is each row's counts over its total."""
        names = (*BUCKETS, CLOSED)
        counts = {a: dict.fromkeys(names, 0) for a in BUCKETS}
        for (_, before), (_, after) in zip(self.frames, self.frames[1:], strict=False):
            both = before[["bucket"]].merge(
                after[["bucket"]], left_index=True, right_index=True, suffixes=("", "_next")
            )
            both = both[both["bucket"] != CLOSED]
            pairs = both.groupby(["bucket", "bucket_next"]).size()
            for (a, b), n in zip(pairs.index.tolist(), pairs.tolist(), strict=True):
                counts[str(a)][str(b)] += int(n)
        shares = {
            a: {
                b: (round(n / total, 6) if (total := sum(row.values())) else None)
                for b, n in row.items()
            }
            for a, row in counts.items()
        }
        return {"counts": counts, "share": shares}


def _money(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def reference_npl() -> dict[str, float]:
    """The pilot's NPL ratio and the national rural banks' (the county's reference data)."""
    pilot = load_reference().raw["pilot"]
    return {
        "pilot": float(pilot["npl_ratio"]),
        "national_rural_banks": float(pilot["national_rural_bank_npl_ratio"]),
    }


def book_figures(engine: Engine, last: EodResult) -> dict[str, Any]:
    """The book at the end of the play, from the ledger and the last end of day."""
    lines = exposure.credit_lines
    with snapshot(engine) as connection:
        line = connection.execute(
            select(func.count(), fen_sum(lines.c.limit), fen_sum(lines.c.drawn)).where(
                lines.c.status == exposure.ACTIVE
            )
        ).one()
        drawn = connection.execute(
            select(loans.c.method, func.count(), fen_sum(loans.c.amount)).group_by(loans.c.method)
        ).all()
        status: dict[str, int] = {
            str(r[0]): int(r[1])
            for r in connection.execute(
                select(loans.c.status, func.count()).group_by(loans.c.status)
            ).all()
        }
        paid = connection.execute(select(func.count(), fen_sum(repayments.c.amount))).one()
        book = connection.execute(
            select(loans.c.dpd, loans.c.principal_outstanding).where(loans.c.status == ACTIVE)
        ).all()
    dpd = np.asarray([int(r.dpd) for r in book], dtype=np.int64)
    owed = [dec(r.principal_outstanding) for r in book]
    names = bucket_of(dpd, np.ones(dpd.size, dtype=bool))
    buckets = {
        b: {
            "loans": int((names == b).sum()),
            "outstanding": str(sum((o for o, n in zip(owed, names, strict=True) if n == b), ZERO)),
        }
        for b in BUCKETS
    }
    return {
        "date": last.day.isoformat(),
        "loans": last.loans,
        "outstanding": str(last.outstanding),
        "npl_ratio": str(last.npl_ratio),
        "by_category": {name: str(amount) for name, amount in last.by_category.items()},
        "lines": {"active": int(line[0]), "limit": str(yuan(line[1])), "drawn": str(yuan(line[2]))},
        "drawdowns": {
            "count": sum(int(r[1]) for r in drawn),
            "amount": str(sum((yuan(r[2]) for r in drawn), ZERO)),
            "by_method": {
                str(r[0]): {"count": int(r[1]), "amount": str(yuan(r[2]))} for r in drawn
            },
        },
        "loans_by_status": {str(k): int(v) for k, v in sorted(status.items())},
        "repayments": {"count": int(paid[0]), "amount": str(yuan(paid[1]))},
        "dpd_buckets": buckets,
        "reference_npl_ratio": reference_npl(),
    }
