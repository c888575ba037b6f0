"""The portfolio drift report (`purecredit portfolio report`, `GET /v1/portfolio`): the
`drift` computations over the ledger, as aggregates fit to leave the data zone.

Results-only egress (DESIGN.md, "Identity and privacy"): no subject, loan or decision id is
read into the result, and any cell counting fewer than `min_cell` borrowers or loans is
published as null with `suppressed: true`. When a row or histogram whose total is published
has exactly one such cell, its smallest other non-zero cell is hidden too, so the first
cannot be recovered by subtraction.

The score PSI's reference sample: a registered model's document keeps its metrics and
cross-validation figures but not its development score distribution, so the reference is
the PDs at decision time of the book's decisions (`DECISIONS.pd`, the latest decision behind
each borrower's credit lines), compared with the latest monitoring day's rescored PDs. The
report says so (`score_psi.reference`).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy import Connection, Engine, Select, func, inspect, select

from purecredit.decide.exposure import credit_lines
from purecredit.decide.store import DECISIONS
from purecredit.lend.play_report import Snapshots
from purecredit.lend.tables import book_days, loan_instalments, loans, repayments
from purecredit.monitor import drift
from purecredit.monitor.rescore import profiles_of
from purecredit.monitor.tables import monitor_scores
from purecredit.profile.features import columns as feature_columns
from purecredit.score.stability import PSI_AMBER, PSI_RED
from purecredit.store.ledger import snapshot

MIN_CELL = 10
REFERENCE = "decision_pd"
REFERENCE_NOTE = (
    "Reference sample: PDs at decision time of the book's decisions (the registered models "
    "keep no development score distribution); current: the latest monitoring day's rescored PDs."
)
KINDS = ("person", "enterprise")
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- reading ---------------------------------------------------------------------------------


def _frame(connection: Connection, query: Select[Any], table: str) -> pd.DataFrame:
    """The query's rows, or an empty frame of its columns when `table` is not there yet."""
    names = [c.name for c in query.selected_columns]
    if not inspect(connection).has_table(table):
        return pd.DataFrame(columns=names)
    return pd.DataFrame(connection.execute(query).all(), columns=names)


def book_decisions(connection: Connection) -> pd.DataFrame:
    """The latest decision behind each borrower's credit lines: subject, pd, grade, inputs."""
    query = select(
        DECISIONS.c.subject,
        DECISIONS.c.pd,
        DECISIONS.c.grade,
        DECISIONS.c.inputs,
        DECISIONS.c.decided_at,
    ).join(
        credit_lines, credit_lines.c.decision_id == DECISIONS.c.decision_id
    )  # no DISTINCT: PostgreSQL cannot compare JSON; one row per subject is kept below
    if not inspect(connection).has_table(credit_lines.name):
        return pd.DataFrame(columns=["subject", "pd", "grade", "inputs"])
    frame = _frame(connection, query, DECISIONS.name).sort_values("decided_at")
    return frame.drop_duplicates("subject", keep="last")[["subject", "pd", "grade", "inputs"]]


def latest_scores(connection: Connection) -> tuple[date | None, pd.DataFrame]:
    """The latest monitoring day and its rescores (pd, grade, decision_grade per borrower)."""
    t = monitor_scores
    day = _frame(connection, select(func.max(t.c.day).label("day")), t.name)
    latest = None if day.empty else day["day"].iloc[0]
    query = select(t.c.pd, t.c.grade, t.c.decision_grade).where(t.c.day == latest)
    return latest, _frame(connection, query, t.name)


def _kind(subject: str) -> str:
    return "person" if subject.startswith("id:") else "enterprise"  # as `monitor.run` tells


