"""Replications of scenarios: seeds, execution (in process, process pool, Dask) and the cache.

Replication ``r`` of a scenario depends only on the scenario and ``r`` (its random streams are
spawned from ``(seed, r)``), so where it runs changes nothing: serial, in a local process pool
or on a Dask ``distributed`` cluster, every metric of every replication is the same, bit for bit.
Replications are sent in batches (several per task when there are many) to keep per-task
overhead small, and every finished replication is stored in the cache as soon as it arrives.

Scenarios that differ only in their ``[policy]`` (a sweep of ``policy.threshold``, say) share
each replication's policy-independent part, :class:`mqlsim.model.engine.SharedStage` (population,
journeys, first-run touches and their answers): the replications are ordered so that those
sharing a stage are consecutive, and a batch computes each stage once for its run of
consecutive replications, then drops it. Results are the same as each run on its own.

Ctrl-C stops the work at once: worker processes ignore it and are terminated by this process
(so none is left behind), a Dask cluster's tasks are cancelled, and
:class:`mqlsim.core.errors.Interrupted` says how many replications are cached for the next run.
"""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, TypeVar

from mqlsim.core.errors import InputError, Interrupted, MqlsimWarning
from mqlsim.core.extras import require
from mqlsim.core.metric_catalog import METRIC_BY_NAME, format_value, parse_dimensions
from mqlsim.experiments.budget import check_budget
from mqlsim.experiments.cache import Drifts, Measured, ReplicationCache, Segments, scenario_key
from mqlsim.experiments.stationarity import DriftCheck, check_stationarity
from mqlsim.model.detail import ReplicationDetail, replication_detail
from mqlsim.model.engine import (
    ReplicationResult,
    SharedStage,
    check_policy_sources,
    run_replication,
    shared_stage,
    stage_key,
)
from mqlsim.scenario.models import Scenario

#: Aim for this many tasks per worker slot, so a slow batch does not leave the others idle...
TASKS_PER_SLOT = 4
#: ...but never more replications per task than this (a lost task loses at most this many).
MAX_BATCH = 16

if TYPE_CHECKING:
    from mqlsim.experiments.summary import MetricSummary

Progress = Callable[[int, int], None]
Batch = list[tuple[Scenario, int]]
T = TypeVar("T")


class Execution(TypedDict, total=False):
    """Where replications run: the keyword arguments of :func:`run_experiments`."""

    workers: int | None
    scheduler: str | None
    cache: ReplicationCache | None
    max_memory: int | None


#: Metrics a result's ``repr`` shows, to recognise a run at a glance.
HEADLINE_METRICS = ("leads", "mqls", "mql_to_sql_rate", "deals_won", "revenue_won")


