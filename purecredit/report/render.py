"""Reports as HTML and PDF: gather a kind's content, fill its Jinja template, and hand the
same HTML to WeasyPrint for the PDF.

The HTML carries no clock time: every date in it is the ledger's (the decision, the review,
the inspection day), so rendering a report again gives the same bytes and sha256.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from sqlalchemy import Engine

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.settings import Settings
from purecredit.decide import store
from purecredit.report import post_loan, pre_loan, review
from purecredit.report.labels import LABELS, LANGS
from purecredit.store.ledger import as_utc

KINDS: tuple[str, ...] = ("pre-loan", "review", "post-loan")
FORMATS: tuple[str, ...] = ("html", "pdf")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("purecredit.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["pct"] = lambda v: "—" if v is None else f"{float(v) * 100:.2f}%"
    env.filters["plain"] = _plain
    return env


def _money(value: Any) -> str:
    return "—" if value is None else f"{Decimal(str(value)):,.2f}"


def _plain(value: Any) -> str:
    """A profile value or a working figure as text (floats to 4 places, no NaN noise)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | dict):
        return ", ".join(_plain(v) for v in value) if isinstance(value, list) else str(value)
    return str(value)


def _css() -> str:
    return resources.files("purecredit.report").joinpath("templates/report.css").read_text("utf-8")


def check(kind: str, lang: str, fmt: str = "html") -> None:
    if kind not in KINDS:
        raise Invalid(f"a report kind is one of {', '.join(KINDS)}, not {kind!r}", field="kind")
    if lang not in LANGS:
        raise Invalid(f"a report language is one of {', '.join(LANGS)}", field="lang")
    if fmt not in FORMATS:
        raise Invalid(f"a report format is one of {', '.join(FORMATS)}", field="format")


def decided(engine: Engine, decision_id: str) -> dict[str, Any]:
    """The decision row, or `NotFound` naming the id and the field."""
    try:
        return store.decision(engine, decision_id)
    except NotFound:
        raise NotFound(f"no decision {decision_id!r}", field="decision_id") from None


def html_of(
    engine: Engine, settings: Settings, kind: str, ref: str, lang: str, day: date | None = None
) -> tuple[str, datetime]:
    """The report's HTML and its event time. `day` is the post-loan report's as-of day
    (default: the latest finished book day)."""
    check(kind, lang)
    t = LABELS[lang]
    page: dict[str, Any] = {"kind": kind, "lang": lang, "t": t, "css": _css(), "ref": ref}
    if kind == "post-loan":
        on = day or post_loan.default_day(engine, ref)
        page |= post_loan.post_loan(engine, ref, on, lang)
        event_at = datetime.combine(on, time.min, tzinfo=UTC)
    else:
        row = decided(engine, ref)
        page["row"] = row
        if kind == "pre-loan":
            page |= pre_loan.pre_loan(engine, settings, row, lang)
            event_at = as_utc(row["decided_at"])
        else:
            page |= review.review(engine, row)
            event_at = review.event_time(row, page["review"]) or as_utc(row["decided_at"])
    page["event_at"] = event_at
    return _env().get_template(f"{kind}.html").render(page), event_at


def pdf_of(html: str) -> bytes:
    """The HTML as a PDF (WeasyPrint; the CSS names the CJK font, installed by Debian's
    fonts-noto-cjk)."""
    import weasyprint  # type: ignore[import-untyped]  # imported here: it loads Pango, which only PDF rendering needs

    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def sha256(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()
