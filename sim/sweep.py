"""`mqlsim sweep`: a grid of one or two scenario keys, run on common random numbers.

``--param KEY=START:STOP:STEP`` gives ``START, START+STEP, ...`` up to STOP, which is included
when it lies on the grid (within 1e-9 of a step); integers stay integers, float grids are built
with :func:`numpy.linspace` from a computed count and rounded to 12 significant digits of the
range, so ``0:1:0.1`` ends at exactly ``0.3, ..., 1.0`` with no drift. ``--param KEY=V1,V2,...``
lists values (each a ``--set`` value). Every point runs on the scenario's seed and replication
count, so points differ only by their settings. Each point is validated by the scenario loader,
so an unknown key or a bad value is reported like a ``--set``.

The sweep writes ``sweep.csv``, ``sweep.json``, ``sweep.png`` and ``sweep.svg`` under ``--out``
(each atomically), prints a table of key metrics with their intervals, marks the points whose
MQL→SQL rate is in the 20–40 % band practitioners call healthy, and with ``--objective EXPR``
names the point with the highest objective mean.
"""

from __future__ import annotations

import argparse
import ast
import csv
import difflib
import importlib.metadata
import io
import itertools
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import numpy as np

from sim.atomic import write_atomic
from sim.cli import (
    EXIT_OK,
    ExecutionOptions,
    execution_options,
    progress_callback,
    scenario_overrides,
)
from sim.errors import InputError
from sim.experiment import ExperimentResult, Progress, run_experiments
from sim.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from sim.output import format_value, results_document
from sim.scenario import Scenario
from sim.summary import MetricSummary, summarize, summarize_result

SCHEMA_VERSION = 1
MAX_PARAMS = 2
MAX_POINTS = 1000
#: STOP is on the grid when (STOP - START) / STEP is this close to a whole number.
GRID_TOLERANCE = 1e-9
#: Float grid values are rounded to this many significant digits of the range's magnitude.
SIGNIFICANT_DIGITS = 12
BAND_METRIC = "mql_to_sql_rate"
HEALTHY_BAND = (0.20, 0.40)
TABLE_METRICS: tuple[str, ...] = (
    "mqls",
    "mql_to_sql_rate",
    "sales_hours",
    "wasted_sales_hours",
    "missed_opportunities",
    "lost_pipeline_value",
    "revenue_won",
)
FILES: tuple[str, ...] = ("sweep.csv", "sweep.json", "sweep.png", "sweep.svg")
_PARAM_SYNTAX = "expected KEY=START:STOP:STEP or KEY=V1,V2,..."
_SET_PREFIX = re.compile(r"^--set(?: '[^']*'| \"[^\"]*\")?: ")


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
        raise InputError(f"--param {text!r}: {_PARAM_SYNTAX}")
    if ":" in spec:
        values: list[Any] = _range(text, spec)
        literals = [repr(value) for value in values]
    else:
        from sim.loading import parse_override

        literals = [item.strip() for item in spec.split(",")]
        if not all(literals):
            raise InputError(f"--param {text!r}: empty value in the list; {_PARAM_SYNTAX}")
        try:
            values = [parse_override(f"{key}={literal}")[1] for literal in literals]
        except InputError as error:
            raise InputError(f"--param {text!r}: {_SET_PREFIX.sub('', error.lines[0])}") from None
    if len(values) > MAX_POINTS:
        raise InputError(f"--param {text!r}: {len(values)} values, at most {MAX_POINTS} allowed")
    return Param(text=text, key=key, literals=tuple(literals), values=tuple(values))


