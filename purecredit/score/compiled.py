"""Fitted models compiled to plain arrays for serving (issue 5, "Serving"): no pandas on the
per-applicant path, numpy (and pyarrow for text) in batch.

`CompiledScorecard` keeps, per selected characteristic, its bins' WOE (read from the fitted
optbinning objects by transforming one value per bin, so the WOE is optbinning's own) and the
regression's coefficients. The points are then computed with the fitted model's own
arithmetic: the WOE row times the coefficients as one BLAS product, plus the intercept, then
`offset - factor * log_odds`. That is what makes them bit-equal to `Scorecard.score`: a
per-bin points table summed in a loop differs from it in the last bits, because BLAS sums in
its own order (and `Scorecard.score` itself gives one row scored alone and the same row scored
in a batch results up to 1 ulp apart; `score_one` matches the first, `score_batch` the second).

Batch input is whatever the caller holds: a pandas DataFrame, a pyarrow Table, or a mapping of
column name to numpy array, pandas Series or pyarrow array. Text columns are mapped to bins
without touching one Python string per row: Arrow-backed strings (pandas 3's default `str`
dtype, pyarrow tables) are looked up in the known levels by Arrow's hash kernel
(`pyarrow.compute.index_in`); anything else is hashed once per row by `pandas.factorize` and
only its distinct values are looked up in Python.

`CompiledChallenger` walks the trees of LightGBM's `dump_model()` with LightGBM's decision
rules (numeric `<=` with its None/Zero/NaN missing types and default direction, categorical
sets with missing and negative codes to the right) and sums the leaves in tree order, in numpy
for a batch. Its reason codes are LightGBM's own `pred_contrib` (TreeSHAP in LightGBM's C++),
asked of the booster the saved form keeps as LightGBM's model text: a port to Python was exact
but took 0.4 s for one applicant. `to_dict`/`from_dict` give it a JSON-able saved form.

One applicant (a decision) is scored by that booster through LightGBM's single-row fast path
(`LGBM_BoosterPredictForMatSingleRowFast`, one thread, its set-up done once), because the
general `Booster.predict` spends far more on checks and OpenMP than on 500 small trees, and a
walk of the trees in Python costs a few hundred microseconds. The raw score is the same sum
of the same leaves in the same order, so it is bit for bit the walk's, given one care: a
missing or unseen category goes in as -1, which both send right, rather than NaN, which
LightGBM reads as category 0 at a split whose missing type is None.
"""

from __future__ import annotations

import ctypes
import json
import math
import weakref
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from lightgbm.basic import _c_str, _safe_call
from lightgbm.libpath import _LIB

from purecredit.core.errors import Invalid
from purecredit.score.challenger import Challenger
from purecredit.score.reasons import POINTS_TOLERANCE, Reason, best_points, top_reasons
from purecredit.score.scorecard import Scorecard
from purecredit.score.table import OTHER

# A category no training value can equal, to read optbinning's WOE for unknown categories.
_UNSEEN = "\x00purecredit-unseen\x00"

# What the batch methods take: a DataFrame, a pyarrow Table (typed as `Any` by the missing
# pyarrow stubs) or a mapping of names to numpy arrays, pandas Series or pyarrow arrays.
Columns: TypeAlias = "pd.DataFrame | Mapping[str, Any]"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _as_float(value: object) -> float:
    if _is_missing(value):
        return math.nan
    return float(value)  # type: ignore[arg-type]


# --- batch columns ---------------------------------------------------------------------------


def _column(data: Columns, name: str) -> Any:
    return data.column(name) if isinstance(data, pa.Table) else data[name]


def _check_columns(data: Columns, names: list[str]) -> None:
    present = set(data.column_names) if isinstance(data, pa.Table) else None
    absent = [n for n in names if (n not in present if present is not None else n not in data)]
    if absent:
        raise Invalid(f"columns missing: {', '.join(absent)}")


