"""A grid of scenario keys, or of scenario files, run on common random numbers (`mqlsim sweep`).

Any key of a scenario may be swept, ``policy.kind`` and ``nurture.kind`` included (a point that
changes a kind starts that table from the new kind's defaults, see
:mod:`mqlsim.scenario.loading`); several keys make the full grid. To compare whole policies with
their parameters, sweep scenario files: with several files the first axis is the file
(``scenario``), every file running on the first one's seed and replication count.

``KEY=START:STOP:STEP`` gives ``START, START+STEP, ...`` up to STOP, which is included when it
lies on the grid (within 1e-9 of a step); integers stay integers, float grids are built with
:func:`numpy.linspace` from a computed count and rounded to 12 significant digits of the range,
so ``0:1:0.1`` ends at exactly ``0.3, ..., 1.0`` with no drift. ``KEY=V1,V2,...`` lists values
(each a ``--set`` value). Every point runs on the scenario's seed and replication count, so
points differ only by their settings. Each point is validated by the scenario loader, so an
unknown key or a bad value is reported like an override. Points whose MQL→SQL rate is in the
20–40 % band practitioners call healthy are marked; an objective names the best point.

Two pieces are written here although libraries come close; the reasons:

- the grid: ``numpy.arange`` drifts (``0.1 * 3`` is ``0.30000000000000004``) and leaves STOP
  out, and ``numpy.linspace`` needs a count; :func:`_range` computes the count from STEP with a
  tolerance, keeps integers integers and rounds with ``linspace``, and ``itertools.product``
  builds the grid;
- the objective: ``eval`` (or pandas' ``DataFrame.eval``/numexpr, which accept attribute access
  and function calls) would run whatever a shared command line holds; parsing with :mod:`ast`
  and evaluating only a whitelist of arithmetic on metric columns keeps it to arithmetic, in
  about thirty lines.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack, cast

import numpy as np

from mqlsim.core.errors import InputError, shown
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from mqlsim.experiments.runner import Execution, ExperimentResult, Progress, run_experiments
from mqlsim.experiments.summary import MetricSummary, summarize
from mqlsim.policies.plugins import PluginAccess
from mqlsim.scenario.loading import Overrides, load_scenario, override_list, parse_override
from mqlsim.scenario.models import Scenario

MAX_POINTS = 1000
#: The key of the scenario-file axis of a sweep over several files.
SCENARIO_KEY = "scenario"
#: STOP is on the grid when (STOP - START) / STEP is this close to a whole number.
GRID_TOLERANCE = 1e-9
#: Float grid values are rounded to this many significant digits of the range's magnitude.
SIGNIFICANT_DIGITS = 12
BAND_METRIC = "mql_to_sql_rate"
HEALTHY_BAND = (0.20, 0.40)
_PARAM_SYNTAX = "expected KEY=START:STOP:STEP or KEY=V1,V2,..."
#: How the loader names an override in its error lines (``--set 'K=V': ``, ``overrides['K']: ``).
_OVERRIDE_PREFIX = re.compile(
    r"^(?:--set(?: (?:'[^']*'|\"[^\"]*\")(?:\.\.\. \([\d,]+ characters\))?)?"
    r"|overrides(?:\[[^\]]*\])?): "
)


@dataclass(frozen=True)
class Param:
    """One swept key: its values as ``--set`` literals, and the values themselves."""

    text: str
    key: str
    literals: tuple[str, ...]
    values: tuple[Any, ...]


def parse_param(text: str) -> Param:
    """Parse ``KEY=START:STOP:STEP`` or ``KEY=V1,V2,...``; :class:`InputError` if malformed."""
    key, equals, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not equals or not key or not spec:
        raise InputError(f"--param {shown(text)}: {_PARAM_SYNTAX}")
    if ":" in spec:
        values: list[Any] = _range(text, spec)
        literals = [repr(value) for value in values]
    else:
        literals = [item.strip() for item in spec.split(",")]
        if not all(literals):
            raise InputError(f"--param {shown(text)}: empty value in the list; {_PARAM_SYNTAX}")
        try:
            values = [parse_override(f"{key}={literal}")[1] for literal in literals]
        except InputError as error:
            raise InputError(
                f"--param {shown(text)}: {_OVERRIDE_PREFIX.sub('', error.lines[0])}"
            ) from None
    if len(values) > MAX_POINTS:
        raise InputError(
            f"--param {shown(text)}: {len(values)} values, at most {MAX_POINTS} allowed"
        )
    return Param(text=text, key=key, literals=tuple(literals), values=tuple(values))


def _range(text: str, spec: str) -> list[int] | list[float]:
    """The values of ``START:STOP:STEP`` (see the module docstring)."""
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) != 3:
        raise InputError(f"--param {shown(text)}: {_PARAM_SYNTAX}")
    try:
        numbers = [_number(part) for part in parts]
    except ValueError:
        raise InputError(f"--param {shown(text)}: START, STOP and STEP must be numbers") from None
    start, stop, step = numbers
    if step == 0:
        raise InputError(f"--param {shown(text)}: STEP must not be 0")
    span = (stop - start) / step
    if span < 0:
        raise InputError(
            f"--param {shown(text)}: STOP cannot be reached from START by steps of STEP"
        )
    if span + 1 > MAX_POINTS:
        raise InputError(f"--param {shown(text)}: more than {MAX_POINTS} values")
    nearest = round(span)
    on_grid = abs(span - nearest) <= GRID_TOLERANCE
    count = (nearest if on_grid else math.floor(span)) + 1
    if all(isinstance(number, int) for number in numbers):
        return [int(start + index * step) for index in range(count)]
    end = stop if on_grid else start + (count - 1) * step
    magnitude = max(abs(start), abs(stop), abs(step))
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(magnitude))
    return [round(float(value), digits) + 0.0 for value in np.linspace(start, end, count)]


def _number(text: str) -> int | float:
    """An integer if ``text`` is one, else a finite float; ``ValueError`` otherwise."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_OPERATORS: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
}


