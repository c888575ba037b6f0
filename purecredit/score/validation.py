"""Model validation: discrimination, stability and calibration figures of a scoring model, and
one self-contained HTML report per model (charts embedded as base64 PNG, no external files,
no JavaScript).

The figures a validator asks for:
- discrimination per sample (development out-of-fold, out-of-time, ...): AUC, Gini, KS, Brier;
- stability: the population stability index (PSI) of the score and of every characteristic
  over its own optimal bins, with the usual traffic light;
- calibration: per master-scale grade, the mean predicted PD against the observed bad rate
  with a Jeffreys interval and a binomial test, so a reviewer sees whether the observed rate
  is consistent with the grade's band;
- the information value of every characteristic and why it was or was not selected.

Why not optbinning's `ScorecardMonitoring`: it computes the same PSI per characteristic (bin
counts from `optb.transform(x, metric="indices")` and Jeffrey's divergence), but it only takes
an optbinning `Scorecard` (it reads `scorecard.binning_process_`, `scorecard.table()` and
`scorecard.score()`), while ours is a `BinningProcess` with our own regression on top. So the
PSI is computed here on each characteristic's own bins, read from the same
`BinningProcess.get_binned_variable(name).transform(..., metric="bins")`; per variable rather
than `BinningProcess.transform`, which only returns the selected characteristics.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from optbinning import BinningProcess
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from purecredit.core.errors import Invalid
from purecredit.score.master_scale import MasterScale
from purecredit.score.scorecard import MIN_IV, Scorecard
from purecredit.score.stability import PSI_AMBER, PSI_RED, psi_of_counts
from purecredit.score.table import model_frame

# Jeffreys interval and binomial test level for calibration by grade.
CONFIDENCE = 0.95

# Observed bad rates of 0 cannot sit on a log axis; they are drawn at this floor.
_LOG_FLOOR = 1e-4

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _binary(y: np.ndarray, pd_bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = np.asarray(y).astype(int).ravel()
    prob = np.asarray(pd_bad, dtype="float64").ravel()
    if target.shape != prob.shape:
        raise Invalid(f"{target.size} targets but {prob.size} PDs")
    if not np.isin(target, (0, 1)).all():
        raise Invalid("the target must be 1 for bad and 0 for good")
    if np.isnan(prob).any():
        raise Invalid("PDs must not be missing")
    return target, prob


def discrimination(y: np.ndarray, pd_bad: np.ndarray) -> dict[str, float]:
    """AUC, Gini (2 AUC - 1), KS (the largest gap |TPR - FPR| between the bad and good
    cumulative distributions), Brier score, n and bad rate of PDs against a 1-for-bad target.
    Needs both goods and bads."""
    target, prob = _binary(y, pd_bad)
    bad = int(target.sum())
    if bad == 0 or bad == target.size:
        raise Invalid("discrimination needs both good and bad rows")
    auc = float(roc_auc_score(target, prob))
    fpr, tpr, _ = roc_curve(target, prob)
    return {
        "auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": float(np.max(np.abs(tpr - fpr))),
        "brier": float(brier_score_loss(target, prob)),
        "n": float(target.size),
        "bad_rate": bad / target.size,
    }


def _numbers(values: np.ndarray, what: str) -> np.ndarray:
    out = np.asarray(values, dtype="float64").ravel()
    if out.size == 0 or np.isnan(out).any():
        raise Invalid(f"the {what} sample must be non-empty and have no missing value")
    return out


def decile_edges(expected: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin edges at the quantiles of `expected` (deciles by default), ties merged, the outer
    edges open to +-infinity so that later scores outside the development range still count."""
    values = _numbers(expected, "expected")
    inner = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    return np.concatenate([[-np.inf], inner, [np.inf]])


