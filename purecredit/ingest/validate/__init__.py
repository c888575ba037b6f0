"""Validation at entry: types, ranges, enums, dates and ID/USCC checksums, vectorised.

`validate(raw, source)` returns the rows that passed, normalised and typed, and one reject
per failed record (first failing field in catalogue order) with a reason a data steward can
act on. See `table` for the flow, `values` and `identifiers` for the checks.
"""

from purecredit.ingest.validate.identifiers import ric_check_digits, uscc_check_characters
from purecredit.ingest.validate.table import (
    REJECT_SCHEMA,
    REQUIRED_MISSING,
    Validated,
    valid_schema,
    validate,
)

__all__ = [
    "REJECT_SCHEMA",
    "REQUIRED_MISSING",
    "Validated",
    "ric_check_digits",
    "uscc_check_characters",
    "valid_schema",
    "validate",
]
