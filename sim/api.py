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
- ``progress``: called as ``progress(done, total)`` while replications finish;
- ``max_memory``: the memory the replications running at once may take, in bytes or as text
  (``"16GB"``); default: this machine's. A run estimated to need more is refused before it
  starts (docs/experiments.md).

A scenario whose ``kind`` names a plug-in as ``"package.module:Class"`` loads only with
``allow_plugins=True`` (it imports and runs that module); plug-ins installed as entry points
load without it, and :func:`validate` imports nothing (docs/security.md).

Bad input raises :class:`~mqlsim.core.errors.InputError`, whose ``lines`` say what is wrong
and where. Results carry per-replication values and summaries, and ``to_records()`` and
``to_frame()`` (pandas, optional) for analysis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mqlsim.core.atomic import write_atomic
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import parse_dimensions
from mqlsim.experiments.backtest import MAX_RESAMPLES, RESAMPLES, Replay, backtest, check_request
from mqlsim.experiments.budget import check_budget, parse_memory
from mqlsim.experiments.cache import ReplicationCache, default_cache_dir
from mqlsim.experiments.calibrate import DEFAULT_BUDGET, Calibration, calibrate_scenario
from mqlsim.experiments.compare import (
    Comparison,
    Side,
    compare_sides,
    load_source,
    parse_gates,
)
from mqlsim.experiments.explain import MqlReason, explain_run
from mqlsim.experiments.export_targets import ExportTargets, read_exports, targets_from_export
from mqlsim.experiments.lifecycle import read_lifecycle
from mqlsim.experiments.mapping import ReplayMapping, load_mapping
from mqlsim.experiments.record import Recording, record_replication
from mqlsim.experiments.replay import (
    BUILT_IN_SEGMENTS,
    EventFile,
    join_outcomes,
    outcome_columns_of,
    read_log,
    replay_file,
)
from mqlsim.experiments.runner import Execution, ExperimentResult, Progress, run_experiment
from mqlsim.experiments.saved import SavedRun, is_saved_results, read_saved
from mqlsim.experiments.sweep import (
    Sweep,
    grid_params,
    parse_objective,
    parse_param,
    run_sweep,
    sweep_scenarios,
)
from mqlsim.experiments.tabular import parse_timestamps
from mqlsim.policies.plugins import PluginAccess
from mqlsim.scenario.loading import (
    Override,
    Overrides,
    load_scenario,
    override_list,
    parse_override,
    resolve_scenario,
)
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.targets import load_targets

ScenarioSource = str | os.PathLike[str] | Scenario
CacheOption = bool | str | os.PathLike[str] | ReplicationCache

__all__ = [
    "Calibration",
    "Comparison",
    "ExperimentResult",
    "InputError",
    "MqlReason",
    "Recording",
    "Replay",
    "Scenario",
    "Sweep",
    "calibrate",
    "compare",
    "explain",
    "load",
    "record",
    "replay",
    "report",
    "run",
    "show",
    "sweep",
    "validate",
]


def load(
    path: ScenarioSource, overrides: Overrides = (), *, allow_plugins: bool = False
) -> Scenario:
    """Load and validate a scenario file (following ``extends``) and apply ``overrides``."""
    return load_scenario(_source(path), overrides, plugins=_plugins(allow_plugins))


def validate(path: ScenarioSource, overrides: Overrides = ()) -> Scenario:
    """Check a scenario file as :func:`load` does, but import no code: a plug-in section is
    checked for its form, not for its ``params``. Safe on files you do not trust."""
    return load_scenario(_source(path), overrides, plugins="none")


def show(path: ScenarioSource, overrides: Overrides = ()) -> str:
    """The scenario as it runs (after ``extends`` and ``overrides``, defaults written out) as
    TOML, each value followed by a comment naming its source: a file, ``--set`` or ``default``.
    """
    from mqlsim.render.show import scenario_toml

    listed = override_list(overrides)
    texts = [item if isinstance(item, str) else f"{item[0]}={item[1]!r}" for item in listed]
    command = " ".join(["mqlsim show", _label(path), *(f"--set {text}" for text in texts)])
    return scenario_toml(resolve_scenario(_source(path), listed, plugins="none"), command)


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
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
) -> ExperimentResult:
    """Run a scenario's replications: ``result.summaries`` (mean, 95 % CI per metric),
    ``result.replications`` (one metric row each)."""
    loaded = load_scenario(
        _source(scenario),
        _with_run(overrides, replications, seed),
        plugins=_plugins(allow_plugins),
    )
    return run_experiment(loaded, progress, **_execution(workers, scheduler, cache, max_memory))


