"""The data zone's master key and the sub-keys derived from it.

One 256-bit master key, from `PURECREDIT_MASTER_KEY` or a key file, never leaves the data
zone. Tokens and field encryption each get their own HKDF-derived key, so a leak of one
purpose's key (or a bug that exposes it) does not expose the other.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from purecredit.core.errors import Misconfigured
from purecredit.core.settings import Settings

logger = logging.getLogger(__name__)

KEY_BYTES = 32
TOKEN_KEY_INFO = b"purecredit token v1"
FIELD_KEY_INFO = b"purecredit field v1"


@dataclass(frozen=True)
class DataZoneKeys:
    """Purpose-specific keys; kept out of `repr` so they never reach a log or traceback."""

    token_key: bytes = field(repr=False)
    field_key: bytes = field(repr=False)


def data_zone_keys(settings: Settings) -> DataZoneKeys:
    """Load the master key and derive the token and field-encryption keys from it."""
    return _derived(load_master_key(settings))


@functools.lru_cache(maxsize=8)
def _derived(master: bytes) -> DataZoneKeys:
    # The gateway tokenises every call's subject: derive once per master key, not per call
    # (the key file is still read each time, so a replaced key takes effect at once).
    return DataZoneKeys(
        token_key=derive_key(master, TOKEN_KEY_INFO),
        field_key=derive_key(master, FIELD_KEY_INFO),
    )


def derive_key(master: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """HKDF-SHA256 (RFC 5869) sub-key for the purpose named by `info`."""
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(master)


def load_master_key(settings: Settings) -> bytes:
    """The 32-byte master key: from settings, else the key file, created outside production.

    Creating a key is only allowed outside production: a production deployment that lost its
    key must stop, because a fresh key would silently orphan every token and ciphertext.
    """
    if settings.master_key is not None:
        return bytes.fromhex(settings.master_key.get_secret_value())
    path = settings.key_path
    if not path.exists():
        if settings.environment == "production":
            raise Misconfigured(
                f"no master key: set PURECREDIT_MASTER_KEY or provide {path}; "
                "production never creates a new key"
            )
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    # Write a private temporary file, then hard-link it into place: the link is atomic and
    # fails if another process got there first, so no reader ever sees a half-written key.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # a concurrent creator won; use its key
            os.link(temporary, path)
            logger.warning("created a new master key file at %s", path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise Misconfigured(
            f"key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError:  # includes UnicodeDecodeError
        key = b""
    if len(key) != KEY_BYTES:
        raise Misconfigured(f"key file {path} must hold exactly 64 hexadecimal characters")
    return key
