"""Entity resolution: how records reach a person, and why some are left unresolved.

Facts are written by hand here so every rule and every reason is exercised exactly; the
county test at the end checks the rules against the delivered files.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from purecredit.ingest.catalog import load_catalog
from purecredit.profile.records import pivot_sql, record_table
from purecredit.profile.resolve import resolution_sql
from purecredit.store.lake import FACTS_SCHEMA
from tests.profile.conftest import Profiled

SEEN = datetime(2026, 1, 5)
LATER = datetime(2026, 3, 5)


def _facts(
    rows: list[tuple[str, str, str, int, dict[str, str]]], seen: datetime = SEEN
) -> pa.Table:
    """(source, entity, entity_type, record, {field: value}) into fact rows."""
    out = []
    for source, entity, kind, record, fields in rows:
        for name, value in fields.items():
            out.append(
                {
                    "entity": entity, "entity_type": kind, "source": source, "field": name,
                    "value": value, "valid_from": date(2025, 12, 1), "observed_at": seen,
                    "batch_id": f"b-{source}-{seen:%m}", "record": record,
                }
            )  # fmt: skip
    return pa.Table.from_pylist(out, schema=FACTS_SCHEMA)


def _resolve(facts: pa.Table, source: str) -> pd.DataFrame:
    catalog = load_catalog()
    con = duckdb.connect()
    con.register("facts_in", facts)
    for name in ("population_register", "bank_customers", "bank_loans", source):
        spec = catalog.source(name)
        con.execute(
            f"CREATE OR REPLACE TABLE {record_table(spec)} AS {pivot_sql(spec, 'facts_in')}"
        )
    sql = resolution_sql(catalog.source(source))
    return con.sql(f"SELECT * FROM ({sql}) ORDER BY _record").df()


PEOPLE = [
    ("population_register", "id:ann", "person", 0,
     {"resident_id": "id:ann", "name": "name:ann", "phone": "phone:1", "household_no": "h1"}),
    ("population_register", "id:bob", "person", 1,
     {"resident_id": "id:bob", "name": "name:bob", "phone": "phone:2", "household_no": "h1"}),
    # Twins sharing a phone and (in this test) a name token: a match that names two people.
    ("population_register", "id:tw1", "person", 2,
     {"resident_id": "id:tw1", "name": "name:tw", "phone": "phone:3", "household_no": "h2"}),
    ("population_register", "id:tw2", "person", 3,
     {"resident_id": "id:tw2", "name": "name:tw", "phone": "phone:3", "household_no": "h2"}),
]  # fmt: skip


def _bill(
    record: int, account: str, phone: str | None, name: str
) -> tuple[str, str, str, int, dict[str, str]]:
    fields = {"account_no": account, "holder_name": name, "billing_month": "2025-12-01"}
    if phone is not None:
        fields["holder_phone"] = phone
        return ("utility_payments", phone, "person", record, fields)
    return ("utility_payments", account, "account", record, fields)


def test_utility_bills_match_on_phone_and_name_together() -> None:
    bills = [
        _bill(0, "A1", "phone:1", "name:ann"),  # phone + name: Ann
        _bill(1, "A1", None, "name:ann"),  # no phone: Ann through account A1's history
        _bill(2, "A2", "phone:1", "name:bob"),  # Ann's phone, Bob's name: not guessed
        _bill(3, "A3", "phone:9", "name:ann"),  # unknown phone
        _bill(4, "A4", "phone:3", "name:tw"),  # two people match
        _bill(5, "A5", None, "name:bob"),  # no phone, account never matched
    ]
    out = _resolve(_facts(PEOPLE + bills), "utility_payments")
    assert out.person.tolist()[:2] == ["id:ann", "id:ann"]
    assert out._method.tolist()[:2] == ["phone + name tokens", "account history"]
    assert out.person.iloc[2:].isna().all()
    assert out._reason.tolist()[2:] == [
        "phone known but the name differs",
        "phone matches no registered person",
        "phone and name match several people",
        "no phone, and the account is not linked to a person",
    ]


def test_a_link_is_known_only_once_the_record_making_it_has_arrived() -> None:
    """A deposit seen in January whose customer master record arrives in March is tied to the
    person from March on (its `_known_at`), so an earlier as-of date cannot use it."""
    customer = _facts(
        [("bank_customers", "id:ann", "person", 0, {"customer_no": "C1", "resident_id": "id:ann"})],
        seen=LATER,
    )
    deposit = _facts(
        [("bank_deposits", "C1", "account", 0, {"customer_no": "C1", "month": "2025-12-31"})]
    )
    out = _resolve(pa.concat_tables([customer, deposit]), "bank_deposits")
    assert out.person.tolist() == ["id:ann"]
    assert out._known_at.tolist() == [pd.Timestamp(LATER)]


def test_a_customer_number_naming_two_people_is_not_guessed() -> None:
    customers = _facts(
        [
            ("bank_customers", "id:ann", "person", 0, {"customer_no": "C1"}),
            ("bank_customers", "id:bob", "person", 1, {"customer_no": "C1"}),
            ("bank_deposits", "C1", "account", 0, {"customer_no": "C1"}),
            ("bank_deposits", "E1", "account", 1, {"customer_no": "E1", "uscc": "91341600X"}),
        ]
    )
    out = _resolve(customers, "bank_deposits")
    assert out.person.isna().all()
    assert out._reason.iloc[0] == "links to several people or firms"
    assert pd.isna(out._reason.iloc[1]) and out.enterprise.iloc[1] == "91341600X"


@pytest.mark.slow
def test_county_utility_bills_reach_the_person_whose_phone_and_name_they_carry(
    profiled: Profiled,
) -> None:
    """Against the delivered files: the accounts resolved to a person are the accounts of the
    bills carrying that person's registered phone and name."""
    register = pd.read_parquet(
        profiled.county / "sources/population_register/population_register.parquet",
        columns=["公民身份号码", "姓名", "联系电话"],
    ).drop_duplicates()
    unique = register.groupby(["联系电话", "姓名"]).filter(
        lambda g: g["公民身份号码"].nunique() == 1
    )
    bills = pd.concat(
        pd.read_csv(path, encoding="gbk", dtype=str, on_bad_lines="skip", encoding_errors="replace")
        for path in sorted((profiled.county / "sources/utility_payments").glob("*.csv"))
    )
    raw = bills.merge(unique, left_on=["联系电话", "户名"], right_on=["联系电话", "姓名"])
    keys = profiled.tokenizer()
    sample = raw["公民身份号码"].drop_duplicates().sort_values().head(60)
    agree = 0
    for plain in sample:
        expected = set(raw.loc[raw["公民身份号码"] == plain, "用电户号"])
        got = {
            row[0]
            for row in profiled.con.execute(
                "SELECT DISTINCT account_no FROM r_utility_payments WHERE person = ?",
                [keys.token(plain)],
            ).fetchall()
        }
        assert got <= expected, plain[-4:]  # never an account that is not theirs
        agree += got == expected
    # Rows damaged in delivery (a corrupted account number, say) are quarantined, so a few
    # people miss an account; most must match exactly.
    assert agree >= 0.9 * len(sample)