def compare(
    a: ScenarioSource | ExperimentResult,
    b: ScenarioSource | ExperimentResult,
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
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
) -> Comparison:
    """B against A on common random numbers (B runs on A's seed and replication count), each
    metric with its paired 95 % interval; ``gates`` (``"missed_opportunities > +5%"``) give
    ``comparison.passed``; ``by`` (``["channel"]``) compares each segment of those breakdowns
    too. A or B may be ``REV:path``, a file as committed in git; or a finished
    run: a saved ``results.json`` (or the folder holding it) or an :class:`ExperimentResult`,
    compared without running it again (a scenario on the other side runs on its seed and
    replication count). Two finished runs of different seeds or counts are compared unpaired."""
    parsed = parse_gates(gates)
    dimensions = parse_dimensions(by)
    execution = _execution(workers, scheduler, cache, max_memory)
    listed = _with_run(overrides, replications, seed)
    sides: list[Side] = []
    problems: list[str] = []
    for source in (a, b):
        try:
            sides.append(_side(source, listed, _plugins(allow_plugins)))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    if listed and all(isinstance(side, SavedRun) for side in sides):
        raise InputError(
            "--set, --replications and --seed change scenarios that run; A and B are both saved"
            " results, so nothing runs"
        )
    return compare_sides(
        sides[0],
        sides[1],
        parsed,
        sources=(_label(a), _label(b)),
        given=(seed is not None, replications is not None),
        by=dimensions,
        progress=progress,
        **execution,
    )


def _side(
    source: ScenarioSource | ExperimentResult, overrides: list[Override], plugins: PluginAccess
) -> Side:
    """One side of :func:`compare`: a finished run as it is, or a scenario loaded."""
    if isinstance(source, ExperimentResult):
        return SavedRun.from_result(source, _label(source))
    if not isinstance(source, Scenario) and is_saved_results(source):
        return read_saved(source)
    return load_source(_source(source), overrides, plugins=plugins)


def sweep(
    scenario: ScenarioSource | Sequence[ScenarioSource],
    grid: Mapping[str, Iterable[Any]] | Sequence[str] = (),
    *,
    objective: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
) -> Sweep:
    """Run every point of ``grid`` on common random numbers: any number of keys, each with its
    values (``{"policy.threshold": range(60, 141, 20)}``, ``{"policy.kind": ["score",
    "trigger"]}``) or as ``KEY=START:STOP:STEP`` / ``KEY=V1,V2`` texts. Several scenarios (a
    list) add a first axis, ``scenario``, each run on the first one's seed and replication
    count. ``objective`` (``"revenue_won - 120 * sales_hours"``) names the best point."""
    if isinstance(grid, Mapping):
        params = grid_params(grid)
    else:
        params = [parse_param(text) for text in grid]
    parsed = parse_objective(objective) if objective is not None else None
    execution = _execution(workers, scheduler, cache, max_memory)
    sources = (
        _source(scenario)
        if isinstance(scenario, str | os.PathLike | Scenario)
        else [_source(item) for item in scenario]
    )
    base, axes, points = sweep_scenarios(
        sources, _with_run(overrides, replications, seed), params, plugins=_plugins(allow_plugins)
    )
    return run_sweep(base, axes, points, parsed, progress, **execution)


