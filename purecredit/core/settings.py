"""The one settings object, read from `PURECREDIT_*` environment variables.

Built on demand by `get_settings()` (cached), never at import, so tests and tools can build
their own `Settings(...)`. The same field definitions render `docs/settings.md`, and a test
fails when that page drifts from this module.
"""

from __future__ import annotations

import re
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self, Union, get_args, get_origin

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PURECREDIT_"

Environment = Literal["development", "test", "production"]
TokenAlgorithm = Literal["hmac-sha256", "hmac-sm3"]
CipherAlgorithm = Literal["aes-256-gcm", "sm4-gcm"]

_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class Settings(BaseSettings):
    """Deployment settings; every field's `description` is its documentation."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    home: Path = Field(
        default=Path(".purecredit"),
        description="Directory under which all local state lives (ledger, lake, keys).",
    )
    environment: Environment = Field(
        default="development",
        description="Deployment kind; `production` refuses to create keys on its own.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger; unset means SQLite at `<home>/ledger.sqlite`.",
    )
    token_algorithm: TokenAlgorithm = Field(
        default="hmac-sha256",
        description="Keyed hash that turns resident ID numbers into person tokens.",
    )
    field_cipher: CipherAlgorithm = Field(
        default="aes-256-gcm",
        description="Authenticated cipher for sensitive fields kept in the vault.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Data-zone master key as 64 hex characters; unset means read the key file.",
    )
    key_file: Path | None = Field(
        default=None,
        description="File holding the master key; unset means `<home>/keys/master.key`.",
    )
    duckdb_memory: str = Field(
        default="4GB",
        description="Memory DuckDB may use for batch work (profiles); beyond it, joins and "
        "sorts spill to `<home>/tmp/duckdb`.",
    )
    lpr_1y: float = Field(
        default=0.03,
        gt=0,
        lt=1,
        description="1-year Loan Prime Rate (3.00% since 20 May 2025): pricing's reference, "
        "and 4x it the interest courts protect, so no rate goes above it.",
    )
    api_rate_per_minute: int = Field(
        default=6000,
        ge=1,
        description="Requests a minute one API client may make, shared by every worker "
        "(a token bucket in the ledger: a burst of this many, then one every 60/N s).",
    )
    score_pdo: float = Field(
        default=20.0,
        gt=0,
        description="Scorecard points that double the good:bad odds (points to double odds).",
    )
    score_base_points: float = Field(
        default=600.0, description="Scorecard points at the base odds."
    )
    score_base_odds: float = Field(
        default=50.0, gt=0, description="Good:bad odds that score the base points."
    )
    bank_institution_code: str = Field(
        default="B34160000H",
        pattern=r"^[A-Z0-9]{10}$",
        description="The bank's own financial institution code at the credit bureau: its own "
        "accounts and queries are not news from other lenders (default: the synthetic "
        "county's bank).",
    )
    monitor_serious_illness: bool = Field(
        default=True,
        description="Whether post-loan monitoring reads serious-illness claims (only ever for "
        "borrowers with a post-loan care consent; PIPL art. 28). Off: never read.",
    )
    policy: str | None = Field(
        default=None,
        description="Lending policy the counter decides by: a packaged policy's name or a "
        "YAML file; unset means the packaged default.",
    )
    spark_master: str = Field(
        default="local[*]",
        description="Spark master for `--engine spark` batch work: `local[N]`, "
        "`spark://host:7077`, `yarn`, `k8s://...`, or `sc://host:15002` for Spark Connect.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings for `--engine spark`, as JSON "
        '(`{"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "400"}`).',
    )
    spark_lake_uri: str | None = Field(
        default=None,
        description="Where Spark reads the lake, when not at `<home>/lake` on every node: "
        "a copy or mount on HDFS or object storage (`hdfs://nn/purecredit/lake`); "
        "unset means the local folder.",
    )
    monitor_rules: str | None = Field(
        default=None,
        description="Warning rules file for monitoring; unset means the packaged rules.",
    )
    report_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between the automatic report maker's rounds in the API process "
        "(pre-loan, review and post-loan reports of events that have none yet); 0: off.",
    )

    @property
    def county_path(self) -> Path:
        """Where `purecredit demo` keeps its synthetic county (`<home>/county`)."""
        return self.home / "county"

    @field_validator("master_key")
    @classmethod
    def _master_key_is_256_bit_hex(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _HEX_KEY.fullmatch(value.get_secret_value()):
            raise ValueError("master_key must be exactly 64 hexadecimal characters (256 bits)")
        return value

    @model_validator(mode="after")
    def _production_has_a_key(self) -> Self:
        # Fail at start-up rather than at the first encryption; keys.load_master_key checks
        # again because the file could disappear after start-up.
        keyless = self.master_key is None and not self.key_path.is_file()
        if self.environment == "production" and keyless:
            raise ValueError(
                f"production needs {ENV_PREFIX}MASTER_KEY or an existing key file at "
                f"{self.key_path}; a new key is never created in production"
            )
        return self

    @property
    def ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL: `database_url`, or embedded SQLite under `home`."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.home / 'ledger.sqlite').as_posix()}"

    @property
    def key_path(self) -> Path:
        """Where the master key file is (read, or created outside production)."""
        return self.key_file if self.key_file is not None else self.home / "keys" / "master.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use.

    Tests that change the environment call `get_settings.cache_clear()`.
    """
    return Settings()


def settings_reference_markdown() -> str:
    """Render the settings reference page (`docs/settings.md`) from the model fields."""
    lines = [
        "# Settings",
        "",
        "| Environment variable | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        cells = (
            f"`{ENV_PREFIX}{name.upper()}`",
            _type_label(info.annotation),
            _default_label(info.default),
            info.description or "",
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


_TYPE_LABELS: dict[Any, str] = {
    Path: "path",
    str: "string",
    SecretStr: "secret",
    bool: "boolean",
    int: "integer",
}


def _type_label(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    if origin in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        label = " or ".join(_type_label(arg) for arg in inner)
        return f"{label} (optional)" if len(inner) < len(get_args(annotation)) else label
    return _TYPE_LABELS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_label(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, Path):
        return f"`{default.as_posix()}`"
    return f"`{default}`"
