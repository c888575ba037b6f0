"""The knobs of a synthetic county: its size, its history, its risk and how messy its data is.

Every default is documented here once; the CLI flags and the manifest read from this object,
so a county can always be rebuilt from its manifest.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SynthConfig(BaseModel):
    """What to build. Same config (seed included), same bytes."""

    model_config = ConfigDict(frozen=True)

    people: int = Field(10_000, ge=200, description="People living in the county.")
    seed: int = Field(20220201, description="Seed of every random draw.")
    months: int = Field(48, ge=36, description="Months of history the sources cover.")
    study_date: date = Field(
        date(2025, 12, 31), description="Last day of history; the truth's 12 months start after it."
    )
    horizon_months: int = Field(
        36, ge=12, description="Months simulated after the study date, for playing loans forward."
    )
    default_rate: float = Field(
        0.06, gt=0.0, lt=0.5, description="Base 12-month default rate after the study date."
    )
    defect_rate: float = Field(
        0.005, ge=0.0, le=0.1, description="Rate of each kind of data defect in each source."
    )
    conflict_rate: float = Field(
        0.005, ge=0.0, le=0.1, description="Rate of cross-source disagreements on a shared fact."
    )
    bureau_report_every: int = Field(
        6, ge=1, description="Months between the credit-bureau reports the bank kept."
    )
    bureau_report_history: int = Field(
        36, ge=0, description="Months before the study month of the oldest bureau report."
    )
    pd_history_months: int = Field(
        36, ge=0, description="Months of quarter-end true PDs kept in the truth (pd_history)."
    )
    reference: Path | None = Field(None, description="Reference facts YAML (None: Bozhou).")

    @field_validator("study_date")
    @classmethod
    def _month_end(cls, value: date) -> date:
        if _next_day(value).day != 1:
            raise ValueError("study_date must be the last day of a month")
        return value


def _next_day(value: date) -> date:
    return date.fromordinal(value.toordinal() + 1)
