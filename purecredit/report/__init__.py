"""Reports: pre-loan investigation, review and post-loan inspection, in HTML and PDF, in
Chinese and English, made from the ledger alone (docs/reports.md)."""

from __future__ import annotations

from sqlalchemy import Engine

from purecredit.core.settings import Settings
from purecredit.report.maker import ReportMaker
from purecredit.report.render import FORMATS, KINDS, check, html_of, pdf_of
from purecredit.report.stored import Pending, make_pending, pending

__all__ = [
    "FORMATS",
    "KINDS",
    "Pending",
    "ReportMaker",
    "html_of",
    "make_pending",
    "pdf_of",
    "pending",
    "render",
]


def render(engine: Engine, settings: Settings, kind: str, ref: str, lang: str, fmt: str) -> bytes:
    """One report, rendered now from the ledger: `kind` pre-loan | review (`ref` a decision
    id) | post-loan (`ref` a loan id, as of the latest book day); `fmt` html | pdf. Raises
    `NotFound` naming the id and field for an unknown id, `Invalid` for a bad kind, language
    or format."""
    check(kind, lang, fmt)
    html, _ = html_of(engine, settings, kind, ref, lang)
    return html.encode("utf-8") if fmt == "html" else pdf_of(html)
