"""The reports' charts as inline SVG: score reasons, repayment history, PD trend.

Drawn with matplotlib's object API (no pyplot state) on the Agg-free SVG canvas, with the
text as glyph paths so neither a browser nor WeasyPrint needs the font. Byte-reproducible:
a fixed `svg.hashsalt` (element ids would otherwise be random) and no date in the metadata,
so a report's sha256 does not change when it is drawn again.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from functools import cache
from html import escape
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from purecredit.core.errors import Misconfigured

CJK_FAMILY = "Noto Sans CJK SC"
_SALT = "purecredit-report"
# rcParams are process-global: one chart at a time, so a maker thread and a request never
# see each other's settings half-applied.
_LOCK = threading.Lock()


@cache
def cjk_font() -> str:
    """The CJK family's name, registered with matplotlib; `Misconfigured` when absent.

    matplotlib's font cache may predate the font's installation (or skip .ttc collections),
    so the system's font files are searched through `font_manager` and added by hand."""
    wanted = font_manager.FontProperties(family=CJK_FAMILY)
    try:
        font_manager.findfont(wanted, fallback_to_default=False)
        return CJK_FAMILY
    except ValueError:
        pass
    for path in font_manager.findSystemFonts():
        if "NotoSansCJK" in path.replace(" ", "") and "Regular" in path:
            font_manager.fontManager.addfont(path)
    try:
        font_manager.findfont(wanted, fallback_to_default=False)
    except ValueError:
        raise Misconfigured(
            f"no CJK font for the reports' charts: install {CJK_FAMILY} "
            "(Debian: apt-get install fonts-noto-cjk)"
        ) from None
    return CJK_FAMILY


def _svg(fig: Figure) -> str:
    """The figure as an `<svg>` element to inline (no XML prolog, no date)."""
    buffer = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None})  # type: ignore[no-untyped-call]
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(height: float) -> Figure:
    return Figure(figsize=(6.4, height), layout="constrained")


def _style() -> Any:  # rcParams keys are Literal-typed in the stubs
    return {
        "svg.hashsalt": _SALT,
        "svg.fonttype": "path",
        "font.family": [cjk_font(), "DejaVu Sans"],
        "font.size": 9,
        "axes.unicode_minus": False,  # the CJK font has no U+2212 minus
    }


def reasons_chart(labels: Sequence[str], impacts: Sequence[float], title: str) -> str:
    """Score reasons as horizontal bars, the strongest on top, drawn as SVG here.

    Written by hand, not with matplotlib like the other charts: it is on the pre-loan
    report, a page an officer opens from the console, and matplotlib took 70-110 ms to lay
    it out (a third of the page's time budget) for a few rectangles. The labels are SVG
    text in the page's font (the report's CSS names Noto Sans CJK, which WeasyPrint embeds).
    """
    row, label_w, bar_w, pad = 22, 260, 300, 6
    top = 24 if title else 4
    height = top + row * max(len(labels), 1) + pad
    biggest = max((abs(v) for v in impacts), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{label_w + bar_w + 60}"'
        f' height="{height}" viewBox="0 0 {label_w + bar_w + 60} {height}"'
        ' font-family="Noto Sans CJK SC, sans-serif" font-size="12">'
    ]
    if title:
        parts.append(f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>')
    for i, (label, value) in enumerate(zip(labels, impacts, strict=True)):
        y = top + i * row
        width = round(bar_w * abs(value) / biggest, 1)
        colour = "#3a6ea5" if value >= 0 else "#a53a3a"
        shown = _fit(label, label_w - 2 * pad)
        parts.append(
            f'<text x="{label_w - pad}" y="{y + 15}" text-anchor="end"><title>{escape(label)}'
            f"</title>{escape(shown)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{width}" height="{row - 8}"'
            f' fill="{colour}"/>'
            f'<text x="{label_w + width + pad}" y="{y + 15}">{value:.2f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fit(label: str, room: float) -> str:
    """The label, cut with an ellipsis to what fits `room` pixels at 12 px (a CJK character
    is about 12 px wide, any other about 7): the full text stays in the bar's title."""
    used = 0.0
    for i, char in enumerate(label):
        used += 12.0 if ord(char) > 0x2E80 else 7.0
        if used > room:
            return label[: max(i - 1, 0)] + "…"
    return label


def repayment_chart(
    months: Sequence[str], due: Sequence[float], paid: Sequence[float], names: Sequence[str]
) -> str:
    """Due beside paid, by month (`names`: the two series' labels, then the title)."""
    with _LOCK, matplotlib.rc_context(_style()):
        fig = _figure(2.8)
        ax = fig.add_subplot()
        x = range(len(months))
        ax.bar([i - 0.2 for i in x], list(due), width=0.4, label=names[0], color="#b0b0b0")
        ax.bar([i + 0.2 for i in x], list(paid), width=0.4, label=names[1], color="#3a6ea5")
        ax.set_xticks(list(x), list(months), rotation=45, ha="right")
        ax.set_title(names[2])
        ax.legend(frameon=False)
        return _svg(fig)


def pd_chart(days: Sequence[str], pds: Sequence[float], title: str) -> str:
    """PD over the days it was scored (the decision's first), in percent."""
    with _LOCK, matplotlib.rc_context(_style()):
        fig = _figure(2.6)
        ax = fig.add_subplot()
        ax.plot(list(days), [p * 100 for p in pds], marker="o", color="#a53a3a")
        ax.set_ylabel("PD %")
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=45)
        return _svg(fig)
