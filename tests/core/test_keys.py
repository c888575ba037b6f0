from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from purecredit.core.errors import Misconfigured
from purecredit.core.keys import (
    FIELD_KEY_INFO,
    TOKEN_KEY_INFO,
    data_zone_keys,
    derive_key,
    load_master_key,
)
from purecredit.core.settings import Settings

KEY_HEX = "0123456789abcdef" * 4


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_a_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    key = load_master_key(settings)
    assert len(key) == 32
    assert mode_of(settings.key_path) == 0o600
    assert mode_of(settings.key_path.parent) == 0o700
    assert settings.key_path.read_text().strip() == key.hex()
    assert load_master_key(settings) == key
    assert os.listdir(settings.key_path.parent) == ["master.key"]  # no temporary left behind


def test_each_new_key_is_random(tmp_path: Path) -> None:
    first = load_master_key(Settings(home=tmp_path / "a"))
    second = load_master_key(Settings(home=tmp_path / "b"))
    assert first != second


def test_master_key_setting_wins_over_the_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, master_key=KEY_HEX)
    assert load_master_key(settings) == bytes.fromhex(KEY_HEX)
    assert not settings.key_path.exists()


def test_production_never_creates_a_key(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY_HEX)
    key_file.chmod(0o600)
    settings = Settings(environment="production", key_file=key_file)
    assert load_master_key(settings) == bytes.fromhex(KEY_HEX)
    key_file.unlink()  # lost after start-up
    with pytest.raises(Misconfigured, match="never creates"):
        load_master_key(settings)
    assert not key_file.exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY_HEX)
    key_file.chmod(mode)
    with pytest.raises(Misconfigured, match="chmod 600"):
        load_master_key(Settings(key_file=key_file))


@pytest.mark.parametrize("content", ["abc", "zz" * 32, "ab" * 33, ""])
def test_malformed_key_file_is_refused(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(content)
    key_file.chmod(0o600)
    with pytest.raises(Misconfigured, match="64 hexadecimal"):
        load_master_key(Settings(key_file=key_file))


def test_a_concurrent_creator_wins_and_its_key_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    real_link = os.link

    def other_process_first(src: str | Path, dst: str | Path) -> None:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, KEY_HEX.encode())
        os.close(fd)
        real_link(src, dst)  # now raises FileExistsError, as in a real race

    monkeypatch.setattr(os, "link", other_process_first)
    assert load_master_key(settings) == bytes.fromhex(KEY_HEX)
    assert os.listdir(settings.key_path.parent) == ["master.key"]


def test_threads_racing_to_create_agree_on_one_key(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_master_key(settings))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8
    assert set(keys) == {bytes.fromhex(settings.key_path.read_text())}


def test_sub_keys_are_separate_and_deterministic(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, master_key=KEY_HEX)
    keys = data_zone_keys(settings)
    master = bytes.fromhex(KEY_HEX)
    assert keys.token_key == derive_key(master, TOKEN_KEY_INFO)
    assert keys.field_key == derive_key(master, FIELD_KEY_INFO)
    assert len({keys.token_key, keys.field_key, master}) == 3
    assert data_zone_keys(settings) == keys
    assert keys.token_key.hex() not in repr(keys)
    assert "token_key" not in repr(keys)


def test_hkdf_matches_rfc_5869_test_case_3() -> None:
    # RFC 5869 A.3: SHA-256, no salt, no info.
    okm = derive_key(bytes.fromhex("0b" * 22), b"", length=42)
    assert okm.hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
