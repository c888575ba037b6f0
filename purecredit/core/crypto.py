"""Person tokens (keyed HMAC) and authenticated field encryption, each in two national flavours.

SHA-256 / AES-256-GCM are the defaults; SM3 / SM4-GCM are there because Chinese banks'
security reviews usually require the national algorithms (GM/T 0004 SM3, GM/T 0002 SM4).
Keys come from `purecredit.core.keys`; nothing here reads settings or files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from purecredit.core.errors import Invalid, Misconfigured
from purecredit.core.keys import KEY_BYTES, derive_key
from purecredit.core.settings import CipherAlgorithm, TokenAlgorithm

_DIGESTS: Final[dict[TokenAlgorithm, str]] = {"hmac-sha256": "sha256", "hmac-sm3": "sm3"}
# What a token stands for; every kind but `id` is bound into the HMAC message.
TokenKind = Literal["id", "name", "phone", "address"]
TOKEN_KINDS: Final[tuple[TokenKind, ...]] = ("id", "name", "phone", "address")
# First byte of every ciphertext: which algorithm made it, so data written before a change of
# the `field_cipher` setting stays readable.
_VERSIONS: Final[dict[CipherAlgorithm, int]] = {"aes-256-gcm": 1, "sm4-gcm": 2}
_ALGORITHMS: Final[dict[int, CipherAlgorithm]] = {v: k for k, v in _VERSIONS.items()}
_NONCE_BYTES = 12  # the GCM standard nonce (NIST SP 800-38D)
_TAG_BYTES = 16
_SM4_KEY_INFO = b"purecredit field sm4-gcm v1"


def _message(value: str, kind: TokenKind) -> bytes:
    # Unit separator (0x1F) between kind and value: neither a kind nor normalised text holds
    # it, so no (kind, value) pair can spell another's message.
    if kind == "id":
        return value.encode("utf-8")
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    return f"{kind}\x1f{value}".encode()


def _require_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"key must be {KEY_BYTES} bytes, not {len(key)}")


class Tokenizer:
    """Turns a normalised resident ID number (or name, phone, address) into a stable keyed token.

    A plain or salted hash is not enough: there are only about 10^11 valid ID numbers
    (region x birth date x sequence), so anyone holding the hash (and the salt) can enumerate
    them all in hours. A keyed HMAC cannot be reversed without the key, which never leaves
    the data zone. The same key always gives the same token, so records join across sources.

    The kind of value is bound into the HMAC (domain separation), so a name and a phone
    number with the same text never share a token. Resident IDs (kind ``id``) are hashed
    as they are, so person tokens stay those every earlier stage derived.
    """

    def __init__(self, key: bytes, algorithm: TokenAlgorithm = "hmac-sha256") -> None:
        _require_key(key)
        digest = _DIGESTS[algorithm]
        try:
            hashlib.new(digest)
        except ValueError:
            raise Misconfigured(f"this OpenSSL build has no {digest} for {algorithm}") from None
        self._key = key
        self._digest = digest
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return f"Tokenizer(algorithm={self.algorithm!r})"

    def token(self, normalised: str, kind: TokenKind = "id") -> str:
        """Lowercase hex HMAC of a normalised value; for IDs pass `ResidentId.number`, never
        raw input (another spelling of the same number would give another token)."""
        if not normalised:
            raise ValueError("cannot tokenise an empty identifier")
        return hmac.digest(self._key, _message(normalised, kind), self._digest).hex()

    def lake_key(self, normalised: str, kind: TokenKind = "id") -> str:
        """The key a protected value has in the lake (`id:<token>`): the kind stays readable
        so a key says what it stands for without revealing it."""
        return f"{kind}:{self.token(normalised, kind)}"

    def token_many(self, values: Iterable[str], kind: TokenKind = "id") -> list[str]:
        """`token` over a column of distinct values, for bulk protection at ingest."""
        return [self.token(value, kind) for value in values]


class FieldCipher:
    """Authenticated encryption of one text field, bound to a context such as the field name.

    The context is authenticated (GCM associated data), so a ciphertext copied into another
    field, or decrypted with another key, fails instead of yielding wrong plaintext. Output is
    URL-safe base64 (unpadded) of: version byte, 12-byte random nonce, ciphertext and tag.
    """

    def __init__(self, key: bytes, algorithm: CipherAlgorithm = "aes-256-gcm") -> None:
        _require_key(key)
        self.algorithm = algorithm
        self._aes = AESGCM(key)
        # SM4 takes a 128-bit key: derive an independent one rather than truncate the AES key.
        self._sm4_key = derive_key(key, _SM4_KEY_INFO, length=16)

    def __repr__(self) -> str:
        return f"FieldCipher(algorithm={self.algorithm!r})"

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt with a fresh random nonce; equal plaintexts give different outputs."""
        version = _VERSIONS[self.algorithm]
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aad = _associated_data(version, context)
        data = plaintext.encode("utf-8")
        if self.algorithm == "aes-256-gcm":
            sealed = self._aes.encrypt(nonce, data, aad)
        else:
            encryptor = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce)).encryptor()
            encryptor.authenticate_additional_data(aad)
            sealed = encryptor.update(data) + encryptor.finalize() + encryptor.tag
        blob = bytes([version]) + nonce + sealed
        return base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str, *, context: str = "") -> str:
        """Decrypt a value from `encrypt` (under either algorithm); raise `Invalid` if it fails.

        The error never says more than that decryption failed, so it cannot leak plaintext.
        """
        failure = Invalid(
            "cannot decrypt: wrong key, wrong context or tampered data", field=context or None
        )
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise failure from None
        if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] not in _ALGORITHMS:
            raise failure
        version, nonce, sealed = blob[0], blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        aad = _associated_data(version, context)
        try:
            if _ALGORITHMS[version] == "aes-256-gcm":
                data = self._aes.decrypt(nonce, sealed, aad)
            else:
                ciphertext, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
                cipher = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce, tag))
                decryptor = cipher.decryptor()
                decryptor.authenticate_additional_data(aad)
                data = decryptor.update(ciphertext) + decryptor.finalize()
            return data.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise failure from None

    def encrypt_many(self, values: Sequence[str | None], *, context: str = "") -> list[str | None]:
        """Encrypt a column for bulk writes; missing values stay `None`."""
        return [None if value is None else self.encrypt(value, context=context) for value in values]


def _associated_data(version: int, context: str) -> bytes:
    # The version byte is authenticated too, so the algorithm cannot be swapped under a tag.
    return bytes([version]) + context.encode("utf-8")
