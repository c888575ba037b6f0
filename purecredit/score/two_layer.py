"""The enterprise + legal-representative two-layer model (the pilot's 企业+法人 linked model).

A small firm's credit is its owner's credit: a sole trader's debts are the operator's, and a
company's representative guarantees, borrows for and is sued with it. So an enterprise's PD
combines two first-layer PDs:

- the enterprise's own, from a model on its own characteristics (registry, tax, licences,
  court, and its related firms' tax grades and enforcement through `related_*`), and
- its legal representative's person PD as of the same date, from the person model on the
  representative's profile (the `legal_rep_` columns).

The second layer is a logistic regression on the two log-odds and a flag for a firm with no
known representative: a stacking fitted on the enterprise model's out-of-fold PDs, so it
learns how much each layer adds instead of trusting an in-sample fit. Its three weights are the
documented method, stored with the model; validation shows it against the enterprise-only
model on the out-of-time sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from purecredit.core.errors import Invalid
from purecredit.score.reasons import Reason

LEGAL_REP_PREFIX = "legal_rep_"  # as the enterprise profile names its representative's columns


class PdModel(Protocol):
    """A first-layer model: its features and a calibrated PD per row."""

    @property
    def features(self) -> list[str]: ...

    def pd_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def pd_one(self, record: Mapping[str, object]) -> float: ...

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]: ...

    @property
    def reason_scale(self) -> float: ...

    def reasons(self, columns: Mapping[str, np.ndarray], *, top: int = 4) -> list[list[Reason]]: ...


# PDs are clipped away from 0 and 1 before their log-odds are taken: a calibrated PD of
# exactly 0 (an empty isotonic bin) would otherwise weigh infinitely.
_EDGE = 1e-6


def _design(pd_enterprise: np.ndarray, pd_rep: np.ndarray) -> np.ndarray:
    own = logit(np.clip(np.asarray(pd_enterprise, dtype="float64"), _EDGE, 1 - _EDGE))
    rep = np.asarray(pd_rep, dtype="float64")
    missing = np.isnan(rep)
    rep_logit = np.where(missing, 0.0, logit(np.clip(np.nan_to_num(rep), _EDGE, 1 - _EDGE)))
    return np.column_stack([own, rep_logit, missing.astype("float64")])


@dataclass(frozen=True)
class TwoLayer:
    """logit PD = intercept + w_own * logit PD_enterprise + w_rep * logit PD_rep
    (+ w_none when the representative is unknown, whose PD term is then 0)."""

    intercept: float
    w_own: float
    w_rep: float
    w_none: float

    @classmethod
    def fit(cls, pd_enterprise: np.ndarray, pd_rep: np.ndarray, y: np.ndarray) -> Self:
        """Fit on out-of-fold enterprise PDs, the representatives' PDs and the labels."""
        target = np.asarray(y, dtype=int)
        if target.min(initial=1) == target.max(initial=0):
            raise Invalid("the two-layer model needs both bad and good enterprises")
        # A weak L2 penalty keeps the weights finite when few firms lack a representative.
        model = LogisticRegression(C=10.0, max_iter=1000)
        model.fit(_design(pd_enterprise, pd_rep), target)
        w = model.coef_[0]
        return cls(float(model.intercept_[0]), float(w[0]), float(w[1]), float(w[2]))

    def predict(self, pd_enterprise: np.ndarray, pd_rep: np.ndarray) -> np.ndarray:
        """The combined 12-month PD of each enterprise."""
        x = _design(pd_enterprise, pd_rep)
        weights = np.array([self.w_own, self.w_rep, self.w_none])
        return np.asarray(expit(self.intercept + x @ weights), dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "w_own": self.w_own,
            "w_rep": self.w_rep,
            "w_none": self.w_none,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Self:
        return cls(
            float(doc["intercept"]), float(doc["w_own"]), float(doc["w_rep"]), float(doc["w_none"])
        )


class Linked:
    """A fitted two-layer model: the enterprise model, the person model scoring the legal
    representative's columns, and the stack. Scores a batch of enterprise profile rows."""

    def __init__(self, enterprise: PdModel, person: PdModel, stack: TwoLayer) -> None:
        self.enterprise = enterprise
        self.person = person
        self.stack = stack

    @property
    def features(self) -> list[str]:
        return [*self.enterprise.features, *(LEGAL_REP_PREFIX + f for f in self.person.features)]

    def _rep_columns(
        self, columns: Mapping[str, np.ndarray], n: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The representative's columns under the person model's names, and which rows know
        anything of the representative (a firm with every `legal_rep_` column missing has no
        second layer)."""
        rep = {f: np.asarray(columns[LEGAL_REP_PREFIX + f]) for f in self.person.features}
        known = np.zeros(n, dtype=bool)
        for values in rep.values():
            known |= ~pd.isna(values)
        return rep, known

    def _rep_record(self, record: Mapping[str, object]) -> tuple[dict[str, object], bool]:
        """`_rep_columns` for one firm."""
        rep = {f: record.get(LEGAL_REP_PREFIX + f) for f in self.person.features}
        return rep, any(not _missing(v) for v in rep.values())

    def layers(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(enterprise PD, representative PD) of each row; the latter NaN for a firm whose
        representative is unknown (every `legal_rep_` column missing)."""
        own = self.enterprise.pd_batch(columns)
        rep_columns, known = self._rep_columns(columns, len(own))
        rep = self.person.pd_batch(rep_columns)
        return own, np.where(known, rep, np.nan)

    def pd_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        own, rep = self.layers(columns)
        return self.stack.predict(own, rep)

    @property
    def reason_scale(self) -> float:
        return 1.0  # impacts are already log-odds of the combined PD

    def reasons_batch(
        self, columns: Mapping[str, np.ndarray], *, top: int = 4
    ) -> list[list[Reason]]:
        """Each firm's reasons from both layers, ranked by their weight in the combined
        log-odds: a layer's own impact (points lost, or log-odds) in log-odds, times the
        stack's weight on that layer. The representative's reasons say so in both languages."""
        own = self.enterprise.reasons(columns, top=top)
        rep_columns, known = self._rep_columns(columns, len(own))
        rep = self.person.reasons(rep_columns, top=top)
        return [self._merge(firm, rep[i] if known[i] else [], top) for i, firm in enumerate(own)]

    def _merge(self, own: list[Reason], rep: list[Reason], top: int) -> list[Reason]:
        """One firm's reasons from both layers in combined log-odds (see `reasons_batch`)."""
        own_w = self.stack.w_own / self.enterprise.reason_scale
        rep_w = self.stack.w_rep / self.person.reason_scale
        ranked = [replace(r, impact=r.impact * own_w) for r in own]
        ranked += [
            Reason(
                LEGAL_REP_PREFIX + r.feature,
                r.code,
                "法定代表人：" + r.zh,
                "legal representative: " + r.en,
                r.impact * rep_w,
            )
            for r in rep
        ]
        ranked.sort(key=lambda r: (-r.impact, r.feature))
        return [r for r in ranked if r.impact > 0][:top]

    def pd_one(self, record: Mapping[str, object]) -> float:
        """The combined PD of one firm, without pandas."""
        own = self.enterprise.pd_one(record)
        rep_record, known = self._rep_record(record)
        rep = self.person.pd_one(rep_record) if known else float("nan")
        return float(self.stack.predict(np.array([own]), np.array([rep]))[0])

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]:
        rep_record, known = self._rep_record(record)
        rep = self.person.reasons_one(rep_record, top=top) if known else []
        return self._merge(self.enterprise.reasons_one(record, top=top), rep, top)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
