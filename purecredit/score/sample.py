"""County training samples: who was observed when, their label, and their profile as of then.

Observation dates are quarter ends spread over the history, each with the features the bank
knew that day (`profile.compute`, the same SQL the online profile runs) and the label the
next 12 months showed (`outcomes`). The latest date whose window has fully closed is kept
apart as the out-of-time sample, the test a model meets before it is trusted: trained on the
past, judged on a later year.

Not every profile column may be a characteristic:

- sensitive sources (PIPL art. 28: serious illness) serve post-loan care only, never a
  decision;
- dates and calendar years (a report date, a survey year) would teach the model the
  calendar, not the borrower: they drift with every observation date;
- identifiers (a top buyer's USCC) are names, not risk;
- sex is a protected characteristic: a lending decision must not turn on it (fair lending
  practice; PBoC's consumer-protection rules forbid discrimination by sex), so no model sees it,
  even where it would add a little AUC.

Persons fall in segments by what the data shows at the date, the same rule at scoring: a
trader runs a live firm or holds a live licence; a farmer's household plants herbs; a
salaried person has an employee pension base; everyone else is "other" (retired, casual
work). An enterprise's own characteristics and its legal representative's (`legal_rep_`) are
kept apart, for the two-layer model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.ingest.catalog import Catalog
from purecredit.profile.compute import profile
from purecredit.profile.feature import Kind
from purecredit.profile.features import LEGAL_REP_PREFIX, modules
from purecredit.profile.spine import make_spine, months_before
from purecredit.score.outcomes import outcomes
from purecredit.store.spark import BatchSql

PERSON_SEGMENTS = ("trader", "farmer", "salaried", "other")
IDENTIFIERS = frozenset({"top_buyer_uscc"})
PROTECTED = frozenset({"sex"})
KEYS = ("subject", "as_of")
LABELS = ("bad", "evidence", "segment", "sample")
QUARTER = 3


@dataclass(frozen=True)
class Dates:
    """Training observation dates (oldest first) and the out-of-time date after them."""

    train: tuple[date, ...]
    oot: date


def observation_dates(con: BatchSql, *, history_months: int = 18, step: int = QUARTER) -> Dates:
    """The out-of-time date is 12 months before the month of the latest credit report (its
    window is the last the bank has seen close); training dates run back from one step
    before it, `step` months apart, over `history_months`."""
    found = con.sql("SELECT MAX(report_date) FROM r_credit_bureau_accounts").fetchall()[0][0]
    if found is None:
        raise Invalid("no credit report in the lake: labels need the bureau's records")
    latest = _month_end(found)
    oot = _month_end(months_before(latest, 12))
    train = tuple(
        _month_end(months_before(oot, k)) for k in range(history_months, 0, -step) if k > 0
    )
    return Dates(train, oot)


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def characteristics(kind: Kind, catalog: Catalog) -> list[str]:
    """The profile columns a model of `kind` may use, in profile order (see the module
    docstring for what is left out and why)."""
    sensitive = {name for name, s in catalog.sources.items() if s.sensitive}

    def usable(module_kind: Kind) -> list[str]:
        return [
            f.name
            for m in modules(module_kind)
            for f in m.features
            if not (set(f.sources) & sensitive)
            and f.dtype != "date"
            and f.unit != "year"
            and f.name not in IDENTIFIERS | PROTECTED
        ]

    own = usable(kind)
    if kind == "person":
        return own
    return own + [LEGAL_REP_PREFIX + name for name in usable("person")]


SEGMENT_FEATURES = (
    "legal_rep_live_firms",
    "legal_rep_has_live_licence",
    "household_plants_herbs",
    "pension_latest_base",
)


def segment_of(features: Mapping[str, object]) -> str:
    """A person's segment from their profile (see the module docstring): one rule, read the
    same by training and by every decision."""

    def present(name: str) -> bool:
        value = features.get(name)
        return value is not None and value == value  # NaN is missing

    firms = features.get("legal_rep_live_firms")
    if (present("legal_rep_live_firms") and float(firms) > 0) or (  # type: ignore[arg-type]
        features.get("legal_rep_has_live_licence") is True
    ):
        return "trader"
    if features.get("household_plants_herbs") is True:
        return "farmer"
    if present("pension_latest_base"):
        return "salaried"
    return "other"


def person_segment(frame: pd.DataFrame, prefix: str = "") -> np.ndarray:
    """Each row's segment (`segment_of`), for a training sample."""
    rows = frame[[prefix + name for name in SEGMENT_FEATURES]]
    rows.columns = list(SEGMENT_FEATURES)
    values = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return np.array(
        [segment_of({str(k): v for k, v in row.items()}) for row in values], dtype=object
    )


def build_sample(con: BatchSql, kind: Kind, dates: Dates, progress: object = None) -> pd.DataFrame:
    """Every observed (subject, date) of `kind` with its label, segment (persons), sample
    ("train" or "oot") and full profile as of the date."""
    labels = outcomes(con, kind, [*dates.train, dates.oot])
    if labels.num_rows == 0:
        raise Invalid(f"no {kind} observed with credit running at any date")
    spine = make_spine(labels.column("subject"), labels.column("as_of"))
    features = profile(con, kind, spine).to_pandas()
    frame: pd.DataFrame = labels.to_pandas().merge(
        features, on=list(KEYS), how="left", validate="one_to_one"
    )
    frame["sample"] = np.where(frame["as_of"] == dates.oot, "oot", "train")
    frame["segment"] = person_segment(frame) if kind == "person" else "enterprise"
    return frame
