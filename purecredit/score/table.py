"""What both models need to agree on about an arbitrary table: which columns are numeric and
which are text, and how each kind is presented to a model.

Both the scorecard and the challenger call `column_kinds` on the same training frame, so the
challenger's monotone constraints line up with the scorecard's numeric bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid


def column_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, text) column names; booleans count as numeric, anything else not numeric
    (strings, dates, mixed objects) as text. Columns with no value at all are left out: no
    model can learn from them and optbinning refuses them."""
    numeric: list[str] = []
    text: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if column.notna().sum() == 0:
            continue
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            numeric.append(str(name))
        else:
            text.append(str(name))
    if not numeric and not text:
        raise Invalid("the table has no column with any value to learn from")
    return numeric, text


def as_numbers(column: pd.Series) -> np.ndarray:
    """Float values with NaN for missing, whatever the numeric or boolean dtype (nullable
    `Int64` and `boolean` included)."""
    return column.astype("float64").to_numpy(dtype="float64", na_value=np.nan)


def as_text(column: pd.Series) -> np.ndarray:
    """Object array of strings with NaN for missing, so that `1` and `"1"` are one category
    and pandas 2's object and pandas 3's `str` dtypes look the same to the models."""
    values = column.to_numpy(dtype=object, na_value=np.nan)
    missing = pd.isna(values)
    out = np.array([str(v) for v in values], dtype=object)
    out[missing] = np.nan
    return out


def model_frame(frame: pd.DataFrame, numeric: list[str], text: list[str]) -> pd.DataFrame:
    """The columns a model was fitted on, in a fixed order and representation; a column
    missing from `frame` is an error rather than silently all-missing."""
    absent = [name for name in (*numeric, *text) if name not in frame.columns]
    if absent:
        raise Invalid(f"columns missing from the table: {', '.join(absent)}")
    data: dict[str, np.ndarray] = {name: as_numbers(frame[name]) for name in numeric}
    data.update({name: as_text(frame[name]) for name in text})
    return pd.DataFrame(data, index=frame.index)


OTHER = "(other)"


def frequent_levels(column: pd.Series, min_count: float) -> list[str]:
    """Levels of a text column seen at least `min_count` times, sorted."""
    counts = column.value_counts()
    return sorted(str(level) for level in counts.index[counts >= min_count])


def keep_levels(column: pd.Series, levels: list[str], other: object) -> pd.Series:
    """`column` with every level outside `levels` (rare or never seen in training) replaced by
    `other`; missing values stay missing."""
    rare = column.notna() & ~column.isin(levels)
    return column.mask(rare, other)