def psi(
    expected: np.ndarray,
    actual: np.ndarray,
    edges: np.ndarray | None = None,
    bins: int = 10,
) -> float:
    """Population stability index of a numeric score between a development (`expected`) and
    a recent (`actual`) sample: below 0.1 stable, 0.1-0.25 worth a look, above 0.25 a major
    shift. `edges` are bin boundaries, the quantiles of `expected` (`bins` of them) when None;
    values beyond the first or last edge count in the end bins."""
    exp = _numbers(expected, "expected")
    act = _numbers(actual, "actual")
    bounds = decile_edges(exp, bins) if edges is None else np.asarray(edges, dtype="float64")
    if bounds.size < 2 or np.any(np.diff(bounds) <= 0):
        raise Invalid("PSI edges must be two or more strictly rising values")
    inner = bounds[1:-1]
    n_bins = bounds.size - 1
    counts_e = np.bincount(np.searchsorted(inner, exp, side="right"), minlength=n_bins)
    counts_a = np.bincount(np.searchsorted(inner, act, side="right"), minlength=n_bins)
    return psi_of_counts(counts_e.astype("float64"), counts_a.astype("float64"))


def scorecard_frame(model: Scorecard, X: pd.DataFrame) -> pd.DataFrame:
    """`X` as the scorecard's binning process sees it (column types fixed, rare levels
    grouped): the frames `characteristic_psi` expects for a `Scorecard`."""
    return model._grouped(model_frame(X, model.numeric_, model.text_))


def iv_table(
    binning: BinningProcess,
    selected: list[str],
    reasons: Mapping[str, str] | None = None,
    *,
    min_iv: float = MIN_IV,
) -> pd.DataFrame:
    """Every binned characteristic with its information value, whether the model uses it and
    why: "selected", f"IV below {min_iv}", or the reason given in `reasons` (which overrides
    the default, e.g. "dropped: correlated with X"). Sorted by IV, highest first."""
    summary = binning.summary()
    chosen = set(selected)
    notes = dict(reasons or {})
    rows: list[dict[str, Any]] = []
    for name, iv in zip(summary["name"], summary["iv"], strict=True):
        key = str(name)
        value = float(iv)
        if key in notes:
            reason = notes[key]
        elif key in chosen:
            reason = "selected"
        elif value < min_iv:
            reason = f"IV below {min_iv:g}"
        else:
            reason = "not selected"
        rows.append({"name": key, "iv": value, "selected": key in chosen, "reason": reason})
    table = pd.DataFrame(rows, columns=["name", "iv", "selected", "reason"])
    return table.sort_values("iv", ascending=False, kind="stable").reset_index(drop=True)


def jeffreys_interval(bad: int, n: int, level: float = CONFIDENCE) -> tuple[float, float]:
    """Jeffreys interval for a binomial rate: Beta(bad + 1/2, n - bad + 1/2) quantiles, with
    the lower bound 0 when no bad and the upper 1 when all bad (Brown, Cai and DasGupta 2001;
    the interval the ECB's PD back-testing guidance uses)."""
    if n == 0:
        return math.nan, math.nan
    tail = (1.0 - level) / 2.0
    low = 0.0 if bad == 0 else float(stats.beta.ppf(tail, bad + 0.5, n - bad + 0.5))
    high = 1.0 if bad == n else float(stats.beta.ppf(1.0 - tail, bad + 0.5, n - bad + 0.5))
    return low, high