@dataclass(frozen=True)
class ExperimentResult:
    """What a run produced: the scenario as run and one metric row per replication.

    ``replications[r]`` maps every name in :data:`mqlsim.core.metric_catalog.METRIC_NAMES` to
    the value replication ``r`` measured (``nan`` where a ratio has no denominator).
    ``segments[r]`` holds replication ``r``'s metrics per segment of every breakdown
    dimension, ``stationarity[r]`` the drift of its weekly series (see
    :class:`~mqlsim.experiments.cache.Measured`). ``policy_reports[r]`` is what replication
    ``r``'s policy learnt (``None`` for policies that learn nothing); empty when no
    replication reported anything. ``detail`` holds the records the run figures draw
    (:class:`~mqlsim.model.detail.ReplicationDetail`) of the replication :func:`run_experiments`
    was asked to keep (``detail``), when it was simulated in this run (``None`` when it came
    from the cache, or none was asked for).
    """

    scenario: Scenario
    replications: list[dict[str, float]]
    segments: list[Segments] = field(default_factory=list)
    stationarity: list[Drifts] = field(default_factory=list)
    policy_reports: list[dict[str, Any] | None] = field(default_factory=list)
    detail: ReplicationDetail | None = field(default=None, repr=False, compare=False)

    @cached_property
    def summaries(self) -> dict[str, MetricSummary]:
        """Every metric's mean and 95 % interval over the replications, in report order."""
        from mqlsim.experiments.summary import summarize_rows

        return summarize_rows(self.replications)

    def segment_summaries(self, dimension: str) -> dict[str, dict[str, MetricSummary]]:
        """``{segment: {metric: summary}}`` of one breakdown dimension (``channel``,
        ``persona``, ``grade`` or ``rule``), over the replications."""
        from mqlsim.experiments.summary import summarize_segments

        (checked,) = parse_dimensions([dimension], "dimension")
        return summarize_segments(self.segments, checked)

    @cached_property
    def stationarity_checks(self) -> dict[str, DriftCheck]:
        """The stationarity check of each weekly series, over the replications."""
        return check_stationarity(self.stationarity)

    @property
    def warnings(self) -> list[str]:
        """One line per weekly series that drifts over the measured period."""
        name = self.scenario.scenario.name
        return [check.warning(name) for check in self.stationarity_checks.values() if check.drifts]

    def to_records(self) -> list[dict[str, Any]]:
        """One record per replication: its number (from 0), then every metric."""
        return [{"replication": index, **row} for index, row in enumerate(self.replications)]

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame indexed by replication (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records(), index="replication")

    def __repr__(self) -> str:
        means = ", ".join(
            f"{name} {format_value(self.summaries[name].mean, METRIC_BY_NAME[name].unit)}"
            + ("" if METRIC_BY_NAME[name].unit != "share" else " %")
            for name in HEADLINE_METRICS
        )
        return (
            f"<ExperimentResult {self.scenario.scenario.name!r}:"
            f" {len(self.replications)} replications; means: {means}>"
        )


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_experiment(
    scenario: Scenario,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cache: ReplicationCache | None = None,
    max_memory: int | None = None,
) -> ExperimentResult:
    """Run ``scenario.scenario.replications`` replications from ``scenario.scenario.seed``.

    See :func:`run_experiments` for ``progress``, ``workers``, ``scheduler``, ``cache`` and
    ``max_memory``.
    """
    (result,) = run_experiments(
        [scenario],
        progress,
        workers=workers,
        scheduler=scheduler,
        cache=cache,
        max_memory=max_memory,
    )
    return result


