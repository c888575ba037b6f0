"""Protection at entry: every PII field's value becomes a keyed token before anything is
written, and its plain value goes, encrypted, into the vault.

Tokens are `<kind>:<hex>`, the hex an HMAC under the data zone's token key (kind bound into
it, so a name never shares a token with a phone). A resident ID's token is the same person
token every other stage derives, `Tokenizer.token(number)`, so facts from every source join
on it. HMACs are computed once per distinct value of a column, not once per row, and a
protector remembers the values it has tokenised, so the 48 monthly files of a feed (the same
customers month after month) neither recompute an HMAC nor ask the vault about a value again.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from sqlalchemy import Engine

from purecredit.core.crypto import FieldCipher, Tokenizer, TokenKind
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings
from purecredit.ingest.catalog import SourceDef
from purecredit.ingest.vault import Vault, ensure_vault

QUARANTINE_CONTEXT = "quarantine"


class Protector:
    """Tokenises columns and keeps their plain values in the vault."""

    def __init__(self, tokenizer: Tokenizer, cipher: FieldCipher, vault: Vault) -> None:
        self.tokenizer = tokenizer
        self.cipher = cipher
        self.vault = vault
        # Per kind, plain value -> token of every value already tokenised and in the vault.
        # Bounded by the people, firms and places of one data zone (a county: a few 100,000
        # values of a few dozen bytes each); a value enters only once the vault holds it.
        self._tokens: dict[TokenKind, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"Protector({self.tokenizer!r}, {self.cipher!r}, {self.vault!r})"

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> Protector:
        """The data zone's protector: its keys and algorithms, the vault in `engine`'s ledger
        (created if absent)."""
        keys = data_zone_keys(settings)
        cipher = FieldCipher(keys.field_key, settings.field_cipher)
        ensure_vault(engine)
        tokenizer = Tokenizer(keys.token_key, settings.token_algorithm)
        return cls(tokenizer, cipher, Vault(engine, cipher))

    def tokenize(self, values: pa.Array | pa.ChunkedArray, kind: TokenKind) -> pa.Array:
        """Tokens of normalised values (nulls stay null); new values are put in the vault."""
        column = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        encoded = column.cast(pa.string()).dictionary_encode()
        plain: list[str] = encoded.dictionary.to_pylist()
        known = self._tokens.setdefault(kind, {})
        new = [value for value in plain if value not in known]
        if new:
            digests = self.tokenizer.token_many(new, kind)
            tokens = [f"{kind}:{digest}" for digest in digests]
            self.vault.put_many(tokens, [kind] * len(tokens), new)
            known.update(zip(new, tokens, strict=True))
        return pa.array([known[value] for value in plain], pa.string()).take(encoded.indices)

    def reveal_raw(self, ciphertext: str) -> str:
        """The plain raw value of a quarantine row (`encrypt_raw`), for the data zone only."""
        return self.cipher.decrypt(ciphertext, context=QUARANTINE_CONTEXT)


def protect(valid: pa.Table, source: SourceDef, protector: Protector) -> pa.Table:
    """`valid` (a `Validated.table`) with every `pii` field's values replaced by tokens."""
    for name, spec in source.fields.items():
        if spec.pii is None or name not in valid.column_names:
            continue
        tokens = protector.tokenize(valid.column(name), spec.pii)
        valid = valid.set_column(valid.column_names.index(name), name, tokens)
    return valid


def encrypt_raw(
    values: pa.Array | Sequence[str | None], cipher: FieldCipher | Protector
) -> pa.Array:
    """Encrypt quarantined raw values (lines or cells, which may hold PII) under the
    quarantine context; nulls stay null. `Protector.reveal_raw` reads one back."""
    if isinstance(cipher, Protector):
        cipher = cipher.cipher
    texts = values.to_pylist() if isinstance(values, pa.Array) else list(values)
    return pa.array(cipher.encrypt_many(texts, context=QUARANTINE_CONTEXT), pa.string())