def _range(text: str, spec: str) -> list[int] | list[float]:
    """The values of ``START:STOP:STEP`` (see the module docstring)."""
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) != 3:
        raise InputError(f"--param {text!r}: {_PARAM_SYNTAX}")
    try:
        numbers = [_number(part) for part in parts]
    except ValueError:
        raise InputError(f"--param {text!r}: START, STOP and STEP must be numbers") from None
    start, stop, step = numbers
    if step == 0:
        raise InputError(f"--param {text!r}: STEP must not be 0")
    span = (stop - start) / step
    if span < 0:
        raise InputError(f"--param {text!r}: STOP cannot be reached from START by steps of STEP")
    if span + 1 > MAX_POINTS:
        raise InputError(f"--param {text!r}: more than {MAX_POINTS} values")
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
            f"--objective {text!r}: expected an arithmetic expression over metric names,"
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
            raise InputError(f"--objective {text!r}: unknown metric {node.id!r}{hint}")
    elif not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
        raise InputError(
            f"--objective {text!r}: {ast.unparse(node)!r} is not allowed; use numbers, metric"
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
    return np.float64(node.value)


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


def sweep_scenarios(
    path: str, overrides: Sequence[str], params: Sequence[Param]
) -> tuple[Scenario, list[tuple[dict[str, Any], Scenario]]]:
    """The base scenario and, for every grid point in order, its settings and scenario.

    Each value is first tried alone on the base so a bad one is blamed on its ``--param``.
    """
    from sim.loading import load_scenario

    if not 1 <= len(params) <= MAX_PARAMS:
        raise InputError(f"--param: give 1 to {MAX_PARAMS} params, found {len(params)}")
    keys = [param.key for param in params]
    if len(set(keys)) != len(keys):
        raise InputError(f"--param: each key may be swept once, found {', '.join(keys)}")
    if math.prod(len(param.values) for param in params) > MAX_POINTS:
        raise InputError(f"--param: the grid has more than {MAX_POINTS} points")
    base = load_scenario(path, overrides)
    loaded: dict[tuple[str, ...], Scenario] = {}

    def load(extra: list[str], blame: str) -> Scenario:
        if tuple(extra) not in loaded:
            try:
                loaded[tuple(extra)] = load_scenario(path, [*overrides, *extra])
            except InputError as error:
                lines = [f"{blame}: {_SET_PREFIX.sub('', line)}" for line in error.lines]
                raise InputError(lines) from None
        return loaded[tuple(extra)]

    for param in params:
        for literal in param.literals:
            load([f"{param.key}={literal}"], f"--param {param.text!r}")
    points = []
    blame = " and ".join(f"--param {param.text!r}" for param in params)
    for combination in itertools.product(*(range(len(param.values)) for param in params)):
        settings = {
            param.key: param.values[i] for param, i in zip(params, combination, strict=True)
        }
        extra = [
            f"{param.key}={param.literals[i]}" for param, i in zip(params, combination, strict=True)
        ]
        points.append((settings, load(extra, blame)))
    return base, points


def run_sweep(
    base: Scenario,
    params: Sequence[Param],
    grid: Sequence[tuple[dict[str, Any], Scenario]],
    objective: Objective | None = None,
    progress: Progress | None = None,
    **execution: Unpack[ExecutionOptions],
) -> Sweep:
    """Run the ``grid`` that :func:`sweep_scenarios` built and summarize every point.

    ``execution`` goes to :func:`sim.experiment.run_experiments` (workers, scheduler, cache):
    every replication of every point shares one pool.
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
                summaries=summarize_result(result),
                objective=summarize(objective.evaluate(result.replications)) if objective else None,
            )
        )
    return Sweep(base=base, params=tuple(params), objective=objective, points=tuple(points))


def setting_label(value: Any) -> str:
    """A setting as a label shows it: ``100`` for ``100.0``, ``0.3`` for ``0.3``."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    scenario_options: argparse.ArgumentParser,
) -> None:
    """Add `sweep` to the `mqlsim` command line."""
    sweep = commands.add_parser(
        "sweep",
        parents=[scenario_options],
        help="run a grid of settings and plot the trade-offs",
        description=(
            "Run a grid of one or two scenario keys on common random numbers (every point on"
            " the same seed and replications); print key metrics with 95 % intervals, mark the"
            " points whose MQL→SQL rate is in the healthy 20–40 % band, write sweep.csv,"
            " sweep.json and trade-off plots (sweep.png, sweep.svg) under --out."
        ),
    )
    sweep.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    sweep.add_argument(
        "--param",
        dest="params",
        action="append",
        required=True,
        metavar="KEY=START:STOP:STEP|KEY=V1,V2,...",
        help=(
            "a key to sweep: a range (STOP included when on the grid) or a list of values;"
            " give it once or twice"
        ),
    )
    sweep.add_argument(
        "--objective",
        metavar="EXPR",
        help="name the best point by this expression over metrics, higher is better,"
        " e.g. 'revenue_won - 120 * sales_hours'",
    )
    sweep.add_argument(
        "--out", type=Path, default=Path("sweep"), metavar="DIR", help="output folder (./sweep)"
    )
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    options = execution_options(args)
    params = [parse_param(text) for text in args.params]
    objective = parse_objective(args.objective) if args.objective is not None else None
    overrides = scenario_overrides(args)
    base, grid = sweep_scenarios(args.scenario, overrides, params)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {args.out}: cannot create it: {error.strerror or error}") from None
    total = base.scenario.replications * len(grid)
    with progress_callback(total) as progress:
        sweep = run_sweep(base, params, grid, objective, progress, **options)
    try:
        write_sweep(args.out, sweep)
    except OSError as error:
        raise InputError(
            f"--out {args.out}: cannot write the sweep: {error.strerror or error}"
        ) from error
    sys.stdout.write(render_sweep(sweep))
    return EXIT_OK


def _interval(summary: MetricSummary, unit: str | None) -> str:
    """``mean ± half-width`` of a symmetric t-interval, in the metric's display unit (the
    unit-less objective: whole numbers from 1,000 on, else four significant digits)."""

    def show(value: float) -> str:
        if unit is not None:
            return format_value(value, unit)
        if math.isnan(value):
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"

    if math.isnan(summary.ci_high):
        return show(summary.mean)
    return f"{show(summary.mean)} ± {show(summary.ci_high - summary.mean)}"


