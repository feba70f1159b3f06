"""Shared test set-up."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own replication cache, never the user's ``~/.cache/mqlsim``."""
    monkeypatch.setenv("MQLSIM_CACHE_DIR", str(tmp_path / "mqlsim-cache"))
