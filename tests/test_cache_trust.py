"""The replication cache is checked, not trusted (issue 16, items 2 and 13): a planted, damaged
or odd entry is recomputed, reading never hangs or exhausts memory, and a run's bytes do not
depend on which replications came from the cache."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mqlsim
from mqlsim.experiments import cache as cache_module
from mqlsim.experiments.cache import ReplicationCache, scenario_key
from mqlsim.experiments.runner import run_experiment
from mqlsim.render.output import RESULTS_FILE, write_outputs
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "population.leads_per_day=5",
    "scenario.horizon_days=60",
    "scenario.warmup_days=10",
    "scenario.replications=2",
]


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "baseline.toml", SMALL)


@pytest.fixture
def filled(tmp_path: Path, scenario: Scenario) -> tuple[ReplicationCache, Path, list[dict]]:
    """A cache holding both replications; entry 1's path; the rows a fresh run measures."""
    cache = ReplicationCache(tmp_path / "cache")
    rows = run_experiment(scenario, workers=1, cache=cache).replications
    return cache, cache.path(scenario_key(scenario), 1), rows


def rerun(scenario: Scenario, cache: ReplicationCache) -> tuple[ReplicationCache, list[dict]]:
    again = ReplicationCache(cache.directory)
    return again, run_experiment(scenario, workers=1, cache=again).replications


