"""`mqlsim compare A B`: two scenarios on common random numbers, metric by metric, with gates.

B runs on A's root seed and replication count (or ``--seed``/``--replications``), so replication
``r`` of both draws the same leads and journeys and only the scenarios' differences show. Both
run together through :func:`sim.experiment.run_experiments`, sharing one pool (``--workers``,
``--scheduler``) and the replication cache (``--no-cache``). The
statistics are in :mod:`sim.paired`, the ``--fail-if`` gates in :mod:`sim.gates`, ``REV:path``
arguments in :mod:`sim.revisions`. Exit codes: 0 every gate passed, 1 a gate failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sim.cli import EXIT_OK, execution_options, progress_callback, scenario_overrides
from sim.errors import InputError
from sim.experiment import run_experiments
from sim.gates import Gate, GateKind, GateResult, evaluate_gate, parse_gate
from sim.loading import load_scenario
from sim.metric_catalog import METRIC_BY_NAME
from sim.output import UNIT_FORMATS, format_value
from sim.paired import BETTER, MARK_LEGEND, WORSE, PairedComparison, compare_rows
from sim.revisions import load_revision_scenario, split_revision
from sim.scenario import Scenario

EXIT_GATE_FAILED = 1
FORMATS: tuple[str, ...] = ("table", "markdown", "json")
COLUMNS: tuple[str, ...] = ("metric", "A", "B", "B − A", "95 % CI", "change", "mark", "n", "unit")
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
GATE_RULE = (
    "A change gate fails only when the whole 95 % interval of the change lies beyond its bound;"
    " a bound gate (unsigned number) fails when B's mean is beyond it."
)
_READING = (
    "B − A with its 95 % paired t-interval over per-replication differences; change relative to"
    " A's mean; shares in %, their differences in percentage points; n = replications measured"
    " by both."
)


@dataclass(frozen=True)
class Comparison:
    """Everything `compare` reports: what ran, the per-metric comparisons and the gate verdicts."""

    a_source: str
    b_source: str
    a_name: str
    b_name: str
    seed: int
    replications: int
    notes: tuple[str, ...]
    metrics: Mapping[str, PairedComparison]
    gates: tuple[GateResult, ...]

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that failed."""
        return tuple(result for result in self.gates if not result.passed)


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    scenario_options: argparse.ArgumentParser,
) -> None:
    """Add `compare` to the `mqlsim` command line."""
    compare = commands.add_parser(
        "compare",
        parents=[scenario_options],
        help="compare two scenarios on common random numbers, with --fail-if gates",
        description=(
            "Run A and B on the same replication seeds (A's) and print, for every metric, both"
            " means, the difference B − A with its 95 % paired interval, the relative change and"
            " a mark (+ better, - worse, ~ not significant, * significant change of a volume)."
            " A or B may be REV:path, a file as committed in a git revision (an existing file"
            " of that name wins). Exit 0 when every gate passes, 1 when one fails, 2 on bad input."
        ),
    )
    compare.add_argument("a", metavar="A", help="the reference scenario: a TOML file or REV:path")
    compare.add_argument("b", metavar="B", help="the scenario compared with A: a file or REV:path")
    compare.add_argument(
        "--fail-if",
        dest="gates",
        action="append",
        default=[],
        metavar="EXPR",
        help=(
            "fail (exit 1) if METRIC OP VALUE[%%] holds, OP one of > >= < <=: '+5%%' is a"
            " relative change against A, '+100' an absolute change, '0.20' a bound on B's mean;"
            " a change must be significant to fail (repeatable)"
        ),
    )
    compare.add_argument("--format", choices=FORMATS, default="table", help="output format")
    compare.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    gates = _parse_gates(args.gates)
    options = execution_options(args)
    overrides = scenario_overrides(args)
    a, b_own = _load_both(args.a, args.b, overrides)
    seed, replications = a.scenario.seed, a.scenario.replications
    change_gates = [gate for gate in gates if gate.kind is not GateKind.BOUND]
    if change_gates and replications < 2:
        raise InputError(
            f"--fail-if {change_gates[0].expression!r}: a change gate needs at least 2"
            f" replications for its interval, not {replications}"
        )
    b = b_own.model_copy(
        update={
            "scenario": b_own.scenario.model_copy(
                update={"seed": seed, "replications": replications}
            )
        }
    )
    with progress_callback(2 * replications) as progress:
        a_result, b_result = run_experiments([a, b], progress, **options)
    metrics = compare_rows(a_result.replications, b_result.replications)
    comparison = Comparison(
        a_source=args.a,
        b_source=args.b,
        a_name=a.scenario.name,
        b_name=b.scenario.name,
        seed=seed,
        replications=replications,
        notes=_notes(args, a, b_own),
        metrics=metrics,
        gates=tuple(evaluate_gate(gate, metrics[gate.metric]) for gate in gates),
    )
    text = render_comparison(comparison, args.format)
    sys.stdout.write(text)
    if args.format == "markdown":
        _append_job_summary(text)
    for result in comparison.failed:
        print(f"mqlsim: gate failed: {result.gate.expression}: {result.reason}", file=sys.stderr)
    return EXIT_GATE_FAILED if comparison.failed else EXIT_OK