@dataclass(frozen=True)
class Objective:
    """An arithmetic expression over metric names, checked against a whitelist of syntax."""

    text: str
    tree: ast.expr

    def evaluate(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        """The objective of each replication (``nan`` or infinite where it divides by 0)."""
        columns = {
            name: np.array([row[name] for row in rows], dtype=float) for name in METRIC_NAMES
        }
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = np.broadcast_to(_evaluate(self.tree, columns), (len(rows),))
        return [float(value) for value in values]


def parse_objective(text: str) -> Objective:
    """Parse ``--objective``: numbers, metric names, ``+ - * /``, unary ``-`` and parentheses.

    Nothing is evaluated here, and evaluation only ever does arithmetic on metric columns.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):
        raise InputError(
            f"--objective {shown(text)}: expected an arithmetic expression over metric names,"
            " e.g. 'revenue_won - 120 * sales_hours'"
        ) from None
    _check(tree, text)
    return Objective(text=text, tree=tree)


def _check(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, text)
    elif isinstance(node, ast.Name):
        if node.id not in METRIC_BY_NAME:
            close = difflib.get_close_matches(node.id, METRIC_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if node.id == "reps":
                hint = (
                    " (a setting, not a metric: the team's cost is the metric sales_cost, from"
                    " costs.cost_per_rep_per_year)"
                )
            raise InputError(f"--objective {shown(text)}: unknown metric {node.id!r}{hint}")
    elif not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
        raise InputError(
            f"--objective {shown(text)}: {ast.unparse(node)!r} is not allowed; use numbers, metric"
            " names, + - * / and parentheses"
        )


def _evaluate(node: ast.expr, columns: Mapping[str, np.ndarray]) -> Any:
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, columns), _evaluate(node.right, columns)
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, columns)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Name):
        return columns[node.id]
    assert isinstance(node, ast.Constant)
    return np.float64(cast(float, node.value))  # an int or a float: parse_objective checked


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its settings (key → value), what it measured and how it is marked."""

    settings: dict[str, Any]
    label: str
    result: ExperimentResult
    summaries: dict[str, MetricSummary]
    objective: MetricSummary | None

    @property
    def band(self) -> str:
        """Where the MQL→SQL rate's mean lies: ``low``, ``healthy``, ``high`` or ``n/a``."""
        rate = self.summaries[BAND_METRIC].mean
        if math.isnan(rate):
            return "n/a"
        low, high = HEALTHY_BAND
        return "low" if rate < low else "high" if rate > high else "healthy"


@dataclass(frozen=True)
class Sweep:
    """A finished sweep: the base scenario, the swept params, the points in grid order."""

    base: Scenario
    params: tuple[Param, ...]
    objective: Objective | None
    points: tuple[SweepPoint, ...]

    @property
    def best(self) -> int | None:
        """Index of the point with the highest objective mean (the first on ties), if any."""
        means = [point.objective.mean if point.objective else math.nan for point in self.points]
        finite = [index for index, mean in enumerate(means) if math.isfinite(mean)]
        return max(finite, key=lambda index: means[index]) if finite else None

    def to_records(self) -> list[dict[str, Any]]:
        """One record per point: its settings, band, objective and every metric's mean."""
        records = []
        for point in self.points:
            record: dict[str, Any] = dict(point.settings)
            record["mql_to_sql_band"] = point.band
            if point.objective is not None:
                record["objective"] = point.objective.mean
            record.update({name: summary.mean for name, summary in point.summaries.items()})
            records.append(record)
        return records

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records())


def grid_params(grid: Mapping[str, Iterable[Any]]) -> list[Param]:
    """Params from a Python grid (``{"policy.threshold": range(60, 141, 20)}``)."""
    params = []
    for key, values in grid.items():
        listed = tuple(values)
        if not listed:
            raise InputError(f"grid[{key!r}]: expected at least one value")
        if len(listed) > MAX_POINTS:
            raise InputError(f"grid[{key!r}]: {len(listed)} values, at most {MAX_POINTS} allowed")
        text = f"{key}={','.join(setting_label(value) for value in listed)}"
        params.append(Param(text, key, tuple(setting_label(v) for v in listed), listed))
    return params