def run_experiments(
    scenarios: Sequence[Scenario],
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cache: ReplicationCache | None = None,
    max_memory: int | None = None,
    detail: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[ExperimentResult]:
    """Run every replication of every scenario, all of them sharing one pool; one result each.

    ``progress(done, total)`` is called as replications finish (cached ones count as done).
    A scenario whose weekly series drift over the measured period (not a steady state) gets
    one :class:`~mqlsim.core.errors.MqlsimWarning` per drifting series.
    ``workers`` is the size of the local process pool (default: every core; 1 runs in this
    process); ``scheduler`` is a Dask scheduler address to run on instead. With ``cache``,
    replications found there are reused and finished ones are stored as they arrive. Before
    any replication runs, :func:`mqlsim.experiments.budget.check_budget` refuses a run whose
    replications would not fit in ``max_memory`` bytes at once (default: this machine's memory)
    and warns when it will take long.

    With ``detail``, each result keeps that replication's records
    (``ExperimentResult.detail``, :func:`~mqlsim.model.detail.replication_detail`, computed by
    the process that ran it) if it ran here: a report draws its figures from them instead of
    simulating it again. ``meanwhile()``
    is called in this process once, while the replications run, when a worker has none left
    to run (a report loads matplotlib then, on a core the replications no longer use); with
    one worker, once they are sent; without workers, before they run.

    Raises :class:`InputError` when the run cannot fit or the scheduler cannot be reached or
    has no workers, and :class:`Interrupted` on Ctrl-C, saying how many replications are kept
    in the cache.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    for scenario in scenarios:
        check_policy_sources(scenario)
    keys = [scenario_key(scenario) for scenario in scenarios] if cache is not None else []
    rows: dict[tuple[int, int], Measured] = {}
    pending: list[tuple[int, int]] = []
    for index, scenario in enumerate(scenarios):
        for replication in range(scenario.scenario.replications):
            row = cache.load(keys[index], replication) if cache is not None else None
            if row is None:
                pending.append((index, replication))
            else:
                rows[index, replication] = row
    # Replications that share a stage, consecutive: by stage key (first seen first), then by
    # replication, then in the given order.
    stages: dict[str, int] = {}
    group = [stages.setdefault(stage_key(scenario), len(stages)) for scenario in scenarios]
    pending.sort(key=lambda item: (group[item[0]], item[1], item[0]))
    total = len(rows) + len(pending)
    if progress is not None and rows:
        progress(len(rows), total)

    cached, stored = len(rows), cache.stored if cache is not None else 0
    details: dict[int, ReplicationDetail] = {}

    def finish(index: int, replication: int, replicated: Replicated) -> None:
        measured = replicated.measured
        if cache is not None:
            cache.store(keys[index], replication, measured)
        rows[index, replication] = measured
        if replicated.detail is not None:
            details[index] = replicated.detail
        if progress is not None:
            progress(len(rows), total)

    try:
        if pending:
            _run_pending(
                scenarios, pending, group, finish, workers, scheduler, max_memory, detail, meanwhile
            )
        elif meanwhile is not None:
            meanwhile()
    except KeyboardInterrupt:
        if cache is None:
            kept = (
                f"{len(rows)} of {total} replications had finished; none is kept (the cache is off)"
            )
        else:
            kept = (
                f"{cached + cache.stored - stored} of {total} replications are cached;"
                " run the same command to resume"
                + ("" if cache.writable else " (the cache could not be written)")
            )
        raise Interrupted(kept) from None
    results = []
    for index, scenario in enumerate(scenarios):
        replicated = [rows[index, r] for r in range(scenario.scenario.replications)]
        reports = [m.policy_report for m in replicated]
        result = ExperimentResult(
            scenario=scenario,
            replications=[m.metrics for m in replicated],
            segments=[m.segments for m in replicated],
            stationarity=[m.stationarity for m in replicated],
            policy_reports=reports if any(r is not None for r in reports) else [],
            detail=details.get(index),
        )
        for message in result.warnings:
            warnings.warn(message, MqlsimWarning, stacklevel=2)
        results.append(result)
    return results


def _run_pending(
    scenarios: Sequence[Scenario],
    pending: list[tuple[int, int]],
    stages: list[int],
    finish: Callable[[int, int, Replicated], None],
    workers: int | None,
    scheduler: str | None,
    max_memory: int | None,
    detail: int | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> None:
    """Measure the ``pending`` (scenario index, replication) pairs, if they fit (``stages``: the
    shared stage of each scenario); ``finish`` each as it arrives, with its records if it is
    replication ``detail``; ``meanwhile()`` while they run (see
    :func:`run_experiments`)."""
    with _executor(workers, scheduler, len(pending)) as (executor, slots):
        # Worker processes start with the first task: nothing has started yet.
        local = scheduler is None
        check_budget(scenarios, pending, slots, max_memory, local=local, stages=stages)
        if executor is None:
            if meanwhile is not None:
                meanwhile()
            batch = [(scenarios[index], replication) for index, replication in pending]
            for (index, replication), replicated in zip(
                pending, _measure_sharing(batch, detail), strict=True
            ):
                finish(index, replication, replicated)
            return
        futures: dict[Future[list[Replicated]], list[tuple[int, int]]] = {}
        shares = [(stages[index], replication) for index, replication in pending]
        for part in pool_tasks(pending, shares, slots):
            batch = [(scenarios[index], replication) for index, replication in part]
            futures[executor.submit(run_batch, batch, detail)] = part
        # meanwhile() once a worker has nothing left to run, so that it takes no core from the
        # replications still running (at once with a single worker).
        running = len(futures)
        if meanwhile is not None and (slots == 1 or running < slots):
            meanwhile()
            meanwhile = None
        for future in as_completed(futures):
            running -= 1
            for where, replicated in zip(futures[future], future.result(), strict=True):
                finish(*where, replicated)
            if meanwhile is not None and running < slots:
                meanwhile()
                meanwhile = None


class Replicated(NamedTuple):
    """One replication as a task hands it back: what the experiment keeps, and the records the
    figures draw when they were asked for (``None`` otherwise)."""

    measured: Measured
    detail: ReplicationDetail | None


def _replicate(
    scenario: Scenario, replication: int, stage: SharedStage | None
) -> ReplicationResult:
    """Run one replication, from its shared ``stage`` if given."""
    if stage is None:
        return run_replication(scenario, replication)
    return run_replication(scenario, replication, stage)


def measured(result: ReplicationResult) -> Measured:
    """What an experiment keeps of one replication's ``result``."""
    report = result.policy_report
    # As JSON reads it back: a replication from the cache is then the same, to the byte.
    return Measured(
        result.metrics,
        result.segments,
        result.stationarity,
        None if report is None else json.loads(json.dumps(report)),
    )


def _measure_sharing(batch: Batch, detail: int | None = None) -> Iterator[Replicated]:
    """Each ``(scenario, replication)`` of ``batch``, measured in order; consecutive ones that
    share a stage compute it once. Only the current stage is held, so each is freed as soon as
    its run of replications is done; a replication alone computes its own, as it would alone.
    Replication ``detail`` comes with its records (:func:`replication_detail`), computed
    here: they are small, its whole result is not."""
    shares = [(stage_key(scenario), replication) for scenario, replication in batch]
    stage: SharedStage | None = None
    for position, (scenario, replication) in enumerate(batch):
        if stage is not None and (stage.key, stage.replication) != shares[position]:
            stage = None  # dropped before the next is computed
        if stage is None and shares[position] in shares[position + 1 : position + 2]:
            stage = shared_stage(scenario, replication, memo=True)
        result = _replicate(scenario, replication, stage)
        records = replication_detail(scenario, result) if replication == detail else None
        yield Replicated(measured(result), records)


def run_batch(batch: Batch, detail: int | None = None) -> list[Replicated]:
    """Each ``(scenario, replication)`` of ``batch``, measured (replication ``detail`` with
    its records): one task of a pool."""
    return list(_measure_sharing(batch, detail))


def pool_tasks(items: Sequence[T], shares: Sequence[object], slots: int) -> list[list[T]]:
    """The pool's tasks for ``items``, where ``shares[i]`` names the shared stage of item ``i``
    and items sharing one are consecutive.

    With at least as many stages as slots, :func:`batches` (by size, a stage's items kept in
    one task). With fewer (a sweep or a compare of one replication), each stage's items are
    dealt to the slots in turn, back and forth (0, 1, 1, 0, 0, 1... on two slots), at most
    :data:`MAX_BATCH` to a task: each slot computes a stage once instead of once per batch of
    about four per slot, and a sweep's points, heavier at one end of the grid (the loose
    thresholds), weigh the same on each slot.
    """
    starts = [i for i in range(len(items)) if i == 0 or shares[i] != shares[i - 1]]
    if len(starts) >= slots:
        return batches(items, slots, starts)
    tasks: list[list[T]] = []
    for start, end in zip(starts, [*starts[1:], len(items)], strict=True):
        dealt: list[list[T]] = [[] for _ in range(min(slots, end - start))]
        for position, item in enumerate(items[start:end]):
            turn, seat = divmod(position, slots)
            dealt[seat if turn % 2 == 0 else slots - 1 - seat].append(item)
        for hand in dealt:
            tasks.extend(hand[i : i + MAX_BATCH] for i in range(0, len(hand), MAX_BATCH))
    return tasks


def batches(items: Sequence[T], slots: int, starts: Sequence[int] | None = None) -> list[list[T]]:
    """Split ``items`` in order into batches: about :data:`TASKS_PER_SLOT` per slot, each of at
    most :data:`MAX_BATCH` items (one item per batch when there are few). ``starts`` are where
    groups of items sharing a stage begin (default: every item alone): a group is never split
    over batches unless it is larger than :data:`MAX_BATCH`, so its stage is computed once
    (a batch may then hold more than the size aimed at, never more than the cap)."""
    size = max(1, min(MAX_BATCH, math.ceil(len(items) / (slots * TASKS_PER_SLOT))))
    bounds = range(len(items)) if starts is None else starts
    tasks: list[list[T]] = []
    for start, end in zip(bounds, [*bounds[1:], len(items)], strict=True):
        group = list(items[start:end])
        if tasks and len(tasks[-1]) + len(group) <= size:
            tasks[-1].extend(group)
        else:
            tasks.extend(group[i : i + MAX_BATCH] for i in range(0, len(group), MAX_BATCH))
    return tasks


@contextmanager
def _executor(
    workers: int | None, scheduler: str | None, tasks: int
) -> Iterator[tuple[Executor | None, int]]:
    """The executor for ``tasks`` replications and its number of slots; ``None`` for serial."""
    if scheduler is not None:
        with _dask_executor(scheduler) as dask:
            yield dask
        return
    with local_pool(workers, tasks) as local:
        yield local


@contextmanager
def local_pool(workers: int | None, tasks: int) -> Iterator[tuple[Executor | None, int]]:
    """A process pool of ``workers`` (default: every core), at most one per task, and its
    number of slots; ``None`` and 1 when one would do (run in this process). On Ctrl-C or an
    error the workers are ended at once, none left behind."""
    slots = max(1, min(workers or default_workers(), tasks))
    if slots == 1:
        yield None, 1
        return
    pool = ProcessPoolExecutor(max_workers=slots, initializer=_start_worker)
    try:
        yield pool, slots
    except BaseException:
        with _interrupts_held():
            _terminate(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker() -> None:
    """In a worker process, first: Ctrl-C reaches the whole process group, but only the parent
    acts on it (it terminates the workers), so no worker prints a traceback of its own.

    And the objects the worker starts with (its parent's, when forked: the loaded modules and
    whatever the parent held, none of which the worker's tasks free) are moved out of the
    garbage collector's sight (`gc.freeze`, which only links lists): otherwise each full
    collection in the worker walks all of them (0.06-0.07 s in a report's drawing worker).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: cancel what has not started and end the worker processes running
    replications (``shutdown`` alone would wait for their batches to finish)."""
    # The pool's processes are not public before Python 3.14 (terminate_workers).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ignore a second Ctrl-C while cleaning up after the first (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:  # None: a handler not set from Python; give back the default one
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


@contextmanager
def _dask_executor(address: str) -> Iterator[tuple[Executor, int]]:
    """An executor on the Dask cluster at ``address`` (``client.get_executor()``) and its threads.

    Connecting waits up to Dask's ``distributed.comm.timeouts.connect`` (30 s by default), and
    as long again for a first worker.
    """
    dask_config = require("dask.config", "dask", "--scheduler")
    client_class = require("distributed", "dask", "--scheduler").Client

    timeout = dask_config.get("distributed.comm.timeouts.connect")
    try:
        client = client_class(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as error:  # TimeoutError is an OSError
        raise InputError(
            f"--scheduler {address}: cannot reach a Dask scheduler ({error})"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise InputError(
                f"--scheduler {address}: the scheduler has no workers (start some with "
                f"`dask worker {address}`)"
            ) from None
        slots = sum(client.nthreads().values())
        executor = client.get_executor()
        try:
            yield executor, slots
        except BaseException:
            with _interrupts_held():
                executor.shutdown(wait=False)  # cancels the tasks on the cluster
            raise
    finally:
        client.close()