def _parse_gates(expressions: list[str]) -> list[Gate]:
    """All ``--fail-if`` gates, or one :class:`InputError` line per invalid one."""
    gates, problems = [], []
    for expression in expressions:
        try:
            gates.append(parse_gate(expression))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(problems)
    return gates


def _load_both(a: str, b: str, overrides: list[str]) -> tuple[Scenario, Scenario]:
    """Load A and B; :class:`InputError` with the problems of both when either is invalid."""
    loaded, problems = [], []
    for argument in (a, b):
        try:
            loaded.append(_load(argument, overrides))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    return loaded[0], loaded[1]


def _load(argument: str, overrides: list[str]) -> Scenario:
    """A scenario from a file, or from ``REV:path`` (see :func:`sim.revisions.split_revision`)."""
    revision = split_revision(argument)
    if revision is None:
        return load_scenario(argument, overrides)
    return load_revision_scenario(*revision, overrides)


def _notes(args: argparse.Namespace, a: Scenario, b_own: Scenario) -> tuple[str, ...]:
    """Which seed and how many replications ran, and what of B's own settings was overridden."""
    seed, replications = a.scenario.seed, a.scenario.replications
    seed_from = "--seed" if args.seed is not None else "A's"
    count_from = "--replications" if args.replications is not None else "A's"
    plural = "" if replications == 1 else "s"
    notes = [
        f"Common random numbers: A and B both ran {replications} replication{plural}"
        f" ({count_from}) from root seed {seed} ({seed_from})."
    ]
    differs = []
    if b_own.scenario.seed != seed:
        differs.append(f"seed {b_own.scenario.seed}")
    if b_own.scenario.replications != replications:
        differs.append(f"{b_own.scenario.replications} replications")
    if differs:
        notes.append(
            f"B's file sets {' and '.join(differs)}; A's win, since a paired comparison needs"
            " the same seeds."
        )
    return tuple(notes)


def _signed(value: float, unit: str) -> str:
    text = format_value(value, unit)
    return f"+{text}" if value > 0 else text


def _row(metric: PairedComparison) -> tuple[str, ...]:
    """One table row; ``n/a`` for what is undefined."""
    unit = METRIC_BY_NAME[metric.name].unit
    if math.isnan(metric.ci_low):
        interval = "n/a"
    else:
        interval = f"{_signed(metric.ci_low, unit)} – {_signed(metric.ci_high, unit)}"
    relative = "n/a" if math.isnan(metric.relative) else f"{metric.relative * 100:+.1f} %"
    return (
        metric.name,
        format_value(metric.a_mean, unit),
        format_value(metric.b_mean, unit),
        "n/a" if math.isnan(metric.difference) else _signed(metric.difference, unit),
        interval,
        relative,
        metric.mark,
        str(metric.n),
        UNIT_FORMATS[unit][1],
    )


def _gate_line(result: GateResult) -> str:
    return f"{'PASS' if result.passed else 'FAIL'}  {result.gate.expression}: {result.reason}"


def _verdict(comparison: Comparison) -> str:
    failed = comparison.failed
    if not failed:
        return "The gate passed." if len(comparison.gates) == 1 else "All gates passed."
    names = ", ".join(result.gate.expression for result in failed)
    return f"{len(failed)} of {len(comparison.gates)} gates failed: {names}"


def _plain(comparison: Comparison) -> str:
    """Aligned text for logs and pipes: names, marks and units left, numbers right."""
    lines = [COLUMNS, *(_row(metric) for metric in comparison.metrics.values())]
    widths = [max(len(line[column]) for line in lines) for column in range(len(COLUMNS))]
    left = {"metric", "mark", "unit"}
    text = [
        f"A: {comparison.a_source} ({comparison.a_name})",
        f"B: {comparison.b_source} ({comparison.b_name})",
        *comparison.notes,
        _READING,
        f"Marks: {MARK_LEGEND}.",
        "",
    ]
    for line in lines:
        cells = [
            cell.ljust(width) if name in left else cell.rjust(width)
            for name, cell, width in zip(COLUMNS, line, widths, strict=True)
        ]
        text.append("  ".join(cells).rstrip())
    if comparison.gates:
        text += ["", f"Gates: {GATE_RULE}"]
        text += [f"  {_gate_line(result)}" for result in comparison.gates]
        text.append(_verdict(comparison))
    return "\n".join(text) + "\n"


