"""The relationship graph: edges both ways, relations from the raw registry files, the
two-hop neighbourhood, and the ledger copy answering like the batch graph on both backends."""

from __future__ import annotations

from collections import defaultdict

import pytest
import sqlglot
from sqlalchemy import text

from purecredit.profile.graph import (
    EDGE_TABLE,
    EDGES_SQL,
    create_graph,
    edges_arrow,
    materialise_edges,
    related,
    related_online,
    related_sql,
)
from purecredit.store.ledger import make_engine
from tests.profile.conftest import Profiled
from tests.profile.raw import clean, read_text, registry, tokens

REVERSE = {
    "legal_rep_of": "has_legal_rep",
    "has_legal_rep": "legal_rep_of",
    "shareholder_of": "has_shareholder",
    "has_shareholder": "shareholder_of",
    "supplies": "supplied_by",
    "supplied_by": "supplies",
    "household_member": "household_member",
    "spouse": "spouse",
    "related_enterprise": "related_enterprise",
}


@pytest.fixture(scope="module")
def graph(profiled: Profiled) -> Profiled:
    create_graph(profiled.con)
    return profiled


def test_sql_is_portable() -> None:
    for sql in (EDGES_SQL, related_sql("edges", ":subject")):
        sqlglot.transpile(
            sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
        )


def test_every_edge_has_its_reverse(graph: Profiled) -> None:
    con = graph.con
    kinds = {k for (k,) in con.sql("SELECT DISTINCT kind FROM edges").fetchall()}
    assert kinds == set(REVERSE)
    con.register("reverse", __import__("pyarrow").table(
        {"kind": list(REVERSE), "back": list(REVERSE.values())}))  # fmt: skip
    missing = con.sql("""
        SELECT COUNT(*) FROM edges e JOIN reverse r ON r.kind = e.kind
        LEFT JOIN edges b ON b.src = e.dst AND b.dst = e.src AND b.kind = r.back
          AND b.weight = e.weight
        WHERE b.src IS NULL""").fetchall()[0][0]
    con.unregister("reverse")
    assert missing == 0


def test_registry_relations_appear(graph: Profiled) -> None:
    con = graph.con
    token = tokens(graph)
    reg = registry(graph.county)
    for uscc in reg[reg.legal_rep_id != ""].index[:20]:
        rep = token(reg.loc[uscc, "legal_rep_id"])
        rows = con.execute(
            "SELECT kind FROM edges WHERE src = ? AND dst = ?", [rep, uscc]
        ).fetchall()
        assert ("legal_rep_of",) in rows, uscc
    holders = read_text(graph.county, "enterprise_shareholders")
    holders = holders[holders.uscc.isin(reg.index) & (holders.holder_id != "")]
    holders = clean(holders, ["uscc", "holder_name"], [], [], ids=("holder_id",))
    assert len(holders) > 5
    for row in holders.itertuples():
        weight = con.execute(
            "SELECT weight FROM edges WHERE src = ? AND dst = ? AND kind = 'shareholder_of'",
            [token(row.holder_id), row.uscc],
        ).fetchall()
        assert weight == [(pytest.approx(float(row.share_pct)),)], row.uscc


def _pair_with_other_rep(graph: Profiled) -> tuple[str, str, str]:
    """From the raw files: firms A and B sharing a party, B's legal rep not A's."""
    reg = registry(graph.county)
    holders = read_text(graph.county, "enterprise_shareholders")
    holders = holders[holders.uscc.isin(reg.index)]
    parties: dict[str, set[str]] = defaultdict(set)
    for uscc, rep in reg.legal_rep_id.items():
        if rep:
            parties[uscc].add(rep)
    for row in holders.itertuples():
        parties[row.uscc].add(row.holder_id or row.holder_uscc)
    for a, pa_ in sorted(parties.items()):
        for b, pb in sorted(parties.items()):
            rep_b = reg.loc[b, "legal_rep_id"]
            if a != b and pa_ & pb and rep_b and rep_b != reg.loc[a, "legal_rep_id"]:
                return a, b, tokens(graph)(rep_b)
    raise AssertionError("the small county has no two firms sharing a party")


def test_two_hops_reach_a_related_firms_other_rep(graph: Profiled) -> None:
    a, b, rep_b = _pair_with_other_rep(graph)
    found = related(graph.con, a)
    assert (b, "enterprise", 1, "related_enterprise", None) in found
    assert (rep_b, "person", 2, "related_enterprise/has_legal_rep", b) in found
    assert all(party != a for party, *_ in found)
    one = related(graph.con, a, hops=1)
    assert one == [r for r in found if r[2] == 1]
    with pytest.raises(ValueError):
        related(graph.con, a, hops=3)


def test_online_equals_batch(graph: Profiled, ledger_url: str) -> None:
    engine = make_engine(ledger_url)
    try:
        table = edges_arrow(graph.con)
        assert materialise_edges(engine, table) == table.num_rows
        assert materialise_edges(engine, table) == table.num_rows  # replaced, not appended
        with engine.connect() as connection:
            count = connection.execute(text(f"SELECT COUNT(*) FROM {EDGE_TABLE}")).scalar()
        assert count == table.num_rows
        a, _, rep_b = _pair_with_other_rep(graph)
        core = graph.con.sql(
            "SELECT src FROM edges WHERE kind = 'supplied_by' GROUP BY src ORDER BY COUNT(*) DESC"
        ).fetchall()[0][0]
        for subject in (a, rep_b, core, "no-such-subject"):
            assert related_online(engine, subject) == related(graph.con, subject), subject
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {EDGE_TABLE}"))
        engine.dispose()