def replay(
    events: str | os.PathLike[str],
    policy: ScenarioSource,
    *,
    against: ScenarioSource | None = None,
    outcomes: str | os.PathLike[str] | None = None,
    mapping: str | os.PathLike[str] | ReplayMapping | None = None,
    by: Sequence[str] = (),
    converted: str | None = None,
    gates: Sequence[str] = (),
    seed: int | None = None,
    resamples: int = RESAMPLES,
    overrides: Overrides = (),
    strict: bool = False,
    allow_plugins: bool = False,
) -> Replay:
    """Backtest a scenario's policy on a recorded activity log (CSV) or lead snapshot: per
    lead, whether, when and why it would have become an MQL (docs/replay.md).

    ``outcomes`` is a lifecycle export joined on lead id (outcomes may also come from the
    log itself); with outcomes the result has the policy's precision, recall and lift, by each
    segment of ``by`` (default: source and rule). ``against`` replays a second policy on the
    same log and compares the two, with bootstrap intervals (``resamples`` from ``seed``, A's
    scenario seed by default) and ``gates`` as in :func:`compare`. ``mapping`` is a mapping
    file (or :class:`~mqlsim.experiments.mapping.ReplayMapping`) naming the log's own columns
    and activities. ``strict`` refuses input with any bad row. ``overrides`` apply to both
    policies.
    """
    parsed_gates = parse_gates(gates)
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"--resamples {resamples}: expected 1 to {MAX_RESAMPLES:,}")
    if parsed_gates and against is None:
        raise InputError(
            f"--fail-if {parsed_gates[0].expression!r}: gates compare two policies; give --against"
        )
    scenarios = _load_all(
        [policy] if against is None else [policy, against], overrides, _plugins(allow_plugins)
    )
    if isinstance(mapping, ReplayMapping):
        names = mapping
    else:
        names = load_mapping(mapping) if mapping is not None else ReplayMapping()
    kept = tuple(name for name in by if name not in BUILT_IN_SEGMENTS)
    file = read_log(events, names, kept)
    if outcomes is not None:
        lifecycles = [read_lifecycle(outcomes, names.outcomes)]
    else:
        lifecycles = outcome_columns_of(events, file, names)
    if strict:
        problems = [
            *_problems(file),
            *(
                line
                for lifecycle in lifecycles
                for problems in lifecycle.problems
                for line in problems.error_lines()
            ),
        ]
        if problems:
            raise InputError(problems)
    file = join_outcomes(file, lifecycles, add_leads=outcomes is not None)
    stage = check_request(file, converted, parsed_gates)
    decisions = [replay_file(file, scenario) for scenario in scenarios]
    segments = list(by) or [*(["source"] if file.source.names else []), "rule"]
    return backtest(
        decisions[0],
        decisions[1] if len(decisions) > 1 else None,
        stage=stage,
        segments=segments,
        gates=parsed_gates,
        seed=scenarios[0].scenario.seed if seed is None else seed,
        resamples=resamples,
    )


def _problems(file: EventFile) -> list[str]:
    """A log's listed problems and how many more there were, as error lines."""
    hidden = file.problem_count - len(file.problems)
    return [
        *file.problem_lines(),
        *([f"{file.label}: {hidden:,} more problems not shown"] if hidden else []),
    ]


def record(
    scenario: ScenarioSource,
    *,
    out: str | os.PathLike[str] | None = None,
    replication: int = 0,
    seed: int | None = None,
    overrides: Overrides = (),
    allow_plugins: bool = False,
) -> Recording:
    """Simulate one replication and record it as a CRM would export it: the activity log
    `mqlsim replay` reads (``events.csv``) and a lifecycle export of what became of every lead
    (``lifecycle.csv``); both written atomically into the folder ``out`` if given."""
    loaded = load_scenario(
        _source(scenario), _with_run(overrides, None, seed), plugins=_plugins(allow_plugins)
    )
    recording = record_replication(loaded, replication)
    if out is not None:
        from mqlsim.render.record import write_recording

        write_recording(recording, Path(out))
    return recording


def _load_all(
    sources: Sequence[ScenarioSource], overrides: Overrides, plugins: PluginAccess
) -> list[Scenario]:
    """Every scenario loaded, or one :class:`InputError` with the problems of all of them."""
    loaded, problems = [], []
    for source in sources:
        try:
            loaded.append(load_source(_source(source), overrides, plugins=plugins))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    return loaded


