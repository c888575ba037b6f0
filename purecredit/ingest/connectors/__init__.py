"""Connectors: files, SQL databases and the government data-exchange API, each turning what a
source delivers into `RawBatch`es for validation.

The API connector lives in `purecredit.ingest.connectors.http` and is imported from there:
it needs the HTTP client (``httpx2``), which only API ingestion uses.
"""

from purecredit.ingest.connectors.base import (
    FILE,
    RECORD,
    REJECT_SCHEMA,
    Delivered,
    RawBatch,
    SourceUnavailable,
)
from purecredit.ingest.connectors.files import read_delivered, read_file
from purecredit.ingest.connectors.sql import read_sql

__all__ = [
    "FILE",
    "RECORD",
    "REJECT_SCHEMA",
    "Delivered",
    "RawBatch",
    "SourceUnavailable",
    "read_delivered",
    "read_file",
    "read_sql",
]