def characteristics(engine: Engine, decisions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per kind, `drift.characteristic_stability` of the profile part each decision read
    against the same borrowers' online profile now. Dates are left out: a report date moves
    by its nature, which says nothing of the population."""
    out = {}
    for kind in KINDS:
        mine = decisions[[_kind(str(s)) == kind for s in decisions["subject"]]]
        if mine.empty:
            continue
        reference = pd.DataFrame([dict(i.get("profile") or {}) for i in mine["inputs"]])
        current = profiles_of(engine, kind, sorted(map(str, mine["subject"])))
        types = dict(feature_columns(kind))  # type: ignore[arg-type]
        out[kind] = drift.characteristic_stability(
            reference,
            current,
            numeric=[n for n, t in types.items() if t in ("int", "float")],
            categorical=[n for n, t in types.items() if t in ("text", "bool")],
        )
    return out


def book_history(connection: Connection) -> tuple[pd.DataFrame, Snapshots]:
    """Month-end book figures (`drift.npl_trend`) and every loan rebuilt at those month ends
    (`drift.month_end_dpd`); read in one snapshot (`store.ledger.snapshot`), so the loans,
    their schedules and payments agree."""
    trend = drift.npl_trend(_frame(connection, select(book_days), book_days.name))
    lent = _frame(
        connection,
        select(loans.c.loan_id, loans.c.start, loans.c.amount, loans.c.status, loans.c.closed_on),
        loans.name,
    )
    i = loan_instalments
    due = select(i.c.loan_id, i.c.number, i.c.due_date, i.c.principal, i.c.interest)
    r = repayments
    parts = (
        r.c.overdue_interest,
        r.c.overdue_principal,
        r.c.current_interest,
        r.c.current_principal,
        r.c.prepaid_interest,
        r.c.prepaid_principal,
    )
    scheduled = sum(parts[1:], parts[0])
    paid = select(r.c.loan_id, r.c.paid_on, scheduled.label("amount"))
    lent["amount"] = lent["amount"].astype("float64")
    snapshots = drift.month_end_dpd(
        lent,
        _frame(connection, due, i.name),
        _frame(connection, paid, r.name).astype({"amount": "float64"}),
        list(trend["day"]),
    )
    return trend, snapshots


# --- suppression -----------------------------------------------------------------------------


def hidden_cells(counts: Sequence[int], min_cell: int) -> list[bool]:
    """Which cells of one published row to hide: those counting 1 to `min_cell` - 1 (a zero
    says nobody, and hides no one), and when that leaves exactly one hidden, the smallest
    other non-zero cell too (the row's total is published, so one hidden cell alone could be
    recovered by subtraction)."""
    hide = [0 < n < min_cell for n in counts]
    if sum(hide) == 1:
        others = [(n, k) for k, n in enumerate(counts) if n > 0 and not hide[k]]
        if others:
            hide[min(others)[1]] = True
    return hide


def _num(value: Any, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), digits)


# --- the report ------------------------------------------------------------------------------


def score_section(decisions: pd.DataFrame, scores: pd.DataFrame, min_cell: int) -> dict[str, Any]:
    """The score PSI on the reference deciles, published only when both samples reach
    `min_cell`; a decile's counts, shares and term hidden by `hidden_cells`."""
    reference = decisions["pd"].dropna().to_numpy(dtype="float64")
    current = scores["pd"].dropna().to_numpy(dtype="float64")
    out: dict[str, Any] = {
        "reference": REFERENCE,
        "note": REFERENCE_NOTE,
        "reference_n": int(reference.size),
        "current_n": int(current.size),
        "psi": None,
        "band": None,
        "suppressed": True,
        "bins": [],
    }
    if min(reference.size, current.size) < max(min_cell, 1):
        return out
    found = drift.numeric_psi(reference, current)
    table = found.table
    hide_ref = hidden_cells(table["reference"].tolist(), min_cell)
    hide_cur = hidden_cells(table["current"].tolist(), min_cell)
    for k, row in enumerate(table.to_dict("records")):
        hidden = hide_ref[k] or hide_cur[k]
        out["bins"].append(
            {
                "bin": row["bin"],
                "lower": _num(row["lower"]),
                "upper": _num(row["upper"]),
                "reference": None if hide_ref[k] else int(row["reference"]),
                "current": None if hide_cur[k] else int(row["current"]),
                "reference_share": None if hide_ref[k] else _num(row["reference_share"]),
                "current_share": None if hide_cur[k] else _num(row["current_share"]),
                "contribution": None if hidden else _num(row["contribution"]),
                "suppressed": hidden,
            }
        )
    out |= {"psi": _num(found.psi), "band": found.band, "suppressed": False}
    return out


def characteristic_section(found: dict[str, pd.DataFrame], min_cell: int) -> dict[str, Any]:
    """Each feature's PSI, hidden when either sample is under `min_cell`."""
    out: dict[str, Any] = {}
    for kind, table in found.items():
        rows = []
        for row in table.to_dict("records"):
            hidden = min(int(row["reference_n"]), int(row["current_n"])) < min_cell
            rows.append(
                {
                    "name": row["name"],
                    "type": row["type"],
                    "reference_n": None if hidden else int(row["reference_n"]),
                    "current_n": None if hidden else int(row["current_n"]),
                    "psi": None if hidden else _num(row["psi"]),
                    "band": None if hidden else row["band"],
                    "suppressed": hidden,
                }
            )
        out[kind] = rows
    return out


def migration_section(scores: pd.DataFrame, min_cell: int) -> dict[str, Any]:
    """The migration matrix by decision grade; each row's cells hidden by `hidden_cells`,
    a row of fewer than `min_cell` borrowers hidden whole."""
    found = drift.migration(scores["decision_grade"], scores["grade"])
    grades = [str(g) for g in found.counts.columns]
    rows = []
    for k, decided in enumerate(found.counts.index):
        values = [int(n) for n in found.counts.iloc[k].tolist()]
        total = sum(values)
        hide = [n > 0 for n in values] if total < min_cell else hidden_cells(values, min_cell)
        shares = found.shares.iloc[k].tolist()
        cells = [
            {
                "grade": g,
                "count": None if h else n,
                "share": None if h else _num(s),
                "suppressed": h,
            }
            for g, n, s, h in zip(grades, values, shares, hide, strict=True)
        ]
        small = 0 < total < min_cell
        rows.append(
            {
                "decision_grade": str(decided),
                "borrowers": None if small else total,
                "suppressed": small,
                "cells": cells,
            }
        )
    return {"grades": grades, "rows": rows}


def npl_section(trend: pd.DataFrame, min_cell: int) -> list[dict[str, Any]]:
    """Per month end; a month whose book holds fewer than `min_cell` loans is hidden whole
    (`book_days` keeps no loan count per category, so the month is the cell)."""
    out = []
    for row in trend.to_dict("records"):
        hidden = int(row["loans"]) < min_cell
        entry: dict[str, Any] = {
            "month": row["month"],
            "day": row["day"].isoformat(),
            "suppressed": hidden,
        }
        for name in ("loans", "outstanding", *drift.CATEGORIES, "npl_ratio"):
            value = (
                row[name] if name == "loans" else _num(row[name], 10 if name == "npl_ratio" else 2)
            )
            entry[name] = None if hidden else value
        out.append(entry)
    return out


def vintage_section(snapshots: Snapshots, min_cell: int) -> list[dict[str, Any]]:
    """Per drawdown month; a vintage of fewer than `min_cell` loans is hidden whole."""
    out = []
    for vintage, entry in snapshots.vintages().items():
        hidden = int(entry["loans"]) < min_cell
        out.append(
            {"vintage": vintage, "suppressed": hidden}
            | {k: (None if hidden else v) for k, v in entry.items()}
        )
    return out


def _count_suppressed(value: Any) -> int:
    if isinstance(value, dict):
        return int(value.get("suppressed") is True) + sum(map(_count_suppressed, value.values()))
    if isinstance(value, list):
        return sum(map(_count_suppressed, value))
    return 0


def portfolio(engine: Engine, *, min_cell: int = MIN_CELL) -> dict[str, Any]:
    """The drift report as JSON-ready aggregates (see the module docstring); no identifier of
    any borrower, loan or decision in it."""
    with snapshot(engine) as connection:
        decisions = book_decisions(connection)
        day, scores = latest_scores(connection)
        trend, snapshots = book_history(connection)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "min_cell": min_cell,
        "psi_bands": {"amber": PSI_AMBER, "red": PSI_RED},
        "monitoring_day": None if day is None else day.isoformat(),
        "book_day": None if trend.empty else trend["day"].iloc[-1].isoformat(),
        "score_psi": score_section(decisions, scores, min_cell),
        "characteristics": characteristic_section(characteristics(engine, decisions), min_cell),
        "migration": migration_section(scores, min_cell),
        "npl": npl_section(trend, min_cell),
        "vintages": vintage_section(snapshots, min_cell),
    }
    report["suppressed_cells"] = _count_suppressed(report)
    return report