def calibration_by_grade(y: np.ndarray, pd_bad: np.ndarray, scale: MasterScale) -> pd.DataFrame:
    """Per grade of `scale` (every grade, empty ones with n = 0): grade, lower, upper, n, bad,
    predicted_pd (mean PD), observed_bad_rate, the Jeffreys interval (ci_low, ci_high) of the
    observed rate, p_value of a two-sided binomial test of the bad count against the mean
    predicted PD, and `consistent`: whether the interval overlaps the grade's PD band."""
    target, prob = _binary(y, pd_bad)
    index = scale.grade_index(prob)
    rows: list[dict[str, Any]] = []
    for k, (label, low, high) in enumerate(
        zip(scale.labels, scale.lowers, scale.uppers, strict=True)
    ):
        mask = index == k
        n = int(mask.sum())
        bad = int(target[mask].sum())
        predicted = float(prob[mask].mean()) if n else math.nan
        observed = bad / n if n else math.nan
        ci_low, ci_high = jeffreys_interval(bad, n)
        p_value = math.nan
        if n and 0.0 < predicted < 1.0:
            p_value = float(stats.binomtest(bad, n, predicted).pvalue)
        rows.append(
            {
                "grade": label,
                "lower": low,
                "upper": high,
                "n": n,
                "bad": bad,
                "predicted_pd": predicted,
                "observed_bad_rate": observed,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "p_value": p_value,
                "consistent": bool(n and ci_low <= high and ci_high >= low),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Sample:
    """One sample a model is validated on: its name (e.g. "development (out-of-fold)",
    "out-of-time 2024-12-31"), 1-for-bad target, PDs and, for a points model, the scores."""

    name: str
    y: np.ndarray
    pd_bad: np.ndarray
    score: np.ndarray | None = None


def traffic_light(value: float) -> str:
    """ "green" below a PSI of 0.1, "amber" up to 0.25, "red" above."""
    if value < PSI_AMBER:
        return "green"
    return "amber" if value <= PSI_RED else "red"


# --- charts -----------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.4) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> str:
    """The figure as a data URI (base64 PNG) an <img> can show inline."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _roc_chart(samples: list[Sample]) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="random")
    for k, sample in enumerate(samples):
        target, prob = _binary(sample.y, sample.pd_bad)
        fpr, tpr, _ = roc_curve(target, prob)
        auc = roc_auc_score(target, prob)
        colour = _COLOURS[k % len(_COLOURS)]
        ax.plot(fpr, tpr, color=colour, linewidth=1.6, label=f"{sample.name} (AUC {auc:.3f})")
    ax.set_xlabel("False positive rate (goods declined)")
    ax.set_ylabel("True positive rate (bads declined)")
    ax.set_title("ROC curves")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _ks_chart(sample: Sample) -> str:
    target, prob = _binary(sample.y, sample.pd_bad)
    # Order from riskiest to safest: low points, or high PD when there are no points.
    if sample.score is not None:
        x = np.asarray(sample.score, dtype="float64").ravel()
        label = "Score (points)"
    else:
        x = -prob
        label = "Minus PD of bad"
    order = np.argsort(x, kind="stable")
    xs = x[order]
    bads = np.cumsum(target[order]) / max(int(target.sum()), 1)
    goods = np.cumsum(1 - target[order]) / max(int((1 - target).sum()), 1)
    # Read the curves at the last row of each distinct value, so ties do not split.
    last = np.r_[np.flatnonzero(np.diff(xs)), xs.size - 1]
    xs, bads, goods = xs[last], bads[last], goods[last]
    gap = np.abs(bads - goods)
    top = int(np.argmax(gap))
    fig = _figure()
    ax = fig.add_subplot()
    ax.step(xs, bads, where="post", color=_COLOURS[1], label="bads (cumulative)")
    ax.step(xs, goods, where="post", color=_COLOURS[0], label="goods (cumulative)")
    ax.vlines(xs[top], goods[top], bads[top], color="black", linestyle=":", linewidth=1.5)
    ax.annotate(
        f"KS {gap[top]:.3f}",
        (float(xs[top]), float((goods[top] + bads[top]) / 2)),
        xytext=(6, 0),
        textcoords="offset points",
    )
    ax.set_xlabel(label)
    ax.set_ylabel("Cumulative share")
    ax.set_title(f"KS: {sample.name}")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _calibration_chart(tables: list[tuple[str, pd.DataFrame]], scale: MasterScale) -> str:
    fig = _figure(7.2, 4.6)
    ax = fig.add_subplot()
    positions = np.arange(len(scale.labels))
    lows = np.maximum(np.asarray(scale.lowers, dtype="float64"), _LOG_FLOOR)
    highs = np.asarray(scale.uppers, dtype="float64")
    ax.bar(
        positions,
        highs - lows,
        bottom=lows,
        width=0.8,
        color="#e8e8e8",
        edgecolor="#c8c8c8",
        label="grade PD band",
    )
    width = 0.6 / max(len(tables), 1)
    for k, (name, table) in enumerate(tables):
        colour = _COLOURS[k % len(_COLOURS)]
        used = table["n"].to_numpy() > 0
        at = positions[used] - 0.3 + width * (k + 0.5)
        predicted = table["predicted_pd"].to_numpy(dtype="float64")[used]
        observed = np.maximum(
            table["observed_bad_rate"].to_numpy(dtype="float64")[used], _LOG_FLOOR
        )
        low = np.maximum(table["ci_low"].to_numpy(dtype="float64")[used], _LOG_FLOOR)
        high = table["ci_high"].to_numpy(dtype="float64")[used]
        ax.errorbar(
            at,
            observed,
            yerr=np.vstack([np.maximum(observed - low, 0), np.maximum(high - observed, 0)]),
            fmt="o",
            color=colour,
            capsize=3,
            markersize=5,
            label=f"observed, {name} ({CONFIDENCE:.0%} Jeffreys)",
        )
        ax.scatter(at, predicted, marker="_", s=160, color=colour, linewidths=2.2)
        # No bad at all: the point sits on the axis floor, drawn hollow.
        none = table["bad"].to_numpy()[used] == 0
        ax.scatter(at[none], observed[none], s=30, facecolors="white", edgecolors=colour, zorder=3)
    ax.scatter([], [], marker="_", s=160, color="black", linewidths=2.2, label="mean predicted PD")
    ax.set_yscale("log")
    ax.set_ylim(_LOG_FLOOR * 0.8, 1.2)
    ax.set_xticks(positions, list(scale.labels))
    ax.set_xlabel("Grade")
    ax.set_ylabel("Bad rate (log scale)")
    ax.set_title("Calibration by grade")
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


def _distribution_chart(first: Sample, last: Sample, score_psi: float | None) -> str:
    use_score = first.score is not None and last.score is not None
    pairs = [(first, _COLOURS[0])] if first is last else [(first, _COLOURS[0]), (last, _COLOURS[1])]
    values = [
        np.asarray(s.score if use_score and s.score is not None else s.pd_bad, dtype="float64")
        for s, _ in pairs
    ]
    edges = np.histogram_bin_edges(np.concatenate(values), bins=30)
    fig = _figure()
    ax = fig.add_subplot()
    for (sample, colour), vals in zip(pairs, values, strict=True):
        ax.hist(
            vals,
            bins=edges.tolist(),
            density=True,
            histtype="stepfilled",
            alpha=0.35,
            color=colour,
            edgecolor=colour,
            label=f"{sample.name} (n={vals.size})",
        )
    title = "Score distribution" if use_score else "PD distribution"
    if score_psi is not None:
        title += f" (PSI {score_psi:.3f})"
    ax.set_title(title)
    ax.set_xlabel("Score (points)" if use_score else "PD of bad")
    ax.set_ylabel("Density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


# --- report -----------------------------------------------------------------------------


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "–"
        if number.is_integer() and abs(number) >= 1000:
            return f"{int(number):,}"
        return f"{number:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _percent(value: float, digits: int = 2) -> str:
    return "–" if math.isnan(value) else f"{100.0 * value:.{digits}f}%"


def _pd_text(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{100.0 * value:.3g}%"


def render(
    path: Path,
    *,
    title: str,
    model: dict[str, Any],
    samples: list[Sample],
    scale: MasterScale,
    iv: pd.DataFrame,
    characteristics_psi: pd.DataFrame | None,
    score_psi: float | None,
    oracle_auc: float | None,
    comparisons: dict[str, dict[str, float]] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write the validation report of one model to `path` (UTF-8 HTML, charts inline) and
    return the path. `samples` run from development to the most recent; the KS chart and the
    oracle ratio are for the last one, the score distribution compares the first and last."""
    if not samples:
        raise Invalid("a validation report needs at least one sample")
    figures = [discrimination(s.y, s.pd_bad) for s in samples]
    metrics = [
        {
            "name": s.name,
            "auc": f"{m['auc']:.4f}",
            "gini": f"{m['gini']:.4f}",
            "ks": f"{m['ks']:.4f}",
            "brier": f"{m['brier']:.4f}",
            "n": f"{int(m['n']):,}",
            "bad_rate": _percent(m["bad_rate"]),
        }
        for s, m in zip(samples, figures, strict=True)
    ]
    oracle: dict[str, str] | None = None
    if oracle_auc is not None:
        last_auc = figures[-1]["auc"]
        oracle = {
            "auc": f"{oracle_auc:.4f}",
            "sample": samples[-1].name,
            "champion": f"{last_auc:.4f}",
            "ratio": f"{last_auc / oracle_auc:.1%}" if oracle_auc > 0 else "–",
        }

    tables = [(s.name, calibration_by_grade(s.y, s.pd_bad, scale)) for s in samples]
    calibration = [
        {
            "name": name,
            "rows": [
                {
                    "grade": str(r["grade"]),
                    "band": f"{_pd_text(r['lower'])} – {_pd_text(r['upper'])}",
                    "n": f"{r['n']:,}",
                    "bad": f"{r['bad']:,}",
                    "predicted": _pd_text(r["predicted_pd"]),
                    "observed": _pd_text(r["observed_bad_rate"]),
                    "interval": (
                        f"{_pd_text(r['ci_low'])} – {_pd_text(r['ci_high'])}" if r["n"] else "–"
                    ),
                    "p_value": _number(r["p_value"]),
                    "consistent": ("yes" if r["consistent"] else "no") if r["n"] else "–",
                    "light": ("green" if r["consistent"] else "red") if r["n"] else "",
                }
                for r in table.to_dict("records")
            ],
        }
        for name, table in tables
    ]

    facts_order = ("segment", "version", "kind", "created_at", "features")
    facts = [(key, _number(model[key])) for key in facts_order if key in model]
    facts += [(str(k), _number(v, 4)) for k, v in model.items() if k not in facts_order]

    iv_rows = [
        {
            "name": str(r["name"]),
            "iv": f"{float(r['iv']):.4f}",
            "selected": bool(r["selected"]),
            "reason": str(r["reason"]),
        }
        for r in iv.to_dict("records")
    ]
    psi_rows = None
    if characteristics_psi is not None:
        ordered = characteristics_psi.sort_values("psi", ascending=False, kind="stable")
        psi_rows = [
            {
                "name": str(r["name"]),
                "psi": f"{float(r['psi']):.4f}",
                "light": traffic_light(float(r["psi"])),
            }
            for r in ordered.to_dict("records")
        ]
    score_stability = None
    if score_psi is not None:
        score_stability = {"psi": f"{score_psi:.4f}", "light": traffic_light(score_psi)}

    comparison_table = None
    if comparisons:
        keys = list(dict.fromkeys(k for row in comparisons.values() for k in row))
        comparison_table = {
            "columns": keys,
            "rows": [
                {"name": name, "values": [_number(row.get(k), 4) for k in keys]}
                for name, row in comparisons.items()
            ],
        }

    charts = [
        ("ROC curves of every sample", _roc_chart(samples)),
        (f"KS: cumulative bads and goods, {samples[-1].name}", _ks_chart(samples[-1])),
        (
            "Calibration by grade: observed bad rate (dots, with intervals; hollow when no bad,"
            " drawn at the axis floor) against the mean predicted PD (dashes) and the grade"
            " band (grey)",
            _calibration_chart(tables, scale),
        ),
        (
            f"Distribution, {samples[0].name} vs {samples[-1].name}",
            _distribution_chart(samples[0], samples[-1], score_psi),
        ),
    ]

    html = _TEMPLATES.get_template("validation.html").render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        facts=facts,
        metrics=metrics,
        oracle=oracle,
        charts=charts,
        calibration=calibration,
        confidence=f"{CONFIDENCE:.0%}",
        iv_rows=iv_rows,
        psi_rows=psi_rows,
        score_stability=score_stability,
        comparisons=comparison_table,
        notes=notes or [],
        psi_amber=PSI_AMBER,
        psi_red=PSI_RED,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target
