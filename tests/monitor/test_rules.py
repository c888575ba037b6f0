"""Warning rules as versioned data: the packaged file loads, the first matching rule wins
(a borrower's own fact is red where a relative's is orange), and a broken file names its line."""

from __future__ import annotations

from importlib.resources import files

import pytest

from purecredit.core.errors import Invalid, NotFound
from purecredit.monitor.kinds import KINDS
from purecredit.monitor.rules import load_rules, rules_from_text

PACKAGED = (files("purecredit.monitor") / "rules" / "2026.1.yaml").read_text(encoding="utf-8")


def test_the_packaged_rules_load_and_cover_every_kind() -> None:
    rules = load_rules()
    assert rules.version == "2026.1"
    for kind in KINDS:
        assert rules.first_match(kind, 0) is not None, kind


def test_the_first_match_wins_by_hops() -> None:
    rules = load_rules()
    own, relative = (
        rules.first_match("court_enforcement", 0),
        rules.first_match("court_enforcement", 2),
    )
    assert own is not None and relative is not None
    assert (own.severity, own.auto) == ("red", ("freeze",))
    assert (relative.severity, relative.auto) == ("orange", ())
    assert rules.first_match("divorce", 1) is None  # a relative's divorce is not the bank's news


def test_a_broken_rule_names_its_line() -> None:
    broken = PACKAGED.replace("severity: orange", "severity: purple", 1)
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "purple" in t)
    with pytest.raises(Invalid, match=rf"x.yaml line {line}: rules\[\d+\]\.severity"):
        rules_from_text(broken, "x.yaml")


def test_duplicate_ids_and_unknown_kinds_are_refused() -> None:
    twice = PACKAGED.replace("id: W02", "id: W01", 1)
    with pytest.raises(Invalid, match="duplicate rule id 'W01'"):
        rules_from_text(twice, "x.yaml")
    unknown = PACKAGED.replace("kinds: [divorce,", "kinds: [devorce,", 1)
    line = next(i for i, t in enumerate(unknown.splitlines(), 1) if "devorce" in t)
    with pytest.raises(Invalid, match=rf"line {line}: rules\[\d+\]\.kinds\[0\]"):
        rules_from_text(unknown, "x.yaml")
    with pytest.raises(NotFound):
        load_rules("1999.1")
    with pytest.raises(NotFound, match="W99"):
        load_rules().rule("W99")
