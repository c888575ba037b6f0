"""The pre-loan investigation report's content (贷前调查报告), for one decision.

Everything comes from the decision row (`decide.store.DECISIONS`: the record, with its
reasons and the limit's and price's working, and the inputs: the application and the part
of the profile it read) and from the lake as it stood when the decision was made (sources'
latest deliveries and cross-source conflicts committed by then), so the report made later
says the same.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import Engine

from purecredit.core.settings import Settings
from purecredit.decide import store
from purecredit.ingest.crosscheck import CROSSCHECK_SOURCE
from purecredit.profile.feature import Kind
from purecredit.profile.features import sections
from purecredit.report import charts
from purecredit.report.subjects import shown
from purecredit.store.lake import Lake
from purecredit.store.lake.views import committed_files
from purecredit.store.ledger import as_utc

RULE_SOURCES = ("rule", "product", "grade", "limit", "authority")


def pre_loan(engine: Engine, settings: Settings, row: dict[str, Any], lang: str) -> dict[str, Any]:
    """What the template shows, from a decision row (`decided`)."""
    record, inputs = row["record"], row["inputs"]
    application = inputs["application"]
    kind: Kind = application["kind"]
    decided_at = as_utc(row["decided_at"])
    read = inputs["profile"]
    modules, used = _modules(kind, read, lang)
    lake = Lake(settings.home / "lake")
    model_reasons = [r for r in record["reasons"] if r["source"] == "model"]
    words = [r[lang] for r in model_reasons]
    impacts = [float(r["detail"].get("impact", 0.0)) for r in model_reasons]
    return {
        "record": record,
        "application": application,
        "identity": shown(engine, settings, row["subject"]),
        "branch": _branch_name(engine, row["branch"]),
        "modules": modules,
        "sources": _freshness(lake, sorted(used), decided_at),
        "conflicts": _conflicts(lake, row["subject"], decided_at),
        "model_reasons": model_reasons,
        "rules": [r for r in record["reasons"] if r["source"] in RULE_SOURCES],
        "reasons_svg": charts.reasons_chart(words, impacts, "") if model_reasons else "",
    }


def _branch_name(engine: Engine, code: str) -> str:
    try:
        return f"{store.branch(engine, code).name} ({code})"
    except Exception:  # a branch since removed from the table: its code still says which
        return code


def _modules(kind: Kind, read: dict[str, Any], lang: str) -> tuple[list[Any], set[str]]:
    """The profile's modules, each with the features the decision read; and their sources."""
    found: list[Any] = []
    used: set[str] = set()
    for _, title, features in sections(kind):
        rows = []
        for feature, column in features:
            if column in read:
                rows.append({"name": column, "value": read[column], "meaning": feature.description,
                             "unit": feature.unit or "", "missing": feature.missing})  # fmt: skip
                used.update(feature.sources)
        if rows:
            found.append({"title": title, "features": rows})
    return found, used


def _markers(lake: Lake, before: datetime) -> list[dict[str, Any]]:
    """The lake's batches as they stood when the decision was made."""
    return [
        m for m in lake.committed_batches() if datetime.fromisoformat(m["committed_at"]) <= before
    ]


@functools.lru_cache(maxsize=32)
def _latest_observed(files: tuple[str, ...]) -> dict[str, Any]:
    """The latest `observed_at` of each source in these facts files. Committed lake batches
    are never rewritten, so the answer for one set of files never changes; every decision
    since the last delivery shares that set, and the scan (about a second on a 100,000-person
    lake) is made once instead of on every report."""
    if not files:
        return {}
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT source, max(observed_at) FROM read_parquet(?, hive_partitioning = false)"
            " GROUP BY source",
            [list(files)],
        ).fetchall()
    return {str(s): t for s, t in rows}


def _freshness(lake: Lake, used: list[str], before: datetime) -> list[dict[str, Any]]:
    """Each source the features read, with its latest delivery (observed_at) by then."""
    # Every source's files, not only the used ones: one scan serves every decision made
    # between two deliveries, whatever it read.
    files = committed_files(lake.root.absolute(), _markers(lake, before)).get("facts", [])
    latest = _latest_observed(tuple(str(f) for f in files))
    return [
        {
            "source": source,
            "latest": None if latest.get(source) is None else latest[source].date().isoformat(),
            "age_days": None
            if latest.get(source) is None
            else (before.date() - latest[source].date()).days,
        }
        for source in used
    ]


def _conflicts(lake: Lake, subject: str, before: datetime) -> list[dict[str, Any]]:
    """The latest cross-check before the decision: which items of this subject disagree
    between sources (the item and sources only; the values may be personal)."""
    checks = [m for m in _markers(lake, before) if m["source"] == CROSSCHECK_SOURCE]
    files = committed_files(lake.root.absolute(), checks[-1:]).get("conflicts", [])
    if not files:
        return []
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT item, authoritative_source, other_source "
            "FROM read_parquet(?, hive_partitioning = false) "
            "WHERE entity = ? ORDER BY 1, 3",
            [[str(f) for f in files], subject],
        ).fetchall()
    return [{"item": i, "authoritative": a, "other": o} for i, a, o in rows]
