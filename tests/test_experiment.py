"""Running replications: serial, process pool and Dask agree bit for bit; batching; the cache."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mqlsim.experiments.runner
from mqlsim.cli import main
from mqlsim.core.errors import MqlsimWarning
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from mqlsim.experiments import cache as cache_module
from mqlsim.experiments.cache import Measured, ReplicationCache, default_cache_dir, scenario_key
from mqlsim.experiments.runner import (
    MAX_BATCH,
    batches,
    pool_tasks,
    run_experiment,
    run_experiments,
)
from mqlsim.model.detail import replication_detail
from mqlsim.model.engine import run_replication
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
SMALL = [
    "population.leads_per_day=5",
    "scenario.horizon_days=120",
    "scenario.warmup_days=30",
]


def small(*extra: str, replications: int = 4) -> Scenario:
    """The baseline, small and short: a replication takes a few hundredths of a second."""
    return load_scenario(BASELINE, [*SMALL, f"scenario.replications={replications}", *extra])


def bits(rows: list[dict[str, float]]) -> list[list[str]]:
    """Every value's exact bits (``float.hex``; nan compares equal to nan), in catalogue order."""
    return [[float.hex(row[name]) for name in METRIC_NAMES] for row in rows]


class Counting:
    """Wraps ``run_replication`` in this process and counts the calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, scenario: Scenario, replication: int):
        self.calls.append(replication)
        return run_replication(scenario, replication)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    counter = Counting()
    monkeypatch.setattr(mqlsim.experiments.runner, "run_replication", counter)
    return counter


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commands cache into a temporary folder, never the user's."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("MQLSIM_CACHE_DIR", str(directory))
    return directory


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return small()


@pytest.fixture(scope="module")
def serial(scenario: Scenario) -> list[dict[str, float]]:
    return run_experiment(scenario, workers=1).replications


def test_serial_is_each_replication_on_its_own(scenario: Scenario, serial) -> None:
    alone = [run_replication(scenario, index).metrics for index in range(4)]
    assert bits(serial) == bits(alone)
    assert all(tuple(row) == METRIC_NAMES for row in serial)


def test_process_pool_is_bit_for_bit_serial(scenario: Scenario, serial) -> None:
    assert bits(run_experiment(scenario, workers=2).replications) == bits(serial)


def test_dask_local_cluster_is_bit_for_bit_serial(scenario: Scenario, serial) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        result = run_experiment(scenario, scheduler=cluster.scheduler_address)
    assert bits(result.replications) == bits(serial)


def test_several_scenarios_share_one_pool_and_keep_their_order(serial) -> None:
    other = small("policy.threshold=60", replications=3)
    first, second = run_experiments([small(), other], workers=2)
    assert bits(first.replications) == bits(serial)
    assert bits(second.replications) == bits(run_experiment(other, workers=1).replications)
    assert second.scenario is other


@pytest.mark.parametrize("workers", [1, 2])
def test_the_replication_asked_for_comes_back_with_its_records_unless_cached(
    workers: int, tmp_path: Path, serial
) -> None:
    first, second = run_experiments(
        [small(), small("policy.threshold=60")], workers=workers, detail=1
    )
    for result in (first, second):
        assert result.detail is not None  # computed where replication 1 ran: the same bits
        again = replication_detail(result.scenario, run_replication(result.scenario, 1))
        assert pickle.dumps(result.detail) == pickle.dumps(again)
    assert bits(first.replications) == bits(serial)
    cache = ReplicationCache(tmp_path / "detail")
    run_experiment(small(), workers=workers, cache=cache)
    (cached,) = run_experiments([small()], workers=workers, cache=cache, detail=1)
    assert cached.detail is None  # not simulated in this run: nothing to keep
    assert run_experiment(small(), workers=workers).detail is None  # none asked for


@pytest.mark.parametrize("workers", [1, 2])
def test_meanwhile_runs_once_while_the_replications_run(workers: int, tmp_path: Path) -> None:
    """A report loads matplotlib in ``meanwhile``: once, before the last replication is collected
    (in this process: before the first runs; with workers: once one has none left to run), and
    also when the cache holds them all."""
    done: list[int] = []
    calls: list[int] = []

    def progress(finished: int, total: int) -> None:
        done.append(finished)

    cache = ReplicationCache(tmp_path / "meanwhile")
    run_experiments(
        [small()], progress, workers=workers, cache=cache, meanwhile=lambda: calls.append(len(done))
    )
    replications = small().scenario.replications
    assert done[-1] == replications and len(calls) == 1
    assert calls[0] == 0 if workers == 1 else 0 < calls[0] < replications
    run_experiments([small()], workers=workers, cache=cache, meanwhile=lambda: calls.append(-1))
    assert calls[1:] == [-1]


def test_the_pool_sends_replications_in_batches(monkeypatch, scenario: Scenario, serial) -> None:
    sizes: list[int] = []
    original = mqlsim.experiments.runner.batches

    def spy(items, slots, starts=None):
        parts = original(items, slots, starts)
        sizes.extend(len(part) for part in parts)
        return parts

    monkeypatch.setattr(mqlsim.experiments.runner, "TASKS_PER_SLOT", 1)
    monkeypatch.setattr(mqlsim.experiments.runner, "batches", spy)
    assert bits(run_experiment(scenario, workers=2).replications) == bits(serial)
    assert sizes == [2, 2]


@pytest.mark.parametrize(
    ("items", "slots", "sizes"),
    [
        (5, 2, [1] * 5),  # few: one replication per task
        (20, 2, [3] * 6 + [2]),  # about four tasks per slot
        (1000, 2, [MAX_BATCH] * 62 + [8]),  # many: capped
        (1, 8, [1]),
    ],
)
def test_batches_keep_order_and_size(items: int, slots: int, sizes: list[int]) -> None:
    parts = batches(list(range(items)), slots)
    assert [len(part) for part in parts] == sizes
    assert [item for part in parts for item in part] == list(range(items))


def test_fewer_stages_than_slots_are_dealt_to_the_slots_in_turn() -> None:
    # A sweep of one replication: one stage, each slot computes it once.
    assert pool_tasks(list(range(7)), ["s"] * 7, 2) == [[0, 3, 4], [1, 2, 5, 6]]
    assert pool_tasks(list(range(3)), ["s", "s", "t"], 4) == [[0], [1], [2]]
    # At most MAX_BATCH a task.
    dealt = pool_tasks(list(range(2 * MAX_BATCH + 2)), ["s"] * (2 * MAX_BATCH + 2), 2)
    assert [len(task) for task in dealt] == [MAX_BATCH, 1, MAX_BATCH, 1]
    assert sorted(item for task in dealt for item in task) == list(range(2 * MAX_BATCH + 2))
    # As many stages as slots or more: by size, as batches, each stage's items in one task.
    assert pool_tasks(list(range(6)), [0, 1, 2, 3, 4, 5], 2) == batches(list(range(6)), 2)
    assert pool_tasks(list(range(6)), [0, 0, 1, 1, 2, 2], 2) == [[0, 1], [2, 3], [4, 5]]
    # Nine replications of five scenarios sharing their stages: a task of six items would cut
    # most stages in two.
    shares = [replication for replication in range(9) for _ in range(5)]
    tasks = pool_tasks(list(range(45)), shares, 2)
    assert [len(task) for task in tasks] == [5] * 9
    assert [item for task in tasks for item in task] == list(range(45))
    # A stage larger than MAX_BATCH is cut at the cap; singles fill a task up to the size.
    big = pool_tasks(list(range(MAX_BATCH + 4)), [0] * (MAX_BATCH + 2) + [1, 2], 2)
    assert [len(task) for task in big] == [MAX_BATCH, 3, 1]


def test_one_worker_or_one_replication_runs_in_this_process(counting: Counting) -> None:
    run_experiment(small(replications=2), workers=1)
    run_experiment(small(replications=1))  # default workers, but one task: no pool
    assert counting.calls == [0, 1, 0]


def test_workers_below_one_is_an_error(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_experiment(scenario, workers=0)


def test_progress_counts_every_replication_cached_ones_first(tmp_path: Path) -> None:
    cache = ReplicationCache(tmp_path / "c")
    run_experiment(small(replications=2), workers=1, cache=cache)
    calls: list[tuple[int, int]] = []
    run_experiment(small(), lambda *call: calls.append(call), workers=1, cache=cache)
    assert calls == [(2, 4), (3, 4), (4, 4)]


class TestCache:
    def test_miss_then_hit_reuses_without_computing(
        self, tmp_path: Path, counting: Counting, scenario: Scenario, serial
    ) -> None:
        cache = ReplicationCache(tmp_path / "c")
        first = run_experiment(scenario, workers=1, cache=cache)
        assert (cache.hits, cache.misses, cache.stored) == (0, 4, 4)
        assert counting.calls == [0, 1, 2, 3]
        again = ReplicationCache(tmp_path / "c")
        second = run_experiment(scenario, workers=1, cache=again)
        assert (again.hits, again.misses, again.stored) == (4, 0, 0)
        assert counting.calls == [0, 1, 2, 3]  # nothing recomputed
        assert bits(first.replications) == bits(second.replications) == bits(serial)

    def test_more_replications_reuse_the_first_ones(
        self, tmp_path: Path, counting: Counting, serial
    ) -> None:
        cache = ReplicationCache(tmp_path / "c")
        run_experiment(small(replications=2), workers=1, cache=cache)
        result = run_experiment(small(), workers=1, cache=cache)
        assert counting.calls == [0, 1, 2, 3]
        assert bits(result.replications) == bits(serial)

    def test_pool_results_are_stored_too(self, tmp_path: Path, scenario: Scenario) -> None:
        cache = ReplicationCache(tmp_path / "c")
        run_experiment(scenario, workers=2, cache=cache)
        key = scenario_key(scenario)
        assert sorted(p.name for p in (tmp_path / "c" / key).iterdir()) == [
            f"{index}.json" for index in range(4)
        ]

    @pytest.mark.parametrize(
        "damage",
        [
            "truncated",
            "garbage",
            "not an object",
            "metric renamed",
            "metric missing",
            "value is text",
            "value is a bool",
            "other key",
            "other replication",
        ],
    )
    def test_an_entry_that_does_not_parse_is_recomputed(
        self, tmp_path: Path, counting: Counting, scenario: Scenario, serial, damage: str
    ) -> None:
        cache = ReplicationCache(tmp_path / "c")
        run_experiment(scenario, workers=1, cache=cache)
        entry = cache.path(scenario_key(scenario), 2)
        text = entry.read_text()
        document = json.loads(text)
        metrics = document["metrics"]
        if damage == "truncated":
            entry.write_text(text[: len(text) // 2])
        elif damage == "garbage":
            entry.write_bytes(b"\x00\xff garbage")
        else:
            if damage == "not an object":
                document = [1, 2]
            elif damage == "metric renamed":
                metrics["leadz"] = metrics.pop("leads")
            elif damage == "metric missing":
                del metrics["mql_recall"]
            elif damage == "value is text":
                metrics["leads"] = "12"
            elif damage == "value is a bool":
                metrics["leads"] = True
            elif damage == "other key":
                document["key"] = "0" * 64
            else:
                document["replication"] = 3
            entry.write_text(json.dumps(document))
        counting.calls.clear()
        again = ReplicationCache(tmp_path / "c")
        result = run_experiment(scenario, workers=1, cache=again)
        assert counting.calls == [2]
        assert (again.hits, again.rejected, again.stored) == (3, 1, 1)
        assert bits(result.replications) == bits(serial)
        assert ReplicationCache(tmp_path / "c").load(scenario_key(scenario), 2) is not None

    def test_nan_survives_the_cache(self, tmp_path: Path) -> None:
        cache = ReplicationCache(tmp_path / "c")
        row = quiet_row()
        segments = {"rule": {"score": {"mqls": 2.0, "leads": math.nan}}}
        drifts = {"mql_events": {"drift": math.nan, "error": math.nan, "weeks": 3.0}}
        cache.store("k", 0, Measured(row, segments, drifts))
        loaded = cache.load("k", 0)
        assert bits([loaded.metrics]) == bits([row])
        assert math.isnan(loaded.segments["rule"]["score"]["leads"])
        assert math.isnan(loaded.stationarity["mql_events"]["drift"])

    def test_a_policy_report_survives_the_cache(self, tmp_path: Path) -> None:
        cache = ReplicationCache(tmp_path / "c")
        row = quiet_row()
        segments = {"channel": {"paid_search": {"mqls": 2.0}}}
        drifts = {"mql_events": {"drift": 0.01, "error": 0.02, "weeks": 47.0}}
        report = {"versions": [{"fitted_day": 90.0, "weights": {"pricing_page": 1.25}}]}
        cache.store("k", 0, Measured(row, segments, drifts, report))
        assert cache.load("k", 0) == Measured(row, segments, drifts, report)

    def test_segments_and_stationarity_come_back_as_run(self, tmp_path: Path) -> None:
        """A cached replication gives the same breakdowns and stationarity check as a fresh one."""
        scenario = small()
        fresh = run_experiment(scenario, workers=1, cache=None)
        cache = ReplicationCache(tmp_path / "c")
        run_experiment(scenario, workers=1, cache=cache)
        cached = run_experiment(scenario, workers=1, cache=ReplicationCache(tmp_path / "c"))
        assert json.dumps(cached.segments) == json.dumps(fresh.segments)
        assert json.dumps(cached.stationarity) == json.dumps(fresh.stationarity)

    def test_key_is_scenario_version_and_code_not_replication_count(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = scenario_key(small())
        assert scenario_key(small(replications=9)) == key
        assert scenario_key(small("policy.threshold=101")) != key
        assert scenario_key(small("scenario.seed=1")) != key
        with monkeypatch.context() as patch:
            patch.setattr(importlib.metadata, "version", lambda name: "99.0")
            assert scenario_key(small()) != key
        with monkeypatch.context() as patch:
            patch.setattr(cache_module, "code_fingerprint", lambda: "edited")
            assert scenario_key(small()) != key

    def test_an_unwritable_cache_warns_once_and_the_run_goes_on(
        self, tmp_path: Path, scenario: Scenario, serial
    ) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        cache = ReplicationCache(blocker / "cache")
        with pytest.warns(MqlsimWarning, match="cannot write the cache") as warned:
            result = run_experiment(scenario, workers=1, cache=cache)
        assert bits(result.replications) == bits(serial)
        assert len(warned) == 1
        assert cache.stored == 0

    def test_default_location(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("MQLSIM_CACHE_DIR", str(tmp_path / "x"))
        assert default_cache_dir() == tmp_path / "x"
        monkeypatch.delenv("MQLSIM_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert default_cache_dir() == tmp_path / "xdg" / "mqlsim"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert default_cache_dir() == Path.home() / ".cache" / "mqlsim"


def quiet_row() -> dict[str, float]:
    """A replication's metrics with 3 leads and no MQL: every ratio and mean but one is
    unmeasured (nan)."""
    counts = ("leads", "events", "deals")
    row = {name: 0.0 if METRIC_BY_NAME[name].unit in counts else math.nan for name in METRIC_NAMES}
    return row | {"leads": 3.0, "lead_to_mql_rate": 0.0}


RUN = ["run", BASELINE, *(f"--set={item}" for item in SMALL), "--replications", "3"]


def entries(directory: Path) -> dict[Path, tuple[int, int]]:
    """Cache entries and their (inode, mtime in ns): unchanged entries were not rewritten."""
    return {
        path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in directory.rglob("*.json")
    }


class TestCommandLine:
    def test_run_caches_by_default_and_no_cache_opts_out(
        self, _cache_in_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert main([*RUN, "--workers", "1", "--no-cache", "--out", "a"]) == 0
        assert not _cache_in_tmp.exists()
        assert main([*RUN, "--workers", "1", "--out", "b"]) == 0
        assert len(entries(_cache_in_tmp)) == 3
        before = entries(_cache_in_tmp)
        assert main([*RUN, "--out", "c"]) == 0
        assert entries(_cache_in_tmp) == before
        for out in ("b", "c"):
            for name in ("results.json", "replications.csv"):
                assert (tmp_path / out / name).read_bytes() == (tmp_path / "a" / name).read_bytes()

    def test_scheduler_runs_on_dask_with_the_same_outputs(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        distributed = pytest.importorskip("distributed")
        monkeypatch.chdir(tmp_path)
        assert main([*RUN, "--no-cache", "--workers", "1", "--out", "serial"]) == 0
        with distributed.LocalCluster(
            processes=False, protocol="tcp", n_workers=1, threads_per_worker=2
        ) as cluster:
            address = cluster.scheduler_address
            assert main([*RUN, "--no-cache", "--scheduler", address, "--out", "dask"]) == 0
        for name in ("results.json", "replications.csv"):
            assert (tmp_path / "dask" / name).read_bytes() == (
                tmp_path / "serial" / name
            ).read_bytes()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            (["--workers", "0"], "--workers 0: expected a whole number >= 1"),
            (["--workers", "-3"], "--workers -3: expected a whole number >= 1"),
            (["--scheduler", "localhost"], "expected a Dask scheduler address"),
            (["--scheduler", "http://10.0.0.5:8786"], "expected a Dask scheduler address"),
            (["--scheduler", "tcp://10.0.0.5:99999"], "expected a Dask scheduler address"),
            (["--scheduler", "tcp://h:1", "--workers", "2"], "--workers and --scheduler"),
        ],
    )
    def test_bad_execution_options_exit_2_with_one_line(
        self, capsys, options: list[str], message: str
    ) -> None:
        assert main([*RUN, *options]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("mqlsim: error: ")
        assert message in err

    def test_an_unreachable_scheduler_exits_2_with_one_line(self, capsys) -> None:
        dask_config = pytest.importorskip("dask.config")
        with socket.socket() as probe:  # a free port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with dask_config.set({"distributed.comm.timeouts.connect": "1s"}):
            assert main([*RUN, "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1
        assert err.startswith(f"mqlsim: error: --scheduler tcp://127.0.0.1:{port}: cannot reach")


@pytest.mark.slow
def test_a_killed_sweep_resumes_from_the_cache(tmp_path: Path) -> None:
    """SIGKILL a sweep once a few replications are cached; the rerun computes only the rest
    (the finished entries are not rewritten) and its results equal an uninterrupted run's."""
    command = [sys.executable, "-m", "mqlsim", "sweep", BASELINE, "--workers", "1"]
    command += [f"--set={item}" for item in SMALL]
    command += ["--replications", "4", "--param", "policy.threshold=60:100:20"]
    total = 3 * 4
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "MQLSIM_CACHE_DIR": str(cache_dir)}
    killed = subprocess.Popen(
        [*command, "--out", str(tmp_path / "killed")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(entries(cache_dir)) < 3 and killed.poll() is None:
            assert time.monotonic() < deadline, "no replication was cached in time"
            time.sleep(0.005)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    survivors = entries(cache_dir)
    assert 3 <= len(survivors) < total
    assert not (tmp_path / "killed" / "sweep.json").exists()

    resumed = subprocess.run(
        [*command, "--out", str(tmp_path / "resumed")], env=env, capture_output=True, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    after = entries(cache_dir)
    assert len(after) == total
    assert {path: after[path] for path in survivors} == survivors  # reused, not rewritten
    fresh = subprocess.run(
        [*command, "--no-cache", "--out", str(tmp_path / "fresh")], capture_output=True, check=False
    )
    assert fresh.returncode == 0, fresh.stderr
    assert entries(cache_dir) == after
    for name in ("sweep.json", "sweep.csv"):
        resumed_bytes = (tmp_path / "resumed" / name).read_bytes()
        assert resumed_bytes == (tmp_path / "fresh" / name).read_bytes()


class TestSharedStage:
    """Scenarios that differ only in ``[policy]`` share each replication's shared stage."""

    POINTS = ("policy.threshold=40", "policy.threshold=60", "policy.threshold=80")

    @pytest.fixture
    def stages(self, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
        made: list[tuple[str, int]] = []
        original = mqlsim.experiments.runner.shared_stage

        def spy(scenario: Scenario, replication: int, **options: bool):
            stage = original(scenario, replication, **options)
            made.append((stage.key, replication))
            self.memos.append(stage.memo)
            self.stores.append(stage.drawn)
            return stage

        self.memos: list[dict | None] = []
        self.stores: list[dict | None] = []
        monkeypatch.setattr(mqlsim.experiments.runner, "shared_stage", spy)
        return made

    def test_a_sweep_is_each_point_on_its_own_bit_for_bit(self, stages) -> None:
        grid = [small(point, replications=2) for point in self.POINTS]
        grid.append(small("policy.threshold=60", "nurture.interval_days=3", replications=2))
        alone = [bits([run_replication(point, r).metrics for r in range(2)]) for point in grid]
        for workers in (1, 2):
            stages.clear()
            results = run_experiments(grid, workers=workers)
            assert [bits(result.replications) for result in results] == alone
        # Serially: one stage per replication for the three threshold points; the point with
        # another cadence shares nothing and computes its own inside run_replication.
        stages.clear()
        self.memos.clear()
        self.stores.clear()
        run_experiments(grid, workers=1)
        assert [replication for _, replication in stages] == [0, 1]
        # The three thresholds share one score of each stage's first-MQL view, read-only.
        for memo in self.memos:
            assert memo is not None and len(memo) == 1
            (scores,) = memo.values()
            assert not scores.flags.writeable
        assert all(store for store in self.stores)  # sales blocks and recycled-touch draws

    def test_scenario_files_that_change_only_the_policy_share_bit_for_bit(self, stages) -> None:
        """A comparison of the baseline with other policies, a learning one among them."""
        training = ["policy.training_days=60.0", "policy.min_training_mqls=20"]
        two = [*SMALL, "scenario.replications=2"]
        files = [
            load_scenario(BASELINE, two),
            load_scenario(ROOT / "scenarios" / "policy_handraise.toml", two),
            load_scenario(ROOT / "scenarios" / "policy_predictive.toml", [*two, *training]),
        ]
        alone = [bits([run_replication(point, r).metrics for r in range(2)]) for point in files]
        results = run_experiments(files, workers=1)
        assert [bits(result.replications) for result in results] == alone
        assert [replication for _, replication in stages] == [0, 1]
        assert results[2].policy_reports  # the predictive policy did learn

    def test_a_sweep_of_the_sales_team_shares_the_stage_bit_for_bit(self, stages) -> None:
        """The stage reads neither ``[sales]`` nor ``[costs]``; the sales draws kept for the
        points sharing it are keyed by the draws per lead, which ``max_attempts`` changes."""
        grid = [
            small(*point, replications=2)
            for point in (
                ("sales.reps=2",),
                ("sales.reps=6", "sales.max_attempts=3", "costs.cost_per_rep_per_year=9.0"),
                ("sales.max_attempts=8", "policy.threshold=60"),
            )
        ]
        alone = [bits([run_replication(point, r).metrics for r in range(2)]) for point in grid]
        results = run_experiments(grid, workers=1)
        assert [bits(result.replications) for result in results] == alone
        assert [replication for _, replication in stages] == [0, 1]

    def test_the_stage_key_ignores_the_policy_the_team_and_the_costs(self) -> None:
        from mqlsim.model.engine import stage_key

        base = stage_key(small())
        assert stage_key(small("policy.threshold=99", replications=7)) == base
        assert stage_key(small("sales.reps=9", "sales.max_attempts=2")) == base
        assert stage_key(small("costs.cost_per_touch=1.5")) == base
        assert stage_key(small("scenario.name=other", "scenario.description=x")) == base
        assert stage_key(small("scenario.warmup_days=20")) != base
        assert stage_key(small("nurture.interval_days=3")) != base
        assert stage_key(small("scenario.seed=8")) != base

    def test_a_stage_of_another_scenario_is_refused(self) -> None:
        from mqlsim.model.engine import shared_stage

        stage = shared_stage(small(), 0)
        with pytest.raises(ValueError, match="another scenario"):
            run_replication(small("nurture.interval_days=3"), 0, stage)
        with pytest.raises(ValueError, match="another scenario"):
            run_replication(small(), 1, stage)

    def test_the_stage_is_read_only(self) -> None:
        from mqlsim.model.engine import shared_stage

        stage = shared_stage(small(), 0)
        with pytest.raises(ValueError, match="read-only"):
            stage.population.arrival[0] = 1.0
        with pytest.raises(ValueError, match="read-only"):
            stage.first_events.time[0] = 1.0
