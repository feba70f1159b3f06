"""Shared test set-up."""

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, pin each worker to its own share of the cores. The code under test
    sizes its process pools by the cores it may use (``default_workers``), so unpinned every
    worker would start a pool over every core and the machine would run twice as many processes
    as it has cores; pinned, each worker's runs use its own core(s). Results do not depend on the
    number of workers (tests/test_experiment.py checks it), so this changes only the speed."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... under xdist
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    share = cores[int(worker[2:]) :: count]
    if share:
        os.sched_setaffinity(0, share)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own replication cache, never the user's ``~/.cache/mqlsim``."""
    monkeypatch.setenv("MQLSIM_CACHE_DIR", str(tmp_path / "mqlsim-cache"))
