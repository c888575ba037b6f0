"""What a check returns: typed values plus the rows that failed, each with a reason a data
steward can act on and a best-guess defect class. Reasons never carry plain PII: values of
protected fields are shown masked, as on a bank receipt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from purecredit.core.masking import mask_name, mask_phone, mask_resident_id
from purecredit.ingest.catalog import Pii
from purecredit.ingest.validate.text import Mask

Defect = Literal["checksum", "date", "missing", "type", "range", "enum"]
Rows = npt.NDArray[np.int64]

_MASKS: dict[Pii, Callable[[str], str]] = {
    "id": mask_resident_id,
    "phone": mask_phone,
    "name": mask_name,
    "address": lambda _: "(address withheld)",
}


@dataclass(frozen=True)
class Failure:
    """Rows (indices into the checked column) that failed one test, and why."""

    rows: Rows
    defect: Defect
    reasons: Sequence[str]


@dataclass(frozen=True)
class Checked:
    """A checked column: typed values (null where missing or failed) and its failures, in
    the order the tests run; no row is in two failures."""

    values: pa.Array
    failures: list[Failure] = field(default_factory=list)


def failure(mask: Mask, defect: Defect, reasons: Callable[[Rows], Sequence[str]]) -> list[Failure]:
    """A one-element list with the failure of the rows in `mask` (empty if none failed);
    `reasons` is only called for the failing rows."""
    rows = np.flatnonzero(mask).astype(np.int64)
    if rows.size == 0:
        return []
    return [Failure(rows, defect, reasons(rows))]


def shown(values: pa.Array, rows: Rows, pii: Pii | None, *, quoted: bool = True) -> list[str]:
    """The values at `rows` for use inside a reason: masked when protected, quoted unless
    they are numbers or dates (`quoted=False`)."""
    texts = values.take(pa.array(rows)).to_pylist()
    mask = _MASKS[pii] if pii is not None else str
    quote = repr if quoted else str
    return [quote(mask(text)) if text is not None else "(missing)" for text in texts]


def number(bound: float) -> str:
    """A bound as people write it: 10, not 10.0."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))