def redigest(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its digest recomputed: what a forger who read the source would do."""
    content = {name: value for name, value in document.items() if name != "digest"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return {**content, "digest": hashlib.sha256(canonical.encode()).hexdigest()}


def same(a: list[dict], b: list[dict]) -> bool:
    return json.dumps(a) == json.dumps(b)  # nan-safe: compares the repr of every value


# --- 2. entries are checked ---------------------------------------------------------------------


def fake_mqls(document: dict) -> dict:
    document["metrics"]["mqls"] += 100.0
    return document


def fake_revenue_with_digest(document: dict) -> dict:
    document["metrics"]["lead_to_mql_rate"] = 0.9  # no longer mqls / leads
    return redigest(document)


def nan_count_with_digest(document: dict) -> dict:
    document["metrics"]["deals_won"] = float("nan")
    return redigest(document)


def negative_revenue_with_digest(document: dict) -> dict:
    document["metrics"]["revenue_won"] = -5.0
    return redigest(document)


def fractional_count_with_digest(document: dict) -> dict:
    document["metrics"]["sqls"] += 0.5
    return redigest(document)


def causes_not_summing_with_digest(document: dict) -> dict:
    document["metrics"]["missed_never_mql"] += 1.0
    return redigest(document)


def injected_report(document: dict) -> dict:
    document["policy_report"] = {"versions": [{"weights": {"pricing_page": 99.0}}]}
    return document


def report_with_infinity(document: dict) -> dict:
    document["policy_report"] = {"weights": [1.0, float("inf")]}
    return redigest(document)


def other_version(document: dict) -> dict:
    document["package_version"] = "0.0.1"
    return redigest(document)


def other_replication(document: dict) -> dict:
    document["replication"] = 0
    return redigest(document)


@pytest.mark.parametrize(
    "plant",
    [
        fake_mqls,
        fake_revenue_with_digest,
        nan_count_with_digest,
        negative_revenue_with_digest,
        fractional_count_with_digest,
        causes_not_summing_with_digest,
        injected_report,
        report_with_infinity,
        other_version,
        other_replication,
    ],
)
def test_a_planted_entry_is_recomputed(
    plant: Callable[[dict], dict], filled: tuple, scenario: Scenario
) -> None:
    cache, entry, rows = filled
    original = entry.read_bytes()
    entry.write_text(json.dumps(plant(json.loads(original))))
    again, result = rerun(scenario, cache)
    assert (again.hits, again.rejected, again.stored) == (1, 1, 1)
    assert same(result, rows)
    assert entry.read_bytes() == original  # overwritten by the recomputed replication


def test_an_entry_with_infinity_is_recomputed(filled: tuple, scenario: Scenario) -> None:
    cache, entry, rows = filled
    text = entry.read_text()
    value = json.loads(text)["metrics"]["revenue_won"]
    entry.write_text(text.replace(f'"revenue_won": {value!r}', '"revenue_won": Infinity'))
    assert '"revenue_won": Infinity' in entry.read_text()
    again, result = rerun(scenario, cache)
    assert again.rejected == 1 and same(result, rows)


def test_a_forger_who_keeps_the_numbers_consistent_is_not_caught(
    filled: tuple, scenario: Scenario
) -> None:
    """The threat docs/security.md says remains: the digest is not secret, so whoever can write
    the cache folder can plant consistent numbers. Keep the folder private; use --no-cache
    where numbers decide (a CI gate)."""
    cache, entry, _ = filled
    document = json.loads(entry.read_text())
    document["metrics"]["revenue_won"] += 1_000_000.0
    entry.write_text(json.dumps(redigest(document)))
    again, result = rerun(scenario, cache)
    assert again.rejected == 0
    assert result[1]["revenue_won"] == document["metrics"]["revenue_won"]
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "--no-cache" in page and "not secret" in page


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """``work()``, failing the test if it takes longer than ``seconds`` (a hang)."""
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(work()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, f"still running after {seconds} s"
    return done[0]


@pytest.mark.parametrize("kind", ["link to /dev/zero", "pipe", "sparse 4 GB", "folder", "link"])
def test_an_entry_that_is_not_a_small_regular_file_is_recomputed(
    kind: str, filled: tuple, scenario: Scenario, tmp_path: Path
) -> None:
    """These used to crash (MemoryError) or hang the run."""
    cache, entry, rows = filled
    original = entry.read_bytes()
    entry.unlink()
    if kind == "link to /dev/zero":
        entry.symlink_to("/dev/zero")
    elif kind == "pipe":
        os.mkfifo(entry)
    elif kind == "sparse 4 GB":
        with entry.open("wb") as handle:
            handle.truncate(4 << 30)
    elif kind == "folder":
        entry.mkdir()
    else:  # a link to a valid entry elsewhere is not read either: links are never followed
        elsewhere = tmp_path / "elsewhere.json"
        elsewhere.write_bytes(original)
        entry.symlink_to(elsewhere)
    again = ReplicationCache(cache.directory)
    assert within(20, lambda: again.load(scenario_key(scenario), 1)) is None
    assert (again.rejected, again.misses) == (1, 1)
    if kind != "folder":  # the recomputed replication replaces it
        _, result = within(60, lambda: rerun(scenario, cache))
        assert same(result, rows)
        assert not entry.is_symlink() and entry.read_bytes() == original


def test_the_cache_folder_is_private(tmp_path: Path, scenario: Scenario) -> None:
    cache = ReplicationCache(tmp_path / "new" / "cache")
    run_experiment(scenario, workers=1, cache=cache)
    assert (tmp_path / "new" / "cache").stat().st_mode & 0o077 == 0


# --- 13. bytes do not depend on the cache -------------------------------------------------------

PREDICTIVE = {
    "population.leads_per_day": 6,
    "scenario.horizon_days": 100,
    "scenario.warmup_days": 20,
    "policy.training_days": 60,
    "policy.min_training_mqls": 5,
}


def results_bytes(out: Path, replications: int, cache: Path | bool) -> bytes:
    result = mqlsim.run(
        ROOT / "scenarios" / "policy_predictive.toml",
        replications=replications,
        overrides=PREDICTIVE,
        workers=1,
        cache=cache,
    )
    assert result.policy_reports, "the predictive policy reports what it learnt"
    write_outputs(out, result)
    return (out / RESULTS_FILE).read_bytes()


def test_results_are_the_same_bytes_fresh_partly_cached_and_cached(tmp_path: Path) -> None:
    """The cache used to rewrite policy_reports with sorted keys: three variants of the file."""
    cache = tmp_path / "cache"
    fresh = results_bytes(tmp_path / "fresh", 3, False)
    results_bytes(tmp_path / "first", 1, cache)  # caches replication 0
    partly = results_bytes(tmp_path / "partly", 3, cache)  # 0 from the cache, 1 and 2 fresh
    cached = results_bytes(tmp_path / "cached", 3, cache)  # all from the cache
    assert fresh == partly == cached
    versions = json.loads(fresh)["policy_reports"][0]["versions"]
    assert list(versions[0]) == ["from_day", "bootstrap"]  # the policy's own order


def test_a_cached_entry_keeps_the_reports_key_order(tmp_path: Path) -> None:
    store = ReplicationCache(tmp_path / "c")
    cached = run_experiment(
        load_scenario(ROOT / "scenarios" / "baseline.toml", SMALL), workers=1, cache=store
    ).replications[0]
    report = {"z": 1.0, "a": [{"y": 2, "b": "x"}]}
    store.store("k", 0, cache_module.Measured(cached, {}, {}, report))
    loaded = store.load("k", 0)
    assert loaded is not None
    assert json.dumps(loaded.policy_report) == json.dumps(report)