def _is_text_type(kind: Any) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _arrow_text(values: Any) -> Any | None:
    """`values` as an Arrow string array when it already is one (or backs a pandas Series),
    else None. No copy of the strings is made."""
    if isinstance(values, pd.Series | pd.Index):
        kind = values.dtype
        arrow = (isinstance(kind, pd.StringDtype) and kind.storage == "pyarrow") or (
            isinstance(kind, pd.ArrowDtype) and _is_text_type(kind.pyarrow_dtype)
        )
        return pa.array(values.array) if arrow else None
    if isinstance(values, pa.Array | pa.ChunkedArray):
        if _is_text_type(values.type):
            return values
        if pa.types.is_dictionary(values.type) and _is_text_type(values.type.value_type):
            return values.cast(values.type.value_type)
    return None


def _numbers(values: Any) -> np.ndarray:
    """Float values with NaN for missing, as `table.as_numbers` gives the fitted model."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        floats = pc.fill_null(values.cast(pa.float64()), math.nan)
        return np.asarray(floats.to_numpy(), dtype="float64")
    if isinstance(values, pd.Series | pd.Index):
        return np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    array = np.asarray(values)
    if array.dtype == object:
        return np.asarray(
            pd.Series(array, dtype=object).astype("float64").to_numpy(), dtype="float64"
        )
    return np.asarray(array, dtype="float64")


def _text_positions(values: Any, keys: list[str]) -> np.ndarray:
    """Each value's position in `keys` (compared as `str(value)`, as the fitted models see
    text); `len(keys)` for a missing value, `len(keys) + 1` for a value not in `keys`."""
    arrow = _arrow_text(values)
    if arrow is not None:
        known = pa.array([*keys, None], type=arrow.type)
        found = pc.index_in(arrow, value_set=known, skip_nulls=False)
        return np.asarray(pc.fill_null(found, len(keys) + 1).to_numpy(), dtype=np.intp)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        values = values.to_pandas()
    elif not isinstance(values, pd.Series | pd.Index):
        values = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    where = {k: i for i, k in enumerate(keys)}
    table = np.array([where.get(str(u), len(keys) + 1) for u in uniques] + [len(keys)])
    return np.asarray(table.astype(np.intp)[codes], dtype=np.intp)  # -1 (missing): last


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
    values), `score_batch`/`pd_batch` for a table (see `Columns`)."""

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
        best: list[float],
    ) -> None:
        self.names = names
        self.numeric = numeric
        self.text = text
        self.special = special
        self.coef = coef
        self.intercept = intercept
        self.factor = factor
        self.offset = offset
        self.best = best  # points of each characteristic's best bin: what reasons count from
        self._coef_t = np.asarray([coef], dtype="float64").T  # (p, 1), like sklearn's coef_.T
        self._intercept = np.asarray([intercept], dtype="float64")
        self._num_special = {c for c in special if not isinstance(c, str)}
        self._num_special_array = np.asarray(sorted(self._num_special), dtype="float64")
        self._text_special = {c for c in special if isinstance(c, str)}
        self._tables = [
            np.asarray((numeric[n] if n in numeric else text[n]).woe, dtype="float64")
            for n in names
        ]
        self._splits = {n: np.asarray(s.splits, dtype="float64") for n, s in numeric.items()}
        # Per text column: its known levels, and the WOE of each level, then of a missing
        # value, then of a level never seen (the order `_text_positions` numbers them in).
        self._levels: dict[str, list[str]] = {}
        self._level_woe: dict[str, np.ndarray] = {}
        for n, cat in text.items():
            n_bins = len(cat.woe) - 3
            lookup = dict(cat.bins)
            for code in self._text_special:
                if code in lookup:
                    lookup[code] = n_bins
            keys = list(lookup)
            index = [lookup[k] for k in keys] + [n_bins + 1, cat.default]
            self._levels[n] = keys
            self._level_woe[n] = np.asarray(cat.woe, dtype="float64")[index]

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
            best=[float(v) for v in best_points(model)],
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

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]:
        """One applicant's reason codes (`reasons_batch` for one row, without pandas)."""
        woe = [self._tables[j][self._index_one(n, record.get(n))] for j, n in enumerate(self.names)]
        lost = np.asarray(self.best) + self.factor * np.asarray(self.coef) * np.asarray(woe)
        return _top_positive(self.names, np.where(lost > POINTS_TOLERANCE, lost, 0.0), top)

    # --- batch -------------------------------------------------------------------------------

    def _woe_column(self, j: int, values: Any, out: np.ndarray) -> None:
        name = self.names[j]
        if name in self.numeric:
            splits = self._splits[name]
            x = _numbers(values)
            idx = np.searchsorted(splits, x, side="right")
            if self._num_special:
                idx[np.isin(x, self._num_special_array)] = len(splits) + 1
            idx[np.isnan(x)] = len(splits) + 2
            np.take(self._tables[j], idx, out=out, mode="clip")
        else:
            positions = _text_positions(values, self._levels[name])
            np.take(self._level_woe[name], positions, out=out, mode="clip")

    def woe_batch(self, columns: Columns) -> np.ndarray:
        """The WOE matrix, Fortran-ordered like the frame the fitted regression sees."""
        _check_columns(columns, self.names)
        n = len(_column(columns, self.names[0]))
        woe = np.empty((n, len(self.names)), dtype="float64", order="F")
        for j, name in enumerate(self.names):
            self._woe_column(j, _column(columns, name), woe[:, j])
        return woe

    def log_odds_batch(self, columns: Columns) -> np.ndarray:
        scores = self.woe_batch(columns) @ self._coef_t + self._intercept
        return np.asarray(scores.reshape(-1), dtype="float64")

    def score_batch(self, columns: Columns) -> np.ndarray:
        """Points for every row of `columns`: bit for bit `Scorecard.score` on the same rows."""
        return np.asarray(self.offset - self.factor * self.log_odds_batch(columns))

    def pd_batch(self, columns: Columns) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.log_odds_batch(columns))))

    def points_lost_batch(self, columns: Columns) -> np.ndarray:
        """Per row and characteristic (`names` order), the points lost against its best bin:
        what `reasons.scorecard_reasons` ranks, from the compiled arrays."""
        coef = np.asarray(self.coef, dtype="float64")
        points = -self.factor * self.woe_batch(columns) * coef
        lost = np.asarray(self.best, dtype="float64")[None, :] - points
        return np.where(lost > POINTS_TOLERANCE, lost, 0.0)

    def reasons_batch(self, columns: Columns, *, top: int = 4) -> list[list[Reason]]:
        """Each row's reason codes: the characteristics that lost most points."""
        return top_reasons(self.names, self.points_lost_batch(columns), top=top)

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
                "best": self.best,
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
            best=[float(v) for v in doc["best"]],
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


