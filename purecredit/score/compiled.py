"""Fitted models compiled to plain arrays for serving (issue 5, "Serving"): no pandas on the
per-applicant path, numpy in batch.

`CompiledScorecard` keeps, per selected characteristic, its bins' WOE (read from the fitted
optbinning objects by transforming one value per bin, so the WOE is optbinning's own) and the
regression's coefficients. The points are then computed with the fitted model's own
arithmetic: the WOE row times the coefficients as one BLAS product, plus the intercept, then
`offset - factor * log_odds`. That is what makes them bit-equal to `Scorecard.score`: a
per-bin points table summed in a loop differs from it in the last bits, because BLAS sums in
its own order (and `Scorecard.score` itself gives one row scored alone and the same row scored
in a batch results up to 1 ulp apart; `score_one` matches the first, `score_batch` the second).

`CompiledChallenger` walks the trees of LightGBM's `dump_model()` with LightGBM's decision
rules (numeric `<=` with its None/Zero/NaN missing types and default direction, categorical
sets with missing and negative codes to the right) and sums the leaves in tree order.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid
from purecredit.score.challenger import Challenger
from purecredit.score.scorecard import Scorecard
from purecredit.score.table import OTHER

# A category no training value can equal, to read optbinning's WOE for unknown categories.
_UNSEEN = "\x00purecredit-unseen\x00"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _as_float(value: object) -> float:
    if _is_missing(value):
        return math.nan
    return float(value)  # type: ignore[arg-type]


def _text_codes(
    values: np.ndarray, lookup: Mapping[str, int], default: int, missing: int
) -> np.ndarray:
    """Map an array of text values to indices: hash the distinct values once (pandas'
    factorize, the one pandas call on the batch path), then look each up in `lookup`."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([lookup.get(str(u), default) for u in uniques] + [missing], dtype=np.intp)
    return table[codes]  # code -1 (missing) takes the last entry


@dataclass
class _Numeric:
    splits: list[float]
    woe: list[float]  # one per bin, then special, then missing


@dataclass
class _Text:
    bins: dict[str, int]  # every training level (after grouping) -> its index in `woe`
    default: int  # index for a level never seen in training (the "(other)" bin or unknown)
    woe: list[float]  # one per bin, then special, then missing, then unknown


