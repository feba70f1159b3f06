"""The Python API: what each command of `mqlsim` does, as one function call.

Every function takes a scenario as a path (``"scenarios/baseline.toml"``) or as a
:class:`~mqlsim.scenario.models.Scenario` from :func:`load`, and ``overrides`` as a mapping of
dotted keys to values (``{"policy.threshold": 80}``) or as ``--set`` texts
(``["policy.threshold=80"]``). Functions that run replications also take:

- ``replications`` and ``seed``: the scenario's own unless given;
- ``workers``: local processes (default: every core; 1 runs in this process), or
  ``scheduler``: a Dask scheduler address; results are identical either way;
- ``cache``: ``True`` (the user's cache folder, see
  :func:`mqlsim.experiments.cache.default_cache_dir`), ``False``, or a folder;
- ``progress``: called as ``progress(done, total)`` while replications finish.

Bad input raises :class:`~mqlsim.core.errors.InputError`, whose ``lines`` say what is wrong
and where. Results carry per-replication values and summaries, and ``to_records()`` and
``to_frame()`` (pandas, optional) for analysis.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mqlsim.core.atomic import write_atomic
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import parse_dimensions
from mqlsim.experiments.cache import ReplicationCache, default_cache_dir
from mqlsim.experiments.compare import Comparison, compare_scenarios, load_pair, parse_gates
from mqlsim.experiments.explain import MqlReason, explain_run
from mqlsim.experiments.replay import Replay, read_events, replay_file
from mqlsim.experiments.runner import Execution, ExperimentResult, Progress, run_experiment
from mqlsim.experiments.sweep import (
    Sweep,
    grid_params,
    parse_objective,
    parse_param,
    run_sweep,
    sweep_scenarios,
)
from mqlsim.scenario.loading import Override, Overrides, load_scenario, override_list
from mqlsim.scenario.models import Scenario

ScenarioSource = str | os.PathLike[str] | Scenario
CacheOption = bool | str | os.PathLike[str] | ReplicationCache

__all__ = [
    "Comparison",
    "ExperimentResult",
    "InputError",
    "MqlReason",
    "Replay",
    "Scenario",
    "Sweep",
    "compare",
    "explain",
    "load",
    "replay",
    "report",
    "run",
    "sweep",
]


def load(path: ScenarioSource, overrides: Overrides = ()) -> Scenario:
    """Load and validate a scenario file (following ``extends``) and apply ``overrides``."""
    return load_scenario(_source(path), overrides)


def run(
    scenario: ScenarioSource,
    *,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run a scenario's replications: ``result.summaries`` (mean, 95 % CI per metric),
    ``result.replications`` (one metric row each)."""
    loaded = load_scenario(_source(scenario), _with_run(overrides, replications, seed))
    return run_experiment(loaded, progress, **_execution(workers, scheduler, cache))


def compare(
    a: ScenarioSource,
    b: ScenarioSource,
    *,
    gates: Sequence[str] = (),
    by: Sequence[str] = (),
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
) -> Comparison:
    """B against A on common random numbers (B runs on A's seed and replication count), each
    metric with its paired 95 % interval; ``gates`` (``"missed_opportunities > +5%"``) give
    ``comparison.passed``; ``by`` (``["channel"]``) compares each segment of those breakdowns
    too. A or B may be ``REV:path``, a file as committed in git."""
    parsed = parse_gates(gates)
    dimensions = parse_dimensions(by)
    execution = _execution(workers, scheduler, cache)
    first, second = load_pair(_source(a), _source(b), _with_run(overrides, replications, seed))
    return compare_scenarios(
        first,
        second,
        parsed,
        sources=(_label(a), _label(b)),
        given=(seed is not None, replications is not None),
        by=dimensions,
        progress=progress,
        **execution,
    )


def sweep(
    scenario: ScenarioSource,
    grid: Mapping[str, Iterable[Any]] | Sequence[str],
    *,
    objective: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
) -> Sweep:
    """Run every point of ``grid`` on common random numbers: one or two keys, each with its
    values (``{"policy.threshold": range(60, 141, 20)}``) or as ``KEY=START:STOP:STEP`` /
    ``KEY=V1,V2`` texts. ``objective`` (``"revenue_won - 120 * sales_hours"``) names the best
    point."""
    if isinstance(grid, Mapping):
        params = grid_params(grid)
    else:
        params = [parse_param(text) for text in grid]
    parsed = parse_objective(objective) if objective is not None else None
    execution = _execution(workers, scheduler, cache)
    base, points = sweep_scenarios(
        _source(scenario), _with_run(overrides, replications, seed), params
    )
    return run_sweep(base, params, points, parsed, progress, **execution)