def _dump(model: Challenger) -> dict[str, Any]:
    """The saved form of a fitted challenger, read from LightGBM's `dump_model()`."""
    if not hasattr(model, "estimator_"):
        raise Invalid("the challenger is not fitted")
    doc: dict[str, Any] = {
        "kind": "challenger",
        "numeric": [str(n) for n in model.numeric_],
        "text": [str(n) for n in model.text_],
        "categories": {n: [str(c) for c in model.categories_[n]] for n in model.text_},
        "roots": [],
    }
    nodes: dict[str, list[Any]] = {
        k: []
        for k in (
            "feature",
            "threshold",
            "cats",
            "default_left",
            "missing",
            "left",
            "right",
            "count",
            "leaves",
            "leaf_count",
        )
    }

    def walk(node: dict[str, Any]) -> int:
        if "leaf_value" in node:
            nodes["leaves"].append(float(node["leaf_value"]))
            nodes["leaf_count"].append(int(node.get("leaf_count", 0)))
            return -len(nodes["leaves"])  # -1 - (index of the leaf)
        k = len(nodes["feature"])
        nodes["feature"].append(int(node["split_feature"]))
        if node["decision_type"] == "==":
            nodes["cats"].append(sorted(int(c) for c in str(node["threshold"]).split("||")))
            nodes["threshold"].append(None)
        else:
            nodes["cats"].append(None)
            nodes["threshold"].append(float(node["threshold"]))
        nodes["default_left"].append(bool(node["default_left"]))
        nodes["missing"].append(_MISSING_TYPES[str(node["missing_type"])])
        nodes["count"].append(int(node["internal_count"]))
        nodes["left"].append(0)
        nodes["right"].append(0)
        nodes["left"][k] = walk(node["left_child"])
        nodes["right"][k] = walk(node["right_child"])
        return k

    for tree in model.estimator_.booster_.dump_model()["tree_info"]:
        doc["roots"].append(walk(tree["tree_structure"]))
    doc.update(nodes)
    doc["booster"] = model.estimator_.booster_.model_to_string()
    return doc