def _rich(comparison: Comparison) -> str:
    """A rich table (marks in colour) for the terminal stdout is attached to.

    A terminal too narrow for it gets the plain table, which wraps lines rather than cutting
    numbers short.
    """
    colours = {BETTER: "green", WORSE: "red"}
    table = Table(
        box=box.SIMPLE_HEAD,
        caption=f"{_READING}\nMarks: {MARK_LEGEND}.",
    )
    for name in COLUMNS:
        justify = "left" if name in ("metric", "mark", "unit") else "right"
        table.add_column(name, justify=justify, no_wrap=True)
    for metric in comparison.metrics.values():
        cells = [Text(cell) for cell in _row(metric)]
        if metric.mark in colours:
            cells[6].stylize(colours[metric.mark])
        table.add_row(*cells)
    console = Console()
    if console.measure(table, options=console.options.update_width(10**4)).maximum > console.width:
        return _plain(comparison)
    with console.capture() as capture:
        console.print(Text(f"A: {comparison.a_source} ({comparison.a_name})"))
        console.print(Text(f"B: {comparison.b_source} ({comparison.b_name})"))
        for note in comparison.notes:
            console.print(Text(note))
        console.print(table)
        if comparison.gates:
            console.print(Text(f"Gates: {GATE_RULE}"))
            for result in comparison.gates:
                style = "green" if result.passed else "bold red"
                console.print(Text(f"  {_gate_line(result)}", style=style))
            console.print(Text(_verdict(comparison)))
    return capture.get()


def _markdown(comparison: Comparison) -> str:
    """GitHub-flavoured Markdown for a job summary or a pull-request comment; gates first."""
    lines = [
        f"### mqlsim compare: {comparison.a_name} → {comparison.b_name}",
        "",
        f"**A** `{comparison.a_source}` ({comparison.a_name}) · "
        f"**B** `{comparison.b_source}` ({comparison.b_name})",
        "",
        " ".join(comparison.notes),
        "",
    ]
    if comparison.gates:
        lines += [f"**{_verdict(comparison)}**", "", GATE_RULE, ""]
        for result in comparison.gates:
            verdict = "✅ **PASS**" if result.passed else "❌ **FAIL**"
            lines.append(f"- {verdict} `{result.gate.expression}`: {result.reason}")
        lines.append("")
    lines += [
        f"{_READING} Marks: {MARK_LEGEND}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|:--|--:|--:|--:|--:|--:|:-:|--:|:--|",
    ]
    for metric in comparison.metrics.values():
        row = list(_row(metric))
        row[6] = f"`{row[6]}`"
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float) -> float | None:
    """JSON has no nan or infinity: such a value becomes ``null``."""
    return value if math.isfinite(value) else None


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The ``--format json`` document: plain numbers (shares as fractions), nan as null."""
    metrics = {
        name: {
            "a_mean": _number(metric.a_mean),
            "b_mean": _number(metric.b_mean),
            "difference": _number(metric.difference),
            "ci_low": _number(metric.ci_low),
            "ci_high": _number(metric.ci_high),
            "relative_change": _number(metric.relative),
            "relative_ci_low": _number(metric.relative_low),
            "relative_ci_high": _number(metric.relative_high),
            "n": metric.n,
            "significant": metric.significant,
            "mark": metric.mark,
        }
        for name, metric in comparison.metrics.items()
    }
    gates = [
        {
            "expression": result.gate.expression,
            "metric": result.gate.metric,
            "kind": result.gate.kind.name.lower(),
            "operator": result.gate.operator,
            "value": result.gate.value,
            "passed": result.passed,
            "reason": result.reason,
        }
        for result in comparison.gates
    ]
    return {
        "a": {"source": comparison.a_source, "scenario": comparison.a_name},
        "b": {"source": comparison.b_source, "scenario": comparison.b_name},
        "seed": comparison.seed,
        "replications": comparison.replications,
        "notes": list(comparison.notes),
        "metrics": metrics,
        "gates": gates,
        "passed": not comparison.failed,
    }


def render_comparison(comparison: Comparison, fmt: str) -> str:
    """``comparison`` in ``fmt`` (one of :data:`FORMATS`), ending with a newline.

    ``table`` is a rich table when stdout is a terminal and plain aligned text otherwise.
    """
    if fmt == "json":
        return json.dumps(comparison_document(comparison), indent=2, allow_nan=False) + "\n"
    if fmt == "markdown":
        return _markdown(comparison)
    if fmt == "table":
        return _rich(comparison) if sys.stdout.isatty() else _plain(comparison)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _append_job_summary(markdown: str) -> None:
    """Append ``markdown`` to the file ``$GITHUB_STEP_SUMMARY`` names, when it is set."""
    path = os.environ.get(SUMMARY_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except OSError as error:
        raise InputError(
            f"${SUMMARY_VARIABLE} {path}: cannot append the summary ({error.strerror or error})"
        ) from None
