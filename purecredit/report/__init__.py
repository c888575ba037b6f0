"""Reports: pre-loan investigation, review and post-loan inspection, in HTML and PDF, in
Chinese and English, made from the ledger alone (docs/reports.md)."""

from __future__ import annotations

from sqlalchemy import Engine

from purecredit.core.settings import Settings
from purecredit.report.maker import ReportMaker
from purecredit.report.render import FORMATS, KINDS, check, html_of, pdf_of
from purecredit.report.stored import Pending, make_pending, pending, put, stored_html

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
    """One report: `kind` pre-loan | review (`ref` a decision id) | post-loan (`ref` a loan
    id, as of the latest book day); `fmt` html | pdf. Raises `NotFound` naming the id and
    field for an unknown id, `Invalid` for a bad kind, language or format.

    A pre-loan report never changes once its decision is made: the stored one is served
    (the same bytes a new rendering would give, without its few hundred milliseconds), and
    one rendered here is stored. Review and post-loan reports move on with reviews and the
    book, so they are rendered now from the ledger."""
    check(kind, lang, fmt)
    html = stored_html(engine, kind, ref, lang) if kind == "pre-loan" else None
    if html is None:
        html, event_at = html_of(engine, settings, kind, ref, lang)
        if kind == "pre-loan":
            put(engine, Pending(kind, ref, lang, event_at), html, event_at)
    return html.encode("utf-8") if fmt == "html" else pdf_of(html)
