from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from purecredit.core.crypto import FieldCipher, Tokenizer
from purecredit.core.errors import Invalid
from purecredit.core.keys import derive_key
from purecredit.core.settings import CipherAlgorithm, TokenAlgorithm

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ID = "34052419800101001X"
TOKEN_ALGORITHMS: list[TokenAlgorithm] = ["hmac-sha256", "hmac-sm3"]
CIPHERS: list[CipherAlgorithm] = ["aes-256-gcm", "sm4-gcm"]


def rfc2104_hmac(digest: str, key: bytes, message: bytes) -> str:
    """HMAC written out from RFC 2104 (block size 64 for SHA-256 and SM3), to check hmac.new."""
    padded = key.ljust(64, b"\0")
    inner = hashlib.new(digest, bytes(b ^ 0x36 for b in padded) + message).digest()
    return hashlib.new(digest, bytes(b ^ 0x5C for b in padded) + inner).hexdigest()


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_sm3_known_answer() -> None:
    # GB/T 32905-2016 example 1.
    assert hashlib.new("sm3", b"abc").hexdigest() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


@pytest.mark.parametrize(("algorithm", "digest"), [("hmac-sha256", "sha256"), ("hmac-sm3", "sm3")])
def test_token_is_the_keyed_hmac(algorithm: TokenAlgorithm, digest: str) -> None:
    token = Tokenizer(KEY, algorithm).token(ID)
    assert token == rfc2104_hmac(digest, KEY, ID.encode())
    assert token == token.lower() and len(token) == 64


@pytest.mark.parametrize("algorithm", TOKEN_ALGORITHMS)
def test_tokens_are_stable_per_key_and_differ_across_keys(algorithm: TokenAlgorithm) -> None:
    assert Tokenizer(KEY, algorithm).token(ID) == Tokenizer(KEY, algorithm).token(ID)
    assert Tokenizer(KEY, algorithm).token(ID) != Tokenizer(OTHER_KEY, algorithm).token(ID)
    assert (
        Tokenizer(KEY, algorithm).token(ID) != hashlib.new(algorithm[5:], ID.encode()).hexdigest()
    )


def test_token_algorithms_differ_and_key_is_not_in_repr() -> None:
    assert Tokenizer(KEY, "hmac-sha256").token(ID) != Tokenizer(KEY, "hmac-sm3").token(ID)
    assert KEY.hex() not in repr(Tokenizer(KEY)) and "sm3" in repr(Tokenizer(KEY, "hmac-sm3"))


