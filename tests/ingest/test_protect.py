"""Protection at entry: PII becomes keyed tokens, plain values go encrypted into the vault
(on SQLite and PostgreSQL), quarantined raw values are encrypted, and nothing plain is left."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Engine, MetaData, Table, func, select, update

from purecredit.core.crypto import FieldCipher, Tokenizer, TokenKind
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.protect import Protector, encrypt_raw, protect
from purecredit.ingest.validate import validate
from purecredit.ingest.vault import VAULT, Vault, ensure_vault, vault_table
from purecredit.store.ledger import make_engine
from purecredit.synth.manifest import Manifest
from tests.ingest.test_validate import read_delivery

CATALOG = load_catalog()
KEY_HEX = "5a" * 32
TOKEN = re.compile(r"^(id|name|phone|address):[0-9a-f]{64}$")
ID = "11010519491231002X"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, master_key=KEY_HEX)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture
def protector(settings: Settings, engine: Engine) -> Protector:
    return Protector.from_settings(settings, engine)


@pytest.fixture
def ledger_vault(ledger_url: str) -> Iterator[Vault]:
    """A vault under a table name of its own, on each ledger backend, dropped afterwards."""
    engine = make_engine(ledger_url)
    table = vault_table(MetaData(), f"vault_test_{uuid.uuid4().hex[:12]}")
    ensure_vault(engine, table)
    try:
        yield Vault(engine, FieldCipher(bytes(range(32)), "aes-256-gcm"), table)
    finally:
        table.drop(engine, checkfirst=True)
        engine.dispose()


def vault_rows(vault: Vault) -> int:
    with vault.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(vault.table)).scalar_one())


# --- tokens --------------------------------------------------------------------------------------


def test_id_tokens_are_the_person_tokens_every_stage_derives(
    protector: Protector, settings: Settings
) -> None:
    keys = data_zone_keys(settings)
    person = Tokenizer(keys.token_key, settings.token_algorithm).token(ID)
    tokens = protector.tokenize(pa.array([ID, None, ID]), "id").to_pylist()
    assert tokens == [f"id:{person}", None, f"id:{person}"]


def test_the_same_text_of_different_kinds_never_shares_a_token(protector: Protector) -> None:
    value = pa.array(["13812345678"])
    tokens = {kind: protector.tokenize(value, kind)[0].as_py() for kind in ("name", "phone")}
    assert tokens["name"] != tokens["phone"]
    assert tokens["name"].startswith("name:") and tokens["phone"].startswith("phone:")
    assert tokens["name"][5:] != tokens["phone"][6:]


def test_from_settings_creates_the_vault_and_reveals_what_it_stored(
    protector: Protector, engine: Engine
) -> None:
    [token] = protector.tokenize(pa.chunked_array([["张三"]]), "name").to_pylist()
    assert protector.vault.table is VAULT
    assert protector.vault.reveal(token) == "张三"
    with engine.connect() as conn:
        stored = conn.execute(select(VAULT.c.kind, VAULT.c.ciphertext)).one()
    assert stored.kind == "name" and "张三" not in stored.ciphertext


# --- protecting a county's records ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["population_register", "bank_customers", "utility_payments", "credit_village"]
)
def test_protection_leaves_no_plain_pii(
    name: str, small_county: tuple[Path, Manifest], protector: Protector
) -> None:
    root, _ = small_county
    source = CATALOG.sources[name]
    pii = {field: spec.pii for field, spec in source.fields.items() if spec.pii}
    raw = read_delivery(root, source, skip=_unreadable(root))
    valid = validate(raw, source).table
    protected = protect(valid, source, protector)

    plain = {v for field in pii for v in valid[field].to_pylist() if v is not None}
    plain |= {str(v) for field in pii for v in raw[field].to_pylist() if v is not None}
    assert len(plain) > 100
    digits = {v for v in plain if re.fullmatch(r"[0-9]{10,17}[0-9X]", v)}
    for column in protected.column_names:
        values = protected[column]
        if not pa.types.is_string(values.type):
            continue
        cells = {v for v in values.to_pylist() if v is not None}
        assert not cells & plain, column
        for cell in cells:  # no ID or phone hidden inside a longer text either
            for run in re.findall(r"\d{11,}", cell):
                pieces = {run[i : i + k] for k in (11, 15, 18) for i in range(len(run) - k + 1)}
                assert not pieces & digits, column
    for field, kind in pii.items():
        tokens = protected[field].drop_null().to_pylist()
        assert tokens and all(TOKEN.match(t) and t.startswith(f"{kind}:") for t in tokens)
        # Same value, same token; a null stays null; the vault gives the value back.
        assert protected[field].null_count == valid[field].null_count
        before, after = valid[field].to_pylist(), protected[field].to_pylist()
        pairs = {(b, a) for b, a in zip(before, after, strict=True) if b is not None}
        assert len({b for b, _ in pairs}) == len(pairs) == len({a for _, a in pairs})
        for value, token in sorted(pairs)[:20]:
            assert protector.vault.reveal(token) == value
    others = [c for c in valid.column_names if c not in pii]
    assert protected.select(others).equals(valid.select(others))


def _unreadable(root: Path) -> set[tuple[str, int]]:
    defects = pd.read_parquet(root / "truth" / "defects.parquet")
    lines = defects[defects.defect.isin(["bad_encoding", "wrong_column_count"])]
    return set(zip(lines.file, lines.record, strict=True))


# --- the vault on both ledger backends ------------------------------------------------------------


def test_vault_puts_are_idempotent_and_round_trip(ledger_vault: Vault) -> None:
    tokens = [f"id:{i:064x}" for i in range(12_345)]  # several write and lookup chunks
    plain = [f"{i:018d}" for i in range(12_345)]
    assert ledger_vault.put_many(tokens, ["id"] * len(tokens), plain) == len(tokens)
    assert ledger_vault.put_many(tokens, ["id"] * len(tokens), plain) == 0
    # A fresh vault object (nothing remembered) finds them in the table, and adds only the new.
    fresh = Vault(ledger_vault.engine, ledger_vault.cipher, ledger_vault.table)
    more = [*tokens[:10], "name:" + "f" * 64]
    assert fresh.put_many(more, ["id"] * 10 + ["name"], [*plain[:10], "李四"]) == 1
    assert vault_rows(ledger_vault) == len(tokens) + 1
    assert fresh.reveal(tokens[7]) == plain[7] and ledger_vault.reveal(more[-1]) == "李四"
    with pytest.raises(NotFound):
        fresh.reveal("id:" + "0" * 63 + "x")


def test_vault_insert_ignores_a_token_a_concurrent_writer_stored(ledger_vault: Vault) -> None:
    token = "phone:" + "a" * 64
    row = {
        "token": token,
        "kind": "phone",
        "ciphertext": ledger_vault.cipher.encrypt("13812345678", context=token),
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    with ledger_vault.engine.begin() as conn:
        conn.execute(ledger_vault._insert_if_absent(), [row])
        conn.execute(ledger_vault._insert_if_absent(), [{**row, "ciphertext": "other"}])
    assert ledger_vault.reveal(token) == "13812345678"


def test_a_ciphertext_moved_to_another_token_does_not_decrypt(ledger_vault: Vault) -> None:
    first, second = "name:" + "1" * 64, "name:" + "2" * 64
    ledger_vault.put_many([first, second], ["name", "name"], ["张三", "李四"])
    table: Table = ledger_vault.table
    with ledger_vault.engine.begin() as conn:
        moved = conn.execute(select(table.c.ciphertext).where(table.c.token == first)).scalar()
        conn.execute(update(table).where(table.c.token == second).values(ciphertext=moved))
    assert ledger_vault.reveal(first) == "张三"
    with pytest.raises(Invalid, match="cannot decrypt") as caught:
        ledger_vault.reveal(second)
    assert "张三" not in str(caught.value)


def test_put_many_needs_aligned_columns(ledger_vault: Vault) -> None:
    with pytest.raises(ValueError, match="same length"):
        ledger_vault.put_many(["id:" + "0" * 64], [], ["x"])


# --- quarantined raw values -----------------------------------------------------------------------


def test_raw_values_are_encrypted_under_the_quarantine_context(protector: Protector) -> None:
    raws = [ID, None, "张三,13812345678,安徽省亳州市"]
    sealed = encrypt_raw(pa.array(raws), protector)
    assert sealed.null_count == 1 and sealed.type == pa.string()
    assert not {v for v in sealed.to_pylist() if v} & {r for r in raws if r}
    assert [protector.reveal_raw(v) if v else None for v in sealed.to_pylist()] == raws
    assert encrypt_raw(raws[:1], protector.cipher).to_pylist()[0] != sealed[0].as_py()
    with pytest.raises(Invalid):  # bound to its context: not readable as a vault entry
        protector.cipher.decrypt(sealed[0].as_py(), context=ID)


def test_values_seen_before_are_neither_hashed_nor_stored_again(
    protector: Protector, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = protector.tokenize(pa.array(["张三", "李四", None, "张三"]), "name")
    hashed: list[str] = []
    original = protector.tokenizer.token_many

    def counting(values: list[str], kind: TokenKind = "id") -> list[str]:
        hashed.extend(values)
        return original(values, kind)

    monkeypatch.setattr(protector.tokenizer, "token_many", counting)
    again = protector.tokenize(pa.array(["李四", "王五", "张三"]), "name")
    assert hashed == ["王五"]  # the month's new customer only
    new = f"name:{protector.tokenizer.token('王五', 'name')}"
    assert again.to_pylist() == [first[1].as_py(), new, first[0].as_py()]
    assert protector.vault.reveal(again[1].as_py()) == "王五"