def _table(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    headers = [param.key for param in sweep.params]
    for name in TABLE_METRICS:
        headers.append(f"{name} %" if METRIC_BY_NAME[name].unit == "share" else name)
    headers.append("MQL→SQL band")
    if sweep.objective is not None:
        headers += ["objective", "best"]
    best = sweep.best
    rows = []
    for index, point in enumerate(sweep.points):
        row = [setting_label(point.settings[param.key]) for param in sweep.params]
        row += [_interval(point.summaries[n], METRIC_BY_NAME[n].unit) for n in TABLE_METRICS]
        row.append(point.band)
        if point.objective is not None:
            row += [_interval(point.objective, None), "best" if index == best else ""]
        rows.append(row)
    return headers, rows


def _caption(sweep: Sweep) -> str:
    meta = sweep.base.scenario
    lines = [
        f"Mean ± 95 % CI half-width of {meta.replications} replications per point, all on seed"
        f" {meta.seed} (common random numbers). MQL→SQL band: healthy is 20–40 %."
    ]
    if sweep.objective is not None:
        best = sweep.best
        chosen = sweep.points[best].label if best is not None else "none (objective not measured)"
        lines.append(f"Best by objective {sweep.objective.text!r}: {chosen}.")
    return "\n".join(lines)


def render_sweep(sweep: Sweep) -> str:
    """The sweep table as aligned plain text: one line per point, however wide the terminal
    (a boxed table would wrap its ten-odd columns into unreadable cells)."""
    headers, rows = _table(sweep)
    title = f"{sweep.base.scenario.name}: sweep of {', '.join(p.key for p in sweep.params)}"
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]
    lines = [title, *(f"  {line}" for line in _caption(sweep).splitlines())]
    for line in [headers, *rows]:
        cells = (cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def sweep_document(sweep: Sweep) -> dict[str, Any]:
    """The content of ``sweep.json``: the base scenario, the grid and every point's metrics."""
    best = sweep.best
    return {
        "schema_version": SCHEMA_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "scenario": json.loads(sweep.base.model_dump_json()),
        "seed": sweep.base.scenario.seed,
        "replications": sweep.base.scenario.replications,
        "params": [{"key": param.key, "values": list(param.values)} for param in sweep.params],
        "healthy_band": {"metric": BAND_METRIC, "low": HEALTHY_BAND[0], "high": HEALTHY_BAND[1]},
        "objective": None
        if sweep.objective is None
        else {"expression": sweep.objective.text, "best": best},
        "points": [
            {
                "settings": point.settings,
                "label": point.label,
                "mql_to_sql_band": point.band,
                "objective": None if point.objective is None else _summary_json(point.objective),
                "metrics": results_document(point.result, point.summaries)["metrics"],
            }
            for point in sweep.points
        ],
    }


def _summary_json(summary: MetricSummary) -> dict[str, Any]:
    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "mean": number(summary.mean),
        "ci_low": number(summary.ci_low),
        "ci_high": number(summary.ci_high),
        "values": [number(value) for value in summary.values],
    }


def sweep_csv(sweep: Sweep) -> str:
    """One row per point: the settings, the band, the objective, every metric's mean and CI."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [param.key for param in sweep.params] + ["mql_to_sql_band"]
    if sweep.objective is not None:
        header += ["objective", "objective_ci_low", "objective_ci_high", "best"]
    for name in METRIC_NAMES:
        header += [name, f"{name}_ci_low", f"{name}_ci_high"]
    writer.writerow(header)
    for index, point in enumerate(sweep.points):
        row: list[Any] = [point.settings[param.key] for param in sweep.params] + [point.band]
        if point.objective is not None:
            row += [*_triple(point.objective), index == sweep.best]
        for name in METRIC_NAMES:
            row += _triple(point.summaries[name])
        writer.writerow(row)
    return buffer.getvalue()


def _triple(summary: MetricSummary) -> list[str]:
    return [repr(summary.mean), repr(summary.ci_low), repr(summary.ci_high)]


def plot_sweep(sweep: Sweep) -> dict[str, bytes]:
    """The trade-off figure (:func:`sim.figures.trade_off_figure`) as PNG and SVG bytes."""
    from sim.figures import FORMATS, TRADE_OFF, render, trade_off_figure  # loads matplotlib

    figure = trade_off_figure(sweep)
    return {fmt: render(figure, fmt, TRADE_OFF) for fmt in FORMATS}


def write_sweep(out_dir: Path, sweep: Sweep) -> None:
    """Write :data:`FILES` into ``out_dir`` (created if missing), each file atomically."""
    images = plot_sweep(sweep)
    contents = {
        "sweep.csv": sweep_csv(sweep).encode(),
        "sweep.json": (
            json.dumps(sweep_document(sweep), indent=2, allow_nan=False, default=str) + "\n"
        ).encode(),
        "sweep.png": images["png"],
        "sweep.svg": images["svg"],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        write_atomic(out_dir / name, contents[name])