class CompiledChallenger:
    """A fitted `Challenger`'s trees as flat arrays. Node `k` of the forest: `feature[k]`,
    `threshold[k]`, `categorical[k]` (then `cats[k]` the set going left), `default_left[k]`,
    `missing[k]`, `count[k]` (training rows reaching it); children `left[k]`/`right[k]` are
    node numbers, or `-1 - leaf` for a leaf, whose value is `leaves[leaf]` and training rows
    `leaf_count[leaf]`. Features are numbered as the booster's: `numeric`, then `text` (as
    the code of the level in `categories`)."""

    def __init__(self, model: Challenger) -> None:
        self._load(_dump(model))

    @classmethod
    def compile(cls, model: Challenger) -> CompiledChallenger:
        return cls(model)

    # --- saved form --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (JSON-able with `allow_nan=False`); `from_dict` inverts it
        exactly."""
        return {
            "kind": "challenger",
            "numeric": list(self.numeric),
            "text": list(self.text),
            "categories": {n: list(c) for n, c in self.categories.items()},
            "roots": list(self.roots),
            "feature": list(self.feature),
            "threshold": [
                None if c else t for t, c in zip(self.threshold, self.categorical, strict=True)
            ],
            "cats": [
                sorted(c) if k else None for c, k in zip(self.cats, self.categorical, strict=True)
            ],
            "default_left": list(self.default_left),
            "missing": list(self.missing),
            "left": list(self.left),
            "right": list(self.right),
            "count": list(self.count),
            "leaves": list(self.leaves),
            "leaf_count": list(self.leaf_count),
            "booster": self.booster_text,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CompiledChallenger:
        if doc.get("kind") != "challenger":
            raise Invalid("not a compiled challenger")
        compiled = cls.__new__(cls)
        compiled._load(doc)
        return compiled

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> CompiledChallenger:
        return cls.from_dict(json.loads(text))

    def _load(self, doc: Mapping[str, Any]) -> None:
        self.numeric = [str(n) for n in doc["numeric"]]
        self.text = [str(n) for n in doc["text"]]
        self.categories = {str(n): [str(c) for c in doc["categories"][n]] for n in self.text}
        self.codes = {n: {c: i for i, c in enumerate(self.categories[n])} for n in self.text}
        self.roots = [int(r) for r in doc["roots"]]
        self.feature = [int(f) for f in doc["feature"]]
        self.categorical = [c is not None for c in doc["cats"]]
        self.threshold = [math.nan if t is None else float(t) for t in doc["threshold"]]
        self.cats = [
            frozenset() if c is None else frozenset(int(v) for v in c) for c in doc["cats"]
        ]
        self.default_left = [bool(d) for d in doc["default_left"]]
        self.missing = [int(m) for m in doc["missing"]]
        self.left = [int(v) for v in doc["left"]]
        self.right = [int(v) for v in doc["right"]]
        self.count = [int(v) for v in doc["count"]]
        self.leaves = [float(v) for v in doc["leaves"]]
        self.leaf_count = [int(v) for v in doc["leaf_count"]]
        self.booster_text = str(doc["booster"])
        self._names = [*self.numeric, *self.text]
        self._booster: lgb.Booster | None = None
        self._single_rows: dict[int, _SingleRow] = {}
        self._arrays = {
            "feature": np.asarray(self.feature, dtype=np.intp),
            "threshold": np.asarray(self.threshold, dtype="float64"),
            "categorical": np.asarray(self.categorical, dtype=bool),
            "default_left": np.asarray(self.default_left, dtype=bool),
            "missing": np.asarray(self.missing, dtype=np.int8),
            "left": np.asarray(self.left, dtype=np.intp),
            "right": np.asarray(self.right, dtype=np.intp),
            "leaves": np.asarray(self.leaves, dtype="float64"),
        }
        top = max((max(c) for c in self.cats if c), default=0)
        self._cat_table = np.zeros((max(len(self.cats), 1), top + 1), dtype=bool)
        for k, c in enumerate(self.cats):
            self._cat_table[k, list(c)] = True

    # --- one applicant -----------------------------------------------------------------------

    def _row(self, record: Mapping[str, object]) -> list[float]:
        """The booster's feature row (see `matrix`): a missing or unseen category is NaN."""
        # `_as_float` inlined (a decision reads two rows of ~70): NaN passes float() as itself.
        values: list[Any] = [record.get(n) for n in self.numeric]
        row = [math.nan if v is None or v is pd.NA else float(v) for v in values]
        for n in self.text:
            value = record.get(n)
            code = None if _is_missing(value) else self.codes[n].get(str(value))
            row.append(math.nan if code is None else float(code))
        return row

    def _single(self, predict_type: int) -> _SingleRow:
        """The booster's single-row predictor of one kind, made on first use."""
        found = self._single_rows.get(predict_type)
        if found is None:
            found = _SingleRow(self._the_booster(), predict_type, len(self._names))
            self._single_rows[predict_type] = found
        return found

    def raw_one(self, record: Mapping[str, object]) -> float:
        """LightGBM's raw score (log-odds of bad) for one applicant: bit for bit the trees'
        walk (`raw_batch`), with missing categories as -1 (see the module docstring)."""
        row = self._row(record)
        for j in range(len(self.numeric), len(row)):
            if math.isnan(row[j]):
                row[j] = -1.0
        return float(self._single(_PREDICT_RAW_SCORE)(row)[0])

    def pd_one(self, record: Mapping[str, object]) -> float:
        """Probability of bad, LightGBM's sigmoid of the raw score."""
        return 1.0 / (1.0 + math.exp(-self.raw_one(record)))

    def contrib_one(self, record: Mapping[str, object]) -> np.ndarray:
        """`contrib_batch` for one applicant (the same C++ on the same row, so the same bits)."""
        return self._single(_PREDICT_CONTRIB)(self._row(record))

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]:
        """One applicant's reason codes: the features pushing the log-odds of bad up most."""
        return _top_positive(self._names, self.contrib_one(record)[:-1], top)

    # --- batch -------------------------------------------------------------------------------

    def matrix(self, columns: Columns) -> np.ndarray:
        """The booster's feature matrix: numeric columns, then text as category codes (NaN for
        missing or never seen in training)."""
        _check_columns(columns, [*self.numeric, *self.text])
        parts = [_numbers(_column(columns, n)) for n in self.numeric]
        for n in self.text:
            keys = self.categories[n]
            table = np.asarray([*range(len(keys)), math.nan, math.nan], dtype="float64")
            parts.append(table[_text_positions(_column(columns, n), keys)])
        return np.column_stack(parts)

    def _decide(self, x: np.ndarray, k: Any) -> np.ndarray:
        """Whether each value `x` goes left at node(s) `k` (one node, or one per value)."""
        a = self._arrays
        nan = np.isnan(x)
        kind = a["missing"][k]
        xn = np.where(nan & (kind != _NAN_MISSING), 0.0, x)
        to_default = ((kind == _ZERO_MISSING) & (xn > -_ZERO) & (xn <= _ZERO)) | (
            (kind == _NAN_MISSING) & nan
        )
        with np.errstate(invalid="ignore"):
            go = np.where(to_default, a["default_left"][k], xn <= a["threshold"][k])
            cat = a["categorical"][k]
            if np.any(cat):
                code = np.where(nan, -1, x).astype(np.intp)
                valid = (code >= 0) & (code < self._cat_table.shape[1])
                hit = np.zeros(len(x), dtype=bool)
                rows = k[valid] if np.ndim(k) else k
                hit[valid] = self._cat_table[rows, code[valid]]
                go = np.where(cat, hit, go)
        return np.asarray(go, dtype=bool)

    def _raw(self, X: np.ndarray) -> np.ndarray:
        a = self._arrays
        rows = np.arange(len(X))
        total = np.zeros(len(X), dtype="float64")
        for root in self.roots:
            node = np.full(len(X), root, dtype=np.intp)
            active = node >= 0
            while active.any():
                r = rows[active]
                k = node[active]
                go = self._decide(X[r, a["feature"][k]], k)
                node[active] = np.where(go, a["left"][k], a["right"][k])
                active = node >= 0
            total += a["leaves"][-1 - node]
        return total

    def raw_batch(self, columns: Columns) -> np.ndarray:
        """LightGBM's `predict(raw_score=True)`: log-odds of bad."""
        return self._raw(self.matrix(columns))

    def pd_batch(self, columns: Columns) -> np.ndarray:
        """LightGBM's `predict_proba(...)[:, 1]`."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.raw_batch(columns))), dtype="float64")

    def contrib_batch(self, columns: Columns) -> np.ndarray:
        """LightGBM's `predict(pred_contrib=True)`: per row, each feature's TreeSHAP value (in
        `numeric` then `text` order) and, last, the expected raw score; a row sums to its raw
        score."""
        return self._contrib(self.matrix(columns))

    def reasons_batch(self, columns: Columns, *, top: int = 4) -> list[list[Reason]]:
        """Each row's reason codes: the features pushing its log-odds of bad up most."""
        contrib = self.contrib_batch(columns)[:, :-1]
        return top_reasons(self._names, contrib, top=top)

    # --- contributions -----------------------------------------------------------------------

    def _the_booster(self) -> lgb.Booster:
        if self._booster is None:
            self._booster = lgb.Booster(model_str=self.booster_text)
        return self._booster

    def _contrib(self, X: np.ndarray) -> np.ndarray:
        out = self._the_booster().predict(X, pred_contrib=True)
        return np.asarray(out, dtype="float64")


