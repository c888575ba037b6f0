"""The warnings' evaluation arithmetic on a hand-built book: which warnings count, which
defaults a warning preceded, the lead, the base rate over borrowers at risk."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from purecredit.monitor.evaluate import Book, Loan, _measure, base_rate

START = date(2026, 1, 5)
END = date(2026, 12, 31)


def _book() -> Book:
    # a defaults 120 days after its warning; b is warned and never defaults; c defaults
    # unwarned; d was warned after defaulting (not at risk: not scored); e is never warned.
    loans = [Loan(s, START, None) for s in "abcde"]
    defaults = {"a": date(2026, 6, 3), "c": date(2026, 7, 1), "d": date(2026, 3, 1)}
    warned = [
        ("a", "W01", date(2026, 2, 3)),
        ("b", "W05", date(2026, 2, 5)),
        ("d", "W01", date(2026, 4, 5)),
    ]
    runs = [date(2026, 2, 5), date(2026, 3, 5)]
    return Book(END, loans, defaults, warned, runs, [("a", date(2026, 2, 3), Decimal(500))])


def test_precision_recall_and_lead() -> None:
    book = _book()
    figures = _measure(book, book.warnings)
    assert figures["warnings_scored"] == 2  # d's came after its default
    assert figures["precision_6m"] == 0.5  # a of (a, b)
    # defaults after the first run: a (warned 120 days before), c (not), d (warned after)
    assert figures["defaults"] == 3
    assert figures["recall_6m"] == round(1 / 3, 6)
    assert figures["median_lead_days"] == (date(2026, 6, 3) - date(2026, 2, 3)).days


def test_the_base_rate_counts_borrowers_at_risk_on_each_run() -> None:
    rate, exposures = base_rate(_book())
    # 5 Feb: a, b, c, d, e at risk, a and c default within 182 days (d on 1 Mar too) -> 3/5;
    # 5 Mar: d has defaulted: a, b, c, e at risk, a and c default -> 2/4.
    assert exposures == 9
    assert rate == round(5 / 9, 6)


def test_a_warning_too_late_to_judge_is_not_scored() -> None:
    book = _book()
    late = [("b", "W05", END - timedelta(days=30))]
    assert _measure(book, late)["warnings_scored"] == 0
