from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from purecredit.core.settings import Settings, get_settings, settings_reference_markdown

REPO = Path(__file__).resolve().parents[2]
KEY_HEX = "ab" * 32


def test_defaults_put_all_state_under_home() -> None:
    settings = Settings()
    assert settings.home == Path(".purecredit")
    assert settings.environment == "development"
    assert settings.ledger_url == "sqlite:///.purecredit/ledger.sqlite"
    assert settings.key_path == Path(".purecredit/keys/master.key")
    assert (settings.token_algorithm, settings.field_cipher) == ("hmac-sha256", "aes-256-gcm")


def test_paths_follow_home_and_overrides(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.ledger_url == f"sqlite:///{tmp_path.as_posix()}/ledger.sqlite"
    assert settings.key_path == tmp_path / "keys" / "master.key"
    other = Settings(home=tmp_path, key_file=tmp_path / "k", database_url="postgresql://db/x")
    assert other.key_path == tmp_path / "k"
    assert other.ledger_url == "postgresql://db/x"


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    monkeypatch.setenv("PURECREDIT_TOKEN_ALGORITHM", "hmac-sm3")
    monkeypatch.setenv("PURECREDIT_FIELD_CIPHER", "sm4-gcm")
    monkeypatch.setenv("PURECREDIT_ENVIRONMENT", "test")
    settings = Settings()
    assert settings.home == tmp_path
    assert (settings.token_algorithm, settings.field_cipher) == ("hmac-sm3", "sm4-gcm")
    assert settings.environment == "test"


def test_rejects_unknown_choices_and_fields() -> None:
    with pytest.raises(ValidationError):
        Settings(token_algorithm="md5")
    with pytest.raises(ValidationError):
        Settings(environment="staging")
    with pytest.raises(ValidationError):
        Settings(hom=Path("x"))  # type: ignore[call-arg]


@pytest.mark.parametrize("bad", ["ab" * 31, "ab" * 33, "zz" * 32, ""])
def test_master_key_must_be_64_hex(bad: str) -> None:
    with pytest.raises(ValidationError, match="64 hexadecimal"):
        Settings(master_key=bad)


def test_master_key_is_hidden_from_repr() -> None:
    settings = Settings(master_key=KEY_HEX)
    assert KEY_HEX not in repr(settings)
    assert KEY_HEX not in str(settings.model_dump())


def test_production_without_any_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PURECREDIT_MASTER_KEY"):
        Settings(environment="production", home=tmp_path)


def test_production_with_a_key_is_accepted(tmp_path: Path) -> None:
    assert Settings(environment="production", home=tmp_path, master_key=KEY_HEX).master_key
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY_HEX)
    assert Settings(environment="production", key_file=key_file).key_path == key_file


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.environment = "production"  # type: ignore[misc]


def test_get_settings_is_cached_and_reads_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path))
    first = get_settings()
    assert first is get_settings()
    assert first.home == tmp_path
    monkeypatch.setenv("PURECREDIT_HOME", str(tmp_path / "other"))
    assert get_settings().home == tmp_path
    get_settings.cache_clear()
    assert get_settings().home == tmp_path / "other"


def test_importing_core_never_builds_settings() -> None:
    # A broken environment must not break imports: settings are built on first use only.
    env = {**os.environ, "PURECREDIT_ENVIRONMENT": "not-a-choice"}
    code = (
        "import purecredit.core.settings as s, purecredit.core.keys, purecredit.core.crypto\n"
        "assert s.get_settings.cache_info().currsize == 0\n"
        "try:\n    s.get_settings()\nexcept Exception:\n    raise SystemExit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert result.returncode == 3, result.stderr.decode()


def test_every_setting_is_documented() -> None:
    page = settings_reference_markdown()
    for name, info in Settings.model_fields.items():
        assert info.description, f"{name} has no description"
        assert f"`PURECREDIT_{name.upper()}`" in page


def test_reference_table_rows() -> None:
    lines = settings_reference_markdown().splitlines()
    assert lines[0] == "# Settings"
    assert (
        "| `PURECREDIT_TOKEN_ALGORITHM` | one of `hmac-sha256`, `hmac-sm3` | `hmac-sha256` |"
        in (settings_reference_markdown())
    )
    rows = [line for line in lines if line.startswith("| `PURECREDIT_")]
    assert len(rows) == len(Settings.model_fields)
    assert all(row.count(" | ") == 3 for row in rows)


def test_docs_settings_page_matches_code() -> None:
    regenerate = (
        'python -c "from purecredit.core.settings import settings_reference_markdown as m; '
        "open('docs/settings.md', 'w').write(m())\""
    )
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert page == settings_reference_markdown(), f"docs/settings.md drifted; run {regenerate}"