# LightGBM's C API constants (c_api.h): what to predict, and the input's element type.
_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


class _SingleRow:
    """One booster's single-row fast path for one kind of prediction (raw score, or
    contributions then the expected value). The set-up (`...FastInit`: parameters parsed, a
    predictor made) is done once; each call then only copies one row in and the answer out.
    Safe across threads: every call has its own buffers, and LightGBM locks the predictor."""

    def __init__(self, booster: lgb.Booster, predict_type: int, n_features: int) -> None:
        self._booster = booster  # the fast config points into it: keep it alive
        self._row_type = ctypes.c_double * n_features
        width = n_features + 1 if predict_type == _PREDICT_CONTRIB else 1
        self._out_type = ctypes.c_double * width
        self._handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                _c_str("num_threads=1"),
                ctypes.byref(self._handle),
            )
        )
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, self._handle)

    def __call__(self, row: list[float]) -> np.ndarray:
        out = self._out_type()
        length = ctypes.c_int64()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle, self._row_type(*row), ctypes.byref(length), out
            )
        )
        return np.ctypeslib.as_array(out)


def _top_positive(names: list[str], impact: np.ndarray, top: int) -> list[Reason]:
    """`top_reasons` for one row, given only the features with a positive impact: the same
    reasons (it never reaches the others, and they leave the order of the rest alone), without
    describing every feature of the model for each applicant."""
    keep = np.flatnonzero(impact > 0.0)
    return top_reasons([names[j] for j in keep], impact[keep][None, :], top=top)[0]
