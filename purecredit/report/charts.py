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
    """Score reasons as horizontal bars, the strongest on top."""
    with _LOCK, matplotlib.rc_context(_style()):
        fig = _figure(0.6 + 0.35 * max(len(labels), 1))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        ax.barh(y, list(impacts), color="#3a6ea5")
        ax.set_yticks(y, list(labels))
        ax.set_title(title)
        ax.axvline(0, color="#555", linewidth=0.6)
        return _svg(fig)


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
