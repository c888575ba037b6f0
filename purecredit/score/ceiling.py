"""The ceiling on a synthetic county: the AUC the county's true 12-month PD reaches on the
very rows a model is validated on.

This module reads `truth/`, which no training step may: only validation reports and
benchmarks call it, after a model is fitted, to say how close it came to the best any model
could do. The true PD is the simulator's own, as of each date (`truth/pd_history.parquet`);
rows are matched to it through the lake's keys, so the plain resident IDs in the truth are
turned into lake tokens with the bank's own tokenizer and never meet the lake in clear.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from purecredit.core.crypto import Tokenizer
from purecredit.core.errors import Invalid, NotFound
from purecredit.profile.feature import Kind
from purecredit.synth.manifest import read_manifest

TRUTH_KIND = {"person": "person", "enterprise": "enterprise"}


class Ceiling:
    """True PDs of one county, looked up by lake key and date."""

    def __init__(self, county: Path, tokenizer: Tokenizer) -> None:
        manifest = read_manifest(county / "manifest.json")
        name = manifest.truth.get("pd_history")
        if name is None:
            raise NotFound(f"county {county} has no PD history in its truth", field="county")
        self._history = pd.read_parquet(county / name)
        self._tokenizer = tokenizer

    def true_pd(self, kind: Kind, subjects: pd.Series, as_of: pd.Series) -> np.ndarray:
        """The true PD of each (subject, as_of) row; NaN where the truth has none."""
        wanted = set(_dates(as_of))
        history = self._history
        truth = history[
            (history["entity_type"] == TRUTH_KIND[kind])
            & pd.to_datetime(history["as_of"]).dt.date.isin(wanted)
        ]
        keys = truth["entity_key"].astype(str)
        if kind == "person":
            distinct = keys.unique().tolist()
            tokens = dict(zip(distinct, self._tokenizer.token_many(distinct, "id"), strict=True))
            keys = keys.map(lambda plain: f"id:{tokens[plain]}")
        table = pd.DataFrame(
            {
                "subject": keys.to_numpy(),
                "as_of": pd.to_datetime(truth["as_of"]).dt.date.to_numpy(),
                "true_pd": truth["true_pd_12m"].to_numpy(dtype="float64"),
            }
        )
        rows = pd.DataFrame({"subject": subjects.astype(str).to_numpy(), "as_of": _dates(as_of)})
        found = rows.merge(table, on=["subject", "as_of"], how="left", validate="many_to_one")
        return found["true_pd"].to_numpy(dtype="float64")

    def auc(self, kind: Kind, subjects: pd.Series, as_of: pd.Series, y: np.ndarray) -> float:
        """AUC of the true PD against the labels on these rows (rows the truth lacks are left
        out; an error if that is more than a few)."""
        pd_true = self.true_pd(kind, subjects, as_of)
        known = ~np.isnan(pd_true)
        if known.sum() < 0.95 * len(known):
            raise Invalid(
                f"the truth has a PD for only {int(known.sum())} of {len(known)} rows",
                field="county",
            )
        return float(roc_auc_score(np.asarray(y)[known], pd_true[known]))


def _dates(values: pd.Series) -> np.ndarray:
    return np.array([v if isinstance(v, date) else pd.Timestamp(v).date() for v in values])