# --- HTML ------------------------------------------------------------------------------------


def _png(fig: Figure) -> str:
    """The figure as a data URI (base64 PNG): the report is one file, nothing fetched."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _psi_chart(score: dict[str, Any]) -> str:
    fig, ax = _figure()
    bins = score["bins"]
    x = np.arange(len(bins))
    ax.bar(x - 0.2, [_nan(b["reference_share"]) for b in bins], 0.4, label="reference")
    ax.bar(x + 0.2, [_nan(b["current_share"]) for b in bins], 0.4, label="current")
    ax.set_xticks(x, [b["bin"] for b in bins])
    ax.set_ylabel("share of borrowers")
    ax.set_title(f"PD by reference decile: PSI {score['psi']:.3f} ({score['band']})")
    ax.legend(fontsize=8)
    return _png(fig)


def _migration_chart(migration: dict[str, Any]) -> str:
    fig, ax = _figure()
    grid = np.array([[_nan(c["share"]) for c in r["cells"]] for r in migration["rows"]])
    ax.imshow(np.ma.masked_invalid(grid), cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            "–" if np.isnan(value) else f"{value:.0%}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 else "black",
        )
    ax.set_xticks(range(len(migration["grades"])), migration["grades"])
    ax.set_yticks(range(len(migration["rows"])), [r["decision_grade"] for r in migration["rows"]])
    ax.set_xlabel("current grade")
    ax.set_ylabel("decision grade")
    ax.set_title("Grade migration (row shares; – hidden)")
    return _png(fig)


def _npl_chart(npl: list[dict[str, Any]]) -> str:
    fig, ax = _figure()
    ax.plot([r["month"] for r in npl], [_nan(r["npl_ratio"]) for r in npl], marker="o")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.1%}")
    ax.set_title("NPL ratio at month end")
    ax.tick_params(axis="x", labelrotation=45)
    ax.grid(alpha=0.3)
    return _png(fig)


def _vintage_chart(vintages: list[dict[str, Any]], key: str) -> str:
    fig, ax = _figure()
    for v in vintages:
        if not v["suppressed"]:
            points = v[key]
            ax.plot(
                [p["months_on_book"] for p in points],
                [p["share"] for p in points],
                label=v["vintage"],
                linewidth=1.4,
            )
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.1%}")
    ax.set_xlabel("months on book")
    ax.set_title(f"Ever {key.removeprefix('dpd')}+ DPD by drawdown month (share of amount)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return _png(fig)


def _charts(report: dict[str, Any]) -> list[tuple[str, str]]:
    charts = []
    if report["score_psi"]["bins"]:
        charts.append(("Score PSI by decile of the reference PDs", _psi_chart(report["score_psi"])))
    if report["migration"]["rows"]:
        charts.append(("Grade migration", _migration_chart(report["migration"])))
    if any(not r["suppressed"] for r in report["npl"]):
        charts.append(("NPL ratio trend", _npl_chart(report["npl"])))
    if any(not v["suppressed"] for v in report["vintages"]):
        charts.append(("Vintage curves, ever 30+", _vintage_chart(report["vintages"], "dpd30")))
        charts.append(("Vintage curves, ever 90+", _vintage_chart(report["vintages"], "dpd90")))
    return charts


def render_html(report: dict[str, Any]) -> str:
    """The report (`portfolio`'s result) as one self-contained HTML page, charts inline."""
    return _TEMPLATES.get_template("portfolio.html").render(
        report=report, charts=_charts(report), categories=drift.CATEGORIES
    )
