"""The vault: the only place a protected value's plain text is kept, encrypted, in the ledger.

Facts in the lake carry tokens (`id:<hex>`, `name:<hex>` ...); the vault maps each token to
its value encrypted with the data zone's field key, so the data zone, and only it, can show a
customer's own number back to an officer. Each ciphertext is bound to its token (the cipher's
context), so a ciphertext copied onto another token fails to decrypt instead of revealing the
wrong person's value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from purecredit.core.crypto import FieldCipher
from purecredit.core.errors import NotFound

metadata = MetaData()
_COLUMNS = ["token", "kind", "ciphertext"]  # created_at is the database's own clock
_WRITE_CHUNK = 5_000  # rows per executemany
_READ_CHUNK = 900  # tokens per IN (...) lookup, under SQLite's historic 999-parameter limit


def vault_table(meta: MetaData, name: str = "vault") -> Table:
    """The vault's table definition, on `meta` (tests use their own name on a shared server)."""
    return Table(
        name,
        meta,
        Column("token", String(80), primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("ciphertext", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


VAULT = vault_table(metadata)


def ensure_vault(engine: Engine, table: Table = VAULT) -> None:
    """Create the vault table if it does not exist yet."""
    table.metadata.create_all(engine, tables=[table])


class Vault:
    """Insert-if-absent store of (token, kind, encrypted value); works on SQLite and PostgreSQL.

    Tokens this object has stored or seen are remembered, so the monthly files of one delivery
    do not look up the same customers again and again.
    """

    def __init__(self, engine: Engine, cipher: FieldCipher, table: Table = VAULT) -> None:
        self.engine = engine
        self.cipher = cipher
        self.table = table
        self._known: set[str] = set()

    def __repr__(self) -> str:
        return f"Vault(table={self.table.name!r}, url={self.engine.url!r})"

    def put_many(
        self, tokens: Sequence[str], kinds: Sequence[str], plaintexts: Sequence[str]
    ) -> int:
        """Store the values of tokens the vault does not hold yet, in one transaction; a token
        already there keeps its ciphertext (same token, same value). Returns how many were new.
        """
        if not len(tokens) == len(kinds) == len(plaintexts):
            raise ValueError("tokens, kinds and plaintexts must have the same length")
        wanted = {t: (k, p) for t, k, p in zip(tokens, kinds, plaintexts, strict=True)}
        for token in self._known.intersection(wanted):
            del wanted[token]
        if not wanted:
            return 0
        with self.engine.begin() as conn:
            stored: set[str] = set()
            for chunk in _chunks(list(wanted), _READ_CHUNK):
                found = conn.execute(
                    select(self.table.c.token).where(self.table.c.token.in_(chunk))
                )
                stored.update(found.scalars())
            # In token order: the primary-key index is then filled front to back, not at random.
            rows = [
                {
                    "token": token,
                    "kind": kind,
                    "ciphertext": self.cipher.encrypt(plain, context=token),
                }
                for token, (kind, plain) in sorted(wanted.items())
                if token not in stored
            ]
            self._insert(conn, rows)
        self._known.update(wanted)
        return len(rows)

    def _insert(self, conn: Connection, rows: list[dict[str, str]]) -> None:
        """Insert-if-absent at the driver's executemany: SQLAlchemy's per-row parameter
        processing would cost more than the database itself on a county's first ingest."""
        compiled = self._insert_if_absent().compile(dialect=conn.dialect, column_keys=_COLUMNS)
        order = compiled.positiontup
        for batch in _chunks(rows, _WRITE_CHUNK):
            if order is not None:  # qmark (SQLite) or format style: tuples in statement order
                conn.exec_driver_sql(str(compiled), [tuple(r[k] for k in order) for r in batch])
            else:  # named style (psycopg): the dicts as they are
                conn.exec_driver_sql(str(compiled), batch)

    def reveal(self, token: str) -> str:
        """The plain value of a token: for the data zone only, never for a response or log."""
        with self.engine.connect() as conn:
            ciphertext = conn.execute(
                select(self.table.c.ciphertext).where(self.table.c.token == token)
            ).scalar_one_or_none()
        if ciphertext is None:
            raise NotFound("no such token in the vault", field="token")
        return self.cipher.decrypt(ciphertext, context=token)

    def _insert_if_absent(self) -> Insert:
        # Concurrent ingests may race to store the same token; the loser's insert is a no-op.
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(self.table).on_conflict_do_nothing(index_elements=["token"])
        if dialect == "sqlite":
            return sqlite.insert(self.table).on_conflict_do_nothing(index_elements=["token"])
        raise NotImplementedError(f"the vault supports SQLite and PostgreSQL, not {dialect}")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