def sweep_scenarios(
    source: str | Scenario | Sequence[str | Scenario],
    overrides: Overrides,
    params: Sequence[Param],
    *,
    plugins: PluginAccess = "entry_points",
) -> tuple[Scenario, list[Param], list[tuple[dict[str, Any], Scenario]]]:
    """The base scenario, the grid's axes (``params``, after the scenario axis when there are
    several scenarios) and, for every grid point in order, its settings and scenario
    (``plugins`` as in :func:`mqlsim.scenario.loading.load_scenario`).

    ``source`` is one scenario or several: with several, the first axis of the grid is the
    scenario (key :data:`SCENARIO_KEY`), each run on the first one's seed and replication
    count. Each value is first tried alone on the base so a bad one is blamed on its param.
    """
    sources = [source] if isinstance(source, str | Scenario) else list(source)
    if not sources:
        raise InputError("sweep: give at least one scenario")
    if not params and len(sources) < 2:
        raise InputError("--param: give at least one key to sweep, or several scenario files")
    keys = [param.key for param in params]
    if len(set(keys)) != len(keys):
        raise InputError(f"--param: each key may be swept once, found {', '.join(keys)}")
    if SCENARIO_KEY in keys:
        raise InputError(
            f"--param {SCENARIO_KEY}: sweep scenario files by naming them: mqlsim sweep A B ..."
        )
    if len(sources) * math.prod(len(param.values) for param in params) > MAX_POINTS:
        raise InputError(f"--param: the grid has more than {MAX_POINTS} points")
    given = override_list(overrides)
    base = load_scenario(sources[0], given, plugins=plugins)
    if len(sources) > 1:
        meta = base.scenario
        given = [
            *given,
            ("scenario.seed", meta.seed, "seed"),
            ("scenario.replications", meta.replications, "replications"),
        ]
        labels = tuple(_source_label(item) for item in sources)
        params = [
            Param(f"{SCENARIO_KEY}={','.join(labels)}", SCENARIO_KEY, labels, labels),
            *params,
        ]
    loaded: dict[tuple[tuple[int, int], ...], Scenario] = {}
    swept = [param for param in params if param.key != SCENARIO_KEY]
    offset = len(params) - len(swept)

    def load(indices: tuple[tuple[int, int], ...], blame: str) -> Scenario:
        if indices not in loaded:
            chosen = dict(indices)
            extra = [(params[p].key, params[p].values[i]) for p, i in indices if p >= offset]
            try:
                loaded[indices] = load_scenario(
                    sources[chosen.get(0, 0) if offset else 0], [*given, *extra], plugins=plugins
                )
            except InputError as error:
                lines = [f"{blame}: {_OVERRIDE_PREFIX.sub('', line)}" for line in error.lines]
                raise InputError(lines) from None
        return loaded[indices]

    for p, param in enumerate(params):
        for i in range(len(param.values)):
            load(((p, i),), f"--param {shown(param.text)}" if p >= offset else str(sources[i]))
    points = []
    blame = " and ".join(f"--param {shown(param.text)}" for param in swept) or "sweep"
    for combination in itertools.product(*(range(len(param.values)) for param in params)):
        settings = {
            param.key: param.values[i] for param, i in zip(params, combination, strict=True)
        }
        points.append((settings, load(tuple(enumerate(combination)), blame)))
    return base, list(params), points


def _source_label(source: str | Scenario) -> str:
    """A scenario file as the grid names it (a loaded scenario by its name)."""
    return source if isinstance(source, str) else source.scenario.name


def run_sweep(
    base: Scenario,
    params: Sequence[Param],
    grid: Sequence[tuple[dict[str, Any], Scenario]],
    objective: Objective | None = None,
    progress: Progress | None = None,
    **execution: Unpack[Execution],
) -> Sweep:
    """Run the ``grid`` that :func:`sweep_scenarios` built and summarize every point.

    ``execution`` goes to :func:`mqlsim.experiments.runner.run_experiments` (workers,
    scheduler, cache): every replication of every point shares one pool.
    """
    results = run_experiments([scenario for _, scenario in grid], progress, **execution)
    points = []
    for (settings, _), result in zip(grid, results, strict=True):
        label = ", ".join(
            f"{key.rsplit('.', 1)[-1]}={setting_label(v)}" for key, v in settings.items()
        )
        points.append(
            SweepPoint(
                settings=settings,
                label=label,
                result=result,
                summaries=result.summaries,
                objective=summarize(objective.evaluate(result.replications)) if objective else None,
            )
        )
    return Sweep(base=base, params=tuple(params), objective=objective, points=tuple(points))


def setting_label(value: Any) -> str:
    """A setting as a label shows it: ``100`` for ``100.0``, ``0.3`` for ``0.3``."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)