def replay(
    events: str | os.PathLike[str],
    policy: ScenarioSource,
    *,
    overrides: Overrides = (),
    strict: bool = False,
) -> Replay:
    """Backtest a scenario's policy on a recorded activity log (CSV): per lead, whether, when
    and why it would have become an MQL. ``strict`` refuses a log with any bad row."""
    scenario = load_scenario(_source(policy), overrides)
    file = read_events(events)
    if strict and file.problem_count:
        hidden = file.problem_count - len(file.problems)
        tail = [f"{file.label}: {hidden:,} more problems not shown"] if hidden else []
        raise InputError([*file.problem_lines(), *tail])
    return replay_file(file, scenario)


def explain(
    scenario: ScenarioSource,
    *,
    replication: int = 0,
    leads: Sequence[int] = (),
    limit: int | None = 20,
    seed: int | None = None,
    overrides: Overrides = (),
) -> list[MqlReason]:
    """One replication's MQL episodes with the policy's reason for each and how sales ended
    it; ``leads`` keeps those leads only, ``limit`` the first ones (``None``: all)."""
    loaded = load_scenario(_source(scenario), _with_run(overrides, None, seed))
    return explain_run(loaded, replication, leads, limit)


def report(
    scenarios: ScenarioSource | Sequence[ScenarioSource],
    *,
    sweep: str | None = None,
    by: Sequence[str] = (),
    out: str | os.PathLike[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
) -> str:
    """A self-contained HTML report of one or more scenarios side by side (with ``sweep``,
    ``KEY=START:STOP:STEP``, a slider over the grid; with ``by``, a breakdown of each scenario
    by those dimensions); written atomically to ``out`` if given. Returns the HTML."""
    dimensions = parse_dimensions(by)
    from mqlsim.render.html import as_sweep_option, build_reports, render_report

    listed = [scenarios] if isinstance(scenarios, str | os.PathLike | Scenario) else scenarios
    param = None
    if sweep is not None:
        with as_sweep_option():
            param = parse_param(sweep)
    if out is not None and Path(out).is_dir():
        raise InputError(f"--out {out}: is a folder; expected a file name such as report.html")
    execution = _execution(workers, scheduler, cache)
    reports, start = build_reports(
        [_source(source) for source in listed],
        _with_run(overrides, replications, seed),
        param,
        progress,
        **execution,
    )
    document = render_report(reports, param, start, dimensions)
    if out is not None:
        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(Path(out), document.encode("utf-8"))
        except OSError as error:
            raise InputError(
                f"--out {out}: cannot write the report: {error.strerror or error}"
            ) from None
    return document


def _source(source: ScenarioSource) -> str | Scenario:
    return source if isinstance(source, Scenario) else os.fspath(source)


def _label(source: ScenarioSource) -> str:
    return f"scenario {source.scenario.name!r}" if isinstance(source, Scenario) else str(source)


def _with_run(overrides: Overrides, replications: int | None, seed: int | None) -> list[Override]:
    """``overrides`` then the replication count and seed, when given, as overrides too: the
    scenario model checks them as it would the same keys in a file."""
    listed = override_list(overrides)
    if replications is not None:
        listed.append(("scenario.replications", replications, "replications"))
    if seed is not None:
        listed.append(("scenario.seed", seed, "seed"))
    return listed


def _execution(workers: int | None, scheduler: str | None, cache: CacheOption) -> Execution:
    """Where replications run, checked."""
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InputError(f"workers {workers!r}: expected a whole number >= 1")
    if workers is not None and scheduler is not None:
        raise InputError("workers and scheduler: give one or the other")
    if cache is True:
        store: ReplicationCache | None = ReplicationCache(default_cache_dir())
    elif cache is False:
        store = None
    elif isinstance(cache, ReplicationCache):
        store = cache
    else:
        store = ReplicationCache(cache)
    return {"workers": workers, "scheduler": scheduler, "cache": store}