class CompiledScorecard:
    """A fitted `Scorecard` as arrays; `score_one`/`pd_one` for one applicant (a dict of raw
    values), `score_batch`/`pd_batch` for columns of numpy arrays."""

    def __init__(
        self,
        *,
        names: list[str],
        numeric: dict[str, _Numeric],
        text: dict[str, _Text],
        special: list[float | str],
        coef: list[float],
        intercept: float,
        factor: float,
        offset: float,
    ) -> None:
        self.names = names
        self.numeric = numeric
        self.text = text
        self.special = special
        self.coef = coef
        self.intercept = intercept
        self.factor = factor
        self.offset = offset
        self._coef_t = np.asarray([coef], dtype="float64").T  # (p, 1), like sklearn's coef_.T
        self._intercept = np.asarray([intercept], dtype="float64")
        self._num_special = {c for c in special if not isinstance(c, str)}
        self._text_special = {c for c in special if isinstance(c, str)}
        self._tables = [
            np.asarray((numeric[n] if n in numeric else text[n]).woe, dtype="float64")
            for n in names
        ]

    # --- compile -----------------------------------------------------------------------------

    @classmethod
    def compile(cls, model: Scorecard) -> CompiledScorecard:
        if not hasattr(model, "estimator_"):
            raise Invalid("the scorecard is not fitted")
        special: list[float | str] = list(model.special_codes or [])
        numeric: dict[str, _Numeric] = {}
        text: dict[str, _Text] = {}
        extra: list[Any] = [special[0] if special else math.nan, math.nan]
        for name in model.selected_:
            binned = model.binning_.get_binned_variable(name)
            if isinstance(binned.special_codes, dict):
                raise Invalid("special codes given as a dict are not supported")
            if binned.dtype == "numerical":
                splits = [float(s) for s in binned.splits]
                reps: list[Any] = [-math.inf, *splits, *extra]
                woe = _woe(binned, np.asarray(reps, dtype="float64"))
                if not special:
                    woe[len(splits) + 1] = 0.0  # no special bin: never used
                numeric[name] = _Numeric(splits=splits, woe=woe)
            else:
                groups = [[str(c) for c in group] for group in binned.splits]
                reps = [group[0] for group in groups] + extra + [_UNSEEN]
                woe = _woe(binned, np.asarray(reps, dtype=object))
                if not special:
                    woe[len(groups)] = 0.0
                bins = {c: i for i, group in enumerate(groups) for c in group}
                unknown = len(groups) + 2
                levels = {c: bins.get(c, unknown) for c in model.levels_[name]}
                if OTHER in bins and OTHER not in levels:
                    levels[OTHER] = bins[OTHER]
                default = bins.get(OTHER, unknown)
                text[name] = _Text(bins=levels, default=default, woe=woe)
        factor, offset = model.factor, model.offset
        return cls(
            names=list(model.selected_),
            numeric=numeric,
            text=text,
            special=special,
            coef=[float(c) for c in model.estimator_.coef_[0]],
            intercept=float(model.estimator_.intercept_[0]),
            factor=factor,
            offset=offset,
        )

    # --- one applicant -----------------------------------------------------------------------

    def _index_one(self, name: str, value: object) -> int:
        if name in self.numeric:
            spec = self.numeric[name]
            x = _as_float(value)
            if x in self._num_special:
                return len(spec.splits) + 1
            if math.isnan(x):
                return len(spec.splits) + 2
            return bisect_right(spec.splits, x)
        cat = self.text[name]
        n_bins = len(cat.woe) - 3
        if _is_missing(value):
            return n_bins + 1
        level = str(value)
        if level in self._text_special and level in cat.bins:
            return n_bins
        return cat.bins.get(level, cat.default)

    def log_odds_one(self, record: Mapping[str, object]) -> float:
        """Log-odds of bad for one applicant; a characteristic absent from `record` is
        missing."""
        row = np.empty((1, len(self.names)), dtype="float64")
        for j, name in enumerate(self.names):
            row[0, j] = self._tables[j][self._index_one(name, record.get(name))]
        return float((row @ self._coef_t + self._intercept)[0, 0])

    def score_one(self, record: Mapping[str, object]) -> float:
        return self.offset - self.factor * self.log_odds_one(record)

    def pd_one(self, record: Mapping[str, object]) -> float:
        return 1.0 / (1.0 + math.exp(-self.log_odds_one(record)))

    # --- batch -------------------------------------------------------------------------------

    def _indices(self, name: str, values: np.ndarray) -> np.ndarray:
        if name in self.numeric:
            spec = self.numeric[name]
            x = np.asarray(values, dtype="float64")
            idx = np.searchsorted(np.asarray(spec.splits, dtype="float64"), x, side="right")
            if self._num_special:
                idx[np.isin(x, list(self._num_special))] = len(spec.splits) + 1
            idx[np.isnan(x)] = len(spec.splits) + 2
            return idx
        cat = self.text[name]
        n_bins = len(cat.woe) - 3
        lookup = dict(cat.bins)
        for code in self._text_special:
            if code in lookup:
                lookup[code] = n_bins
        return _text_codes(np.asarray(values, dtype=object), lookup, cat.default, n_bins + 1)

    def woe_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The WOE matrix, Fortran-ordered like the frame the fitted regression sees."""
        absent = [n for n in self.names if n not in columns]
        if absent:
            raise Invalid(f"columns missing: {', '.join(absent)}")
        n = len(columns[self.names[0]])
        woe = np.empty((n, len(self.names)), dtype="float64", order="F")
        for j, name in enumerate(self.names):
            np.take(self._tables[j], self._indices(name, columns[name]), out=woe[:, j])
        return woe

    def log_odds_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        scores = self.woe_batch(columns) @ self._coef_t + self._intercept
        return np.asarray(scores.reshape(-1), dtype="float64")

    def score_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.offset - self.factor * self.log_odds_batch(columns))

    def pd_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.log_odds_batch(columns))))

    # --- saved form --------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "scorecard",
                "names": self.names,
                "numeric": {n: {"splits": s.splits, "woe": s.woe} for n, s in self.numeric.items()},
                "text": {
                    n: {"bins": t.bins, "default": t.default, "woe": t.woe}
                    for n, t in self.text.items()
                },
                "special": self.special,
                "coef": self.coef,
                "intercept": self.intercept,
                "factor": self.factor,
                "offset": self.offset,
            },
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CompiledScorecard:
        doc = json.loads(text)
        if doc.get("kind") != "scorecard":
            raise Invalid("not a compiled scorecard")
        return cls(
            names=[str(n) for n in doc["names"]],
            numeric={
                n: _Numeric(
                    splits=[float(v) for v in s["splits"]], woe=[float(v) for v in s["woe"]]
                )
                for n, s in doc["numeric"].items()
            },
            text={
                n: _Text(
                    bins={str(k): int(v) for k, v in t["bins"].items()},
                    default=int(t["default"]),
                    woe=[float(v) for v in t["woe"]],
                )
                for n, t in doc["text"].items()
            },
            special=list(doc["special"]),
            coef=[float(v) for v in doc["coef"]],
            intercept=float(doc["intercept"]),
            factor=float(doc["factor"]),
            offset=float(doc["offset"]),
        )


def _woe(binned: Any, values: np.ndarray) -> list[float]:
    out = binned.transform(
        values, metric="woe", metric_special="empirical", metric_missing="empirical"
    )
    return [float(v) for v in np.asarray(out, dtype="float64")]


# --- LightGBM --------------------------------------------------------------------------------

_ZERO = 1e-35  # LightGBM's kZeroThreshold
_NONE, _ZERO_MISSING, _NAN_MISSING = 0, 1, 2
_MISSING_TYPES = {"None": _NONE, "Zero": _ZERO_MISSING, "NaN": _NAN_MISSING}


class CompiledChallenger:
    """A fitted `Challenger`'s trees as flat arrays. Node `k` of the forest: `feature[k]`,
    `threshold[k]`, `categorical[k]` (then `cats[k]` the set going left), `default_left[k]`,
    `missing[k]`; children `left[k]`/`right[k]` are node numbers, or `-1 - leaf` for a leaf."""

    def __init__(self, model: Challenger) -> None:
        if not hasattr(model, "estimator_"):
            raise Invalid("the challenger is not fitted")
        self.numeric = list(model.numeric_)
        self.text = list(model.text_)
        self.codes = {n: {c: i for i, c in enumerate(model.categories_[n])} for n in self.text}
        dump = model.estimator_.booster_.dump_model()
        feature: list[int] = []
        threshold: list[float] = []
        categorical: list[bool] = []
        cats: list[frozenset[int]] = []
        default_left: list[bool] = []
        missing: list[int] = []
        left: list[int] = []
        right: list[int] = []
        leaves: list[float] = []
        self.roots: list[int] = []

        def walk(node: dict[str, Any]) -> int:
            if "leaf_value" in node:
                leaves.append(float(node["leaf_value"]))
                return -len(leaves)  # -1 - (len - 1)
            k = len(feature)
            feature.append(int(node["split_feature"]))
            is_cat = node["decision_type"] == "=="
            categorical.append(is_cat)
            if is_cat:
                cats.append(frozenset(int(c) for c in str(node["threshold"]).split("||")))
                threshold.append(math.nan)
            else:
                cats.append(frozenset())
                threshold.append(float(node["threshold"]))
            default_left.append(bool(node["default_left"]))
            missing.append(_MISSING_TYPES[str(node["missing_type"])])
            left.append(0)
            right.append(0)
            left[k] = walk(node["left_child"])
            right[k] = walk(node["right_child"])
            return k

        for tree in dump["tree_info"]:
            self.roots.append(walk(tree["tree_structure"]))
        self.feature, self.threshold, self.categorical = feature, threshold, categorical
        self.cats, self.default_left, self.missing = cats, default_left, missing
        self.left, self.right, self.leaves = left, right, leaves
        self._arrays = {
            "feature": np.asarray(feature, dtype=np.intp),
            "threshold": np.asarray(threshold, dtype="float64"),
            "categorical": np.asarray(categorical, dtype=bool),
            "default_left": np.asarray(default_left, dtype=bool),
            "missing": np.asarray(missing, dtype=np.int8),
            "left": np.asarray(left, dtype=np.intp),
            "right": np.asarray(right, dtype=np.intp),
            "leaves": np.asarray(leaves, dtype="float64"),
        }
        top = max((max(c) for c in cats if c), default=0)
        self._cat_table = np.zeros((max(len(cats), 1), top + 1), dtype=bool)
        for k, c in enumerate(cats):
            self._cat_table[k, list(c)] = True

    def _go_left(self, k: int, x: float) -> bool:
        if self.categorical[k]:
            if math.isnan(x) or int(x) < 0:
                return False
            return int(x) in self.cats[k]
        kind = self.missing[k]
        if math.isnan(x) and kind != _NAN_MISSING:
            x = 0.0
        if (kind == _ZERO_MISSING and -_ZERO < x <= _ZERO) or (
            kind == _NAN_MISSING and math.isnan(x)
        ):
            return self.default_left[k]
        return x <= self.threshold[k]

    def _row(self, record: Mapping[str, object]) -> list[float]:
        row = [_as_float(record.get(n)) for n in self.numeric]
        for n in self.text:
            value = record.get(n)
            code = None if _is_missing(value) else self.codes[n].get(str(value))
            row.append(math.nan if code is None else float(code))
        return row

    def raw_one(self, record: Mapping[str, object]) -> float:
        """LightGBM's raw score (log-odds of bad) for one applicant."""
        row = self._row(record)
        total = 0.0
        for node in self.roots:
            while node >= 0:
                node = (
                    self.left[node]
                    if self._go_left(node, row[self.feature[node]])
                    else self.right[node]
                )
            total += self.leaves[-1 - node]
        return total

    def matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = [np.asarray(columns[n], dtype="float64") for n in self.numeric]
        for n in self.text:
            codes = _text_codes(np.asarray(columns[n], dtype=object), self.codes[n], -1, -1)
            parts.append(np.where(codes < 0, np.nan, codes.astype("float64")))
        return np.column_stack(parts)

    def raw_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        X = self.matrix(columns)
        a = self._arrays
        rows = np.arange(len(X))
        total = np.zeros(len(X), dtype="float64")
        for root in self.roots:
            node = np.full(len(X), root, dtype=np.intp)
            active = node >= 0
            while active.any():
                r = rows[active]
                k = node[active]
                x = X[r, a["feature"][k]]
                nan = np.isnan(x)
                kind = a["missing"][k]
                xn = np.where(nan & (kind != _NAN_MISSING), 0.0, x)
                to_default = ((kind == _ZERO_MISSING) & (xn > -_ZERO) & (xn <= _ZERO)) | (
                    (kind == _NAN_MISSING) & nan
                )
                with np.errstate(invalid="ignore"):
                    go = np.where(to_default, a["default_left"][k], xn <= a["threshold"][k])
                    cat = a["categorical"][k]
                    if cat.any():
                        code = np.where(nan, -1, x).astype(np.intp)
                        valid = (code >= 0) & (code < self._cat_table.shape[1])
                        hit = np.zeros(len(k), dtype=bool)
                        hit[valid] = self._cat_table[k[valid], code[valid]]
                        go = np.where(cat, hit, go)
                node[active] = np.where(go, a["left"][k], a["right"][k])
                active = node >= 0
            total += a["leaves"][-1 - node]
        return total
