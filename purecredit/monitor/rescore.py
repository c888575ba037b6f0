"""Rescoring the book: every borrower's current online profile through the champion model that
would decide them today, beside the grade their line was granted at. A borrower whose grade
has fallen far since the decision is an event (`pd_downgrade`), and the scores feed the
portfolio's grade migration and score stability.

Batch work (pandas and the compiled scorers' vectorised path), never a decision's path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, select

from purecredit.decide.exposure import LIVE, credit_lines
from purecredit.decide.policy import grade_number
from purecredit.decide.store import DECISIONS as decisions
from purecredit.profile.online import profile_table
from purecredit.score import registry
from purecredit.score.sample import person_segment
from purecredit.store.ledger import snapshot

CHUNK = 5_000  # subjects per IN (...) list
COLUMNS = ("subject", "profile_as_of", "model", "pd", "grade", "decision_grade")


def profiles_of(engine: Engine, kind: str, subjects: list[str]) -> pd.DataFrame:
    """The online profile rows of `subjects` (an empty frame before the first build)."""
    table = profile_table(kind)  # type: ignore[arg-type]
    if not subjects or not inspect(engine).has_table(table.name):
        return pd.DataFrame()
    frames = []
    with snapshot(engine) as connection:
        for i in range(0, len(subjects), CHUNK):
            query = select(table).where(table.c.subject.in_(subjects[i : i + CHUNK]))
            result = connection.execute(query)
            frames.append(pd.DataFrame(result.all(), columns=list(result.keys())))
    return pd.concat(frames, ignore_index=True)


def _decision_grades(engine: Engine, subjects: Iterable[str]) -> dict[str, str]:
    """The grade of the decision behind each subject's latest live line."""
    wanted = set(subjects)
    query = (
        select(credit_lines.c.subject, decisions.c.grade, credit_lines.c.created_at)
        .join(decisions, decisions.c.decision_id == credit_lines.c.decision_id)
        .where(credit_lines.c.status.in_(LIVE))
    )
    out: dict[str, str] = {}
    with snapshot(engine) as connection:
        rows = sorted(connection.execute(query).all(), key=lambda r: r[2])
    for subject, grade, _ in rows:
        if subject in wanted and grade is not None:
            out[subject] = str(grade)
    return out


def _scored(home: Path, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    segments = (
        np.full(len(frame), "enterprise", dtype=object)
        if kind == "enterprise"
        else person_segment(frame)
    )
    parts = []
    for segment in sorted(set(segments.tolist())):
        rows = frame[segments == segment]
        name = registry.scoring_segment(home, kind, str(segment))
        model = registry.load(home, name)
        columns = {
            feature: rows[feature].astype(object).where(rows[feature].notna(), None).to_numpy()
            for feature in model.features
        }
        pds = model.pd_batch(columns)
        parts.append(
            pd.DataFrame(
                {
                    "subject": rows["subject"].to_numpy(),
                    "profile_as_of": rows["as_of"].to_numpy(),
                    "model": f"{name}@{model.version}",
                    "pd": pds,
                    "grade": model.master_scale.grade(pds),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS[:-1])


def rescore(engine: Engine, home: Path, subjects: dict[str, str]) -> pd.DataFrame:
    """`subjects` maps each borrower to its kind ("person" or "enterprise"); borrowers without
    an online profile are left out. Columns: `COLUMNS`."""
    parts = []
    for kind in ("person", "enterprise"):
        wanted = sorted(s for s, k in subjects.items() if k == kind)
        frame = profiles_of(engine, kind, wanted)
        if not frame.empty:
            parts.append(_scored(home, kind, frame))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    grades = _decision_grades(engine, out["subject"])
    out["decision_grade"] = out["subject"].map(grades)
    return out[list(COLUMNS)].sort_values("subject", ignore_index=True)


def downgrades(scores: pd.DataFrame, grades: int, since: dict[str, date]) -> list[dict[str, Any]]:
    """`pd_downgrade` events: a rescored grade `grades` or more worse than the decision's,
    from a profile newer than the borrower's first line. Keyed by the grade reached, so a
    borrower falling further raises again and one staying put does not."""
    out = []
    for record in scores.to_dict("records"):
        subject, decided, grade = str(record["subject"]), record["decision_grade"], record["grade"]
        if not isinstance(decided, str):
            continue  # no graded decision behind the line
        fell = grade_number(str(grade)) - grade_number(decided)
        as_of = pd.Timestamp(record["profile_as_of"]).date()
        if fell >= grades and as_of > since[subject]:
            out.append(
                {
                    "subject": subject,
                    "party": subject,
                    "hops": 0,
                    "relation": "self",
                    "kind": "pd_downgrade",
                    "fact": f"{subject}|{decided}>{grade}",
                    "valid_from": as_of,
                    "known_at": as_of,
                    "amount": float(fell),
                }
            )
    return out