def explain(
    scenario: ScenarioSource,
    *,
    replication: int = 0,
    leads: Sequence[int] = (),
    limit: int | None = 20,
    seed: int | None = None,
    overrides: Overrides = (),
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
) -> list[MqlReason]:
    """One replication's MQL episodes with the policy's reason for each and how sales ended
    it; ``leads`` keeps those leads only, ``limit`` the first ones (``None``: all)."""
    loaded = load_scenario(
        _source(scenario), _with_run(overrides, None, seed), plugins=_plugins(allow_plugins)
    )
    check_budget(
        [loaded],
        [(0, replication)],
        1,
        None if max_memory is None else parse_memory(max_memory, "max_memory"),
    )
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
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
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
    execution = _execution(workers, scheduler, cache, max_memory)
    reports, start = build_reports(
        [_source(source) for source in listed],
        _with_run(overrides, replications, seed),
        param,
        progress,
        plugins=_plugins(allow_plugins),
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


def calibrate(
    base: ScenarioSource,
    targets: str | os.PathLike[str] | None = None,
    *,
    from_export: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    mapping: str | os.PathLike[str] | ReplayMapping | None = None,
    day_first: bool = False,
    since: str | None = None,
    until: str | None = None,
    period_days: float = 30.0,
    strict: bool = False,
    out: str | os.PathLike[str] | None = None,
    parameters: Sequence[str] | None = None,
    budget: int = DEFAULT_BUDGET,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Overrides = (),
    workers: int | None = None,
    scheduler: str | None = None,
    cache: CacheOption = True,
    progress: Progress | None = None,
    max_memory: int | str | None = None,
    allow_plugins: bool = False,
) -> Calibration:
    """Fit the hidden parameters of ``base`` (with ``overrides``: what the company controls) to
    a targets file, or to the targets of a CRM lifecycle export (docs/calibration.md):
    ``calibration.fitted`` is the fitted scenario, ``calibration.fits`` each target against a
    check run on a seed the fit did not use.

    ``from_export`` is one export file or several joined on the lead id, its columns named by
    ``mapping`` (a mapping file's ``[outcomes]``; HubSpot's names by default), ``day_first``
    for ``DD-MM-YYYY`` dates, ``since`` / ``until`` (ISO dates) to choose the cohorts instead
    of the export's own window, counts per ``period_days``; ``strict`` refuses an export with
    bad rows. ``parameters`` names the parameters to fit instead of those the targets select;
    ``budget`` caps the replications simulated (``progress(done, budget)``). With ``out``
    (``base`` a file), the fitted scenario is written there as a file that extends ``base``,
    and targets computed from an export beside it (``FITTED.targets.toml``)."""
    from mqlsim.render.calibration import fitted_toml, targets_toml

    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise InputError(f"budget {budget!r}: expected a whole number of replications >= 1")
    if (targets is None) == (from_export is None):
        raise InputError(
            "calibrate: give the targets as a file (--targets T.toml) or as a CRM export"
            " (--from-export contacts.csv), not both and not neither"
        )
    if out is not None and isinstance(base, Scenario):
        raise InputError(
            "out: the fitted scenario extends the base scenario's file; give the base as a path"
        )
    if out is not None and Path(out).is_dir():
        raise InputError(f"--out {out}: is a folder; expected a file name such as fitted.toml")
    listed = _with_run(overrides, replications, seed)
    loaded = load_scenario(_source(base), listed, plugins=_plugins(allow_plugins))
    if from_export is None:
        assert targets is not None  # exactly one of the two, checked above
        goals, export = load_targets(targets), None
    else:
        export = _export_targets(from_export, mapping, day_first, since, until, period_days, strict)
        goals = export.targets
    calibration = calibrate_scenario(
        loaded,
        goals,
        parameters=parameters,
        budget=budget,
        progress=progress,
        execution=dict(_execution(workers, scheduler, cache, max_memory)),
    )
    calibration = replace(calibration, export=export)
    if out is not None:
        assert not isinstance(base, Scenario)  # refused above
        destination = Path(out)
        written_targets = targets
        if export is not None:
            written_targets = destination.with_name(f"{destination.stem}.targets.toml")
            write_atomic(Path(written_targets), targets_toml(export).encode("utf-8"))
        extends = os.path.relpath(os.path.abspath(base), os.path.abspath(destination.parent))
        sets = [item for item in listed if isinstance(item, str)]
        header = [
            f"Fitted by `mqlsim calibrate` to {written_targets}: run it as any scenario.",
            f"Base: {base}" + (f" with --set {' --set '.join(sets)}" if sets else "") + ".",
            f"Fit on seed {loaded.scenario.seed}, {loaded.scenario.replications} replications an"
            f" evaluation, {calibration.replications} replications in all; the achieved values",
            f"are from a check run on seed {calibration.check.scenario.scenario.seed}.",
        ]
        text = fitted_toml(calibration, Path(extends).as_posix(), _override_paths(listed), header)
        _write_fitted(destination, text, calibration.fitted, str(base))
    return calibration


def _export_targets(
    from_export: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    mapping: str | os.PathLike[str] | ReplayMapping | None,
    day_first: bool,
    since: str | None,
    until: str | None,
    period_days: float,
    strict: bool,
) -> ExportTargets:
    if isinstance(period_days, bool) or not period_days > 0 or not math.isfinite(period_days):
        raise InputError(f"--period-days {period_days!r}: expected a number of days > 0")
    paths = [from_export] if isinstance(from_export, str | os.PathLike) else list(from_export)
    if isinstance(mapping, ReplayMapping):
        names = mapping
    else:
        names = load_mapping(mapping) if mapping is not None else ReplayMapping()
    lifecycle, problems = read_exports(paths, names.outcomes, day_first=day_first)
    if strict and problems:
        raise InputError(list(problems))
    return targets_from_export(
        lifecycle,
        period_days=period_days,
        since_ns=_date_ns("--since", since),
        until_ns=_date_ns("--until", until),
        problems=problems,
    )


def _date_ns(option: str, text: str | None) -> int | None:
    """An ISO date (``2018-06-01``) as nanoseconds since 1970 UTC."""
    if text is None:
        return None
    ns, ok = parse_timestamps([text])
    if not ok[0]:
        raise InputError(f"{option} {text!r}: expected an ISO date such as 2018-06-01")
    return int(ns[0])


def _override_paths(overrides: Sequence[Override]) -> list[tuple[str, ...]]:
    """The key path each override sets."""
    paths = []
    for item in overrides:
        if isinstance(item, str):
            keys, _ = parse_override(item)
        else:
            keys = [part.strip().strip("\"'") for part in str(item[0]).split(".")]
        paths.append(tuple(keys))
    return paths


def _write_fitted(out: Path, text: str, fitted: Scenario, base: str) -> None:
    """Write the fitted scenario's file atomically, once a trial copy beside it has been read
    back as exactly ``fitted`` (so a file that would load differently is never left)."""
    trial = out.with_name(f".{out.name}.{os.getpid()}.trial.toml")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(trial, text.encode("utf-8"))
        try:
            same = load_scenario(trial).model_dump() == fitted.model_dump()
        except InputError:
            same = False
        if not same:
            raise InputError(
                f"--out {out}: the fitted scenario cannot be written as a file extending {base}"
                " (a --set replaced a whole table or array that a file can only merge into);"
                " give its entries one by one, e.g. --set sales.win_probability.A=0.3"
            )
        os.replace(trial, out)
    except OSError as error:
        raise InputError(
            f"--out {out}: cannot write the fitted scenario: {error.strerror or error}"
        ) from None
    finally:
        trial.unlink(missing_ok=True)


def _plugins(allow_plugins: bool) -> PluginAccess:
    """What loading may import: any plug-in when the caller allows it, else entry points."""
    return "any" if allow_plugins else "entry_points"


def _source(source: ScenarioSource) -> str | Scenario:
    return source if isinstance(source, Scenario) else os.fspath(source)


def _label(source: ScenarioSource | ExperimentResult) -> str:
    if isinstance(source, ExperimentResult):
        return f"result of {source.scenario.scenario.name!r}"
    if isinstance(source, Scenario):
        return f"scenario {source.scenario.name!r}"
    return os.fspath(source)


def _with_run(overrides: Overrides, replications: int | None, seed: int | None) -> list[Override]:
    """``overrides`` then the replication count and seed, when given, as overrides too: the
    scenario model checks them as it would the same keys in a file."""
    listed = override_list(overrides)
    if replications is not None:
        listed.append(("scenario.replications", replications, "replications"))
    if seed is not None:
        listed.append(("scenario.seed", seed, "seed"))
    return listed


def _execution(
    workers: int | None, scheduler: str | None, cache: CacheOption, max_memory: int | str | None
) -> Execution:
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
    limit = None if max_memory is None else parse_memory(max_memory, "max_memory")
    return {"workers": workers, "scheduler": scheduler, "cache": store, "max_memory": limit}
