"""Every core test starts from a clean environment and an empty settings cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from purecredit.core.settings import ENV_PREFIX, get_settings


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