def test_bad_keys_and_empty_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Tokenizer(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher(b"short")
    with pytest.raises(ValueError, match="empty"):
        Tokenizer(KEY).token("")


@pytest.mark.parametrize("algorithm", CIPHERS)
@given(plaintext=st.text(), context=st.text(max_size=20))
def test_round_trip(algorithm: CipherAlgorithm, plaintext: str, context: str) -> None:
    cipher = FieldCipher(KEY, algorithm)
    token = cipher.encrypt(plaintext, context=context)
    assert cipher.decrypt(token, context=context) == plaintext
    assert "=" not in token and "+" not in token and "/" not in token


@pytest.mark.parametrize(("algorithm", "version"), [("aes-256-gcm", 1), ("sm4-gcm", 2)])
def test_wire_format_is_version_nonce_sealed(algorithm: CipherAlgorithm, version: int) -> None:
    blob = unb64(FieldCipher(KEY, algorithm).encrypt("张三", context="vault.name"))
    nonce, sealed, aad = blob[1:13], blob[13:], bytes([version]) + b"vault.name"
    assert blob[0] == version
    assert len(sealed) == len("张三".encode()) + 16
    if algorithm == "aes-256-gcm":
        assert AESGCM(KEY).decrypt(nonce, sealed, aad).decode() == "张三"
    else:
        sm4_key = derive_key(KEY, b"purecredit field sm4-gcm v1", length=16)
        decryptor = Cipher(algorithms.SM4(sm4_key), modes.GCM(nonce, sealed[-16:])).decryptor()
        decryptor.authenticate_additional_data(aad)
        assert (decryptor.update(sealed[:-16]) + decryptor.finalize()).decode() == "张三"


@pytest.mark.parametrize("algorithm", CIPHERS)
def test_same_plaintext_encrypts_differently(algorithm: CipherAlgorithm) -> None:
    cipher = FieldCipher(KEY, algorithm)
    assert cipher.encrypt(ID) != cipher.encrypt(ID)


def test_either_algorithm_decrypts_what_the_other_wrote() -> None:
    # Changing the field_cipher setting must not strand existing vault rows.
    old = FieldCipher(KEY, "aes-256-gcm").encrypt(ID, context="vault.id")
    new = FieldCipher(KEY, "sm4-gcm").encrypt(ID, context="vault.id")
    assert FieldCipher(KEY, "sm4-gcm").decrypt(old, context="vault.id") == ID
    assert FieldCipher(KEY, "aes-256-gcm").decrypt(new, context="vault.id") == ID


@pytest.mark.parametrize("algorithm", CIPHERS)
def test_wrong_key_or_context_fails_without_leaking(algorithm: CipherAlgorithm) -> None:
    token = FieldCipher(KEY, algorithm).encrypt(ID, context="vault.resident_id")
    attempts = [
        (FieldCipher(OTHER_KEY, algorithm), "vault.resident_id"),
        (FieldCipher(KEY, algorithm), "vault.phone"),
        (FieldCipher(KEY, algorithm), ""),
    ]
    for cipher, context in attempts:
        with pytest.raises(Invalid, match="cannot decrypt") as caught:
            cipher.decrypt(token, context=context)
        assert ID not in str(caught.value) and ID not in str(caught.value.to_problem())


@pytest.mark.parametrize("algorithm", CIPHERS)
@given(data=st.data())
def test_any_tampered_byte_is_detected(algorithm: CipherAlgorithm, data: st.DataObject) -> None:
    cipher = FieldCipher(KEY, algorithm)
    blob = bytearray(unb64(cipher.encrypt("138****1234 and more", context="c")))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    tampered = base64.urlsafe_b64encode(bytes(blob)).decode()
    with pytest.raises(Invalid):
        cipher.decrypt(tampered, context="c")


@pytest.mark.parametrize("garbage", ["", "!!!", "AQ", "A" * 40, "Aw" + "A" * 60])
def test_garbage_tokens_are_invalid(garbage: str) -> None:
    with pytest.raises(Invalid):
        FieldCipher(KEY).decrypt(garbage)


def test_encrypt_many_keeps_missing_values() -> None:
    cipher = FieldCipher(KEY, "sm4-gcm")
    first, missing, empty = cipher.encrypt_many(["张三", None, ""], context="vault.name")
    assert missing is None
    assert first is not None and cipher.decrypt(first, context="vault.name") == "张三"
    assert empty is not None and cipher.decrypt(empty, context="vault.name") == ""


@pytest.mark.parametrize("algorithm", TOKEN_ALGORITHMS)
def test_id_tokens_ignore_the_kind_and_other_kinds_are_domain_separated(
    algorithm: TokenAlgorithm,
) -> None:
    tokenizer = Tokenizer(KEY, algorithm)
    digest = algorithm[5:]
    # Resident-ID tokens are the plain HMAC of the number, as before kinds existed.
    assert (
        tokenizer.token(ID, "id") == tokenizer.token(ID) == rfc2104_hmac(digest, KEY, ID.encode())
    )
    # Other kinds hash "<kind>\x1f<value>", so equal text of different kinds never collides.
    value = "13812341234"
    tokens = {kind: tokenizer.token(value, kind) for kind in ("id", "name", "phone", "address")}
    assert len(set(tokens.values())) == 4
    assert tokens["phone"] == rfc2104_hmac(digest, KEY, b"phone\x1f" + value.encode())
    assert tokenizer.token_many([value, ID], "phone") == [
        tokens["phone"],
        tokenizer.token(ID, "phone"),
    ]


def test_unknown_token_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown token kind"):
        Tokenizer(KEY).token(ID, "email")  # type: ignore[arg-type]
