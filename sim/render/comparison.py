"""A comparison as a table (terminal or plain), GitHub Markdown, or JSON (`mqlsim compare`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from mqlsim.core.metric_catalog import METRIC_BY_NAME, UNIT_FORMATS, format_value
from mqlsim.experiments.compare import Comparison
from mqlsim.experiments.gates import GateResult
from mqlsim.experiments.paired import BETTER, MARK_LEGEND, WORSE, PairedComparison
from mqlsim.render.tables import Document, Style, Table

FORMATS: tuple[str, ...] = ("table", "markdown", "json")
COLUMNS: tuple[str, ...] = ("metric", "A", "B", "B − A", "95 % CI", "change", "mark", "n", "unit")
GATE_RULE = (
    "A change gate fails only when the whole 95 % interval of the change lies beyond its bound;"
    " a bound gate (unsigned number) fails when B's mean is beyond it."
)
READING = (
    "B − A with its 95 % paired t-interval over per-replication differences; change relative to"
    " A's mean; shares in %, their differences in percentage points; n = replications measured"
    " by both."
)
UNPAIRED_READING = (
    "B − A with Welch's 95 % t-interval for two independent samples; change relative to A's"
    " mean; shares in %, their differences in percentage points; n = replications measured in"
    " A, then in B."
)


def reading(comparison: Comparison) -> str:
    """How to read the table's interval and ``n`` (paired or not)."""
    return READING if comparison.paired else UNPAIRED_READING


_MARK_STYLES: dict[str, Style] = {BETTER: "good", WORSE: "bad"}


def _signed(value: float, unit: str) -> str:
    text = format_value(value, unit)
    return f"+{text}" if value > 0 else text


def change_cells(metric: PairedComparison) -> tuple[str, str]:
    """B − A and its 95 % interval as the comparison table shows them (shares in percentage
    points; ``n/a`` for what is undefined): also the report's."""
    unit = METRIC_BY_NAME[metric.name].unit
    if math.isnan(metric.ci_low):
        interval = "n/a"
    else:
        interval = f"{_signed(metric.ci_low, unit)} – {_signed(metric.ci_high, unit)}"
    difference = "n/a" if math.isnan(metric.difference) else _signed(metric.difference, unit)
    return difference, interval


def metric_row(metric: PairedComparison) -> tuple[str, ...]:
    """One table row; ``n/a`` for what is undefined."""
    unit = METRIC_BY_NAME[metric.name].unit
    difference, interval = change_cells(metric)
    relative = "n/a" if math.isnan(metric.relative) else f"{metric.relative * 100:+.1f} %"
    return (
        metric.name,
        format_value(metric.a_mean, unit),
        format_value(metric.b_mean, unit),
        difference,
        interval,
        relative,
        metric.mark,
        str(metric.n) if metric.paired else f"{metric.n}, {metric.n_b}",
        UNIT_FORMATS[unit][1],
    )


def gate_line(result: GateResult) -> str:
    """``PASS|FAIL  EXPR: reason``."""
    return f"{'PASS' if result.passed else 'FAIL'}  {result.gate.expression}: {result.reason}"


def verdict(comparison: Comparison) -> str:
    """One sentence: every gate passed, or which failed."""
    failed = comparison.failed
    if not failed:
        return "The gate passed." if len(comparison.gates) == 1 else "All gates passed."
    names = ", ".join(result.gate.expression for result in failed)
    return f"{len(failed)} of {len(comparison.gates)} gates failed: {names}"


def comparison_table(comparison: Comparison) -> Table:
    """Every metric's row, the mark styled for a terminal."""
    metrics = list(comparison.metrics.values())
    return Table(
        columns=COLUMNS,
        rows=tuple(metric_row(metric) for metric in metrics),
        align=tuple("left" if name in ("metric", "mark", "unit") else "right" for name in COLUMNS),
        styles=tuple(
            ("", "", "", "", "", "", _MARK_STYLES.get(metric.mark, ""), "", "")
            for metric in metrics
        ),
        markdown_align=(":--", "--:", "--:", "--:", "--:", "--:", ":-:", "--:", ":--"),
    )


#: The segment metrics a comparison's breakdown tables show (``--format json`` has them all).
SEGMENT_ROWS: tuple[str, ...] = (
    "mqls",
    "sqls",
    "deals_won",
    "mql_to_sql_rate",
    "revenue_won",
    "wasted_sales_hours",
    "missed_opportunities",
    "speed_to_lead_hours",
)
SEGMENT_COLUMNS: tuple[str, ...] = ("segment", *COLUMNS)


def segment_comparison_table(segments: Mapping[str, Mapping[str, PairedComparison]]) -> Table:
    """One breakdown's comparison: per segment, the rows of :data:`SEGMENT_ROWS` that either
    scenario measured."""
    rows: list[tuple[str, ...]] = []
    styles: list[tuple[Style, ...]] = []
    for label, metrics in segments.items():
        for name in SEGMENT_ROWS:
            metric = metrics[name]
            if math.isnan(metric.a_mean) and math.isnan(metric.b_mean):
                continue
            rows.append((label, *metric_row(metric)))
            styles.append(("", *(("",) * 6), _MARK_STYLES.get(metric.mark, ""), "", ""))
    return Table(
        columns=SEGMENT_COLUMNS,
        rows=tuple(rows),
        align=tuple(
            "left" if name in ("segment", "metric", "mark", "unit") else "right"
            for name in SEGMENT_COLUMNS
        ),
        styles=tuple(styles),
        markdown_align=(":--", ":--", "--:", "--:", "--:", "--:", "--:", ":-:", "--:", ":--"),
    )


def _segment_title(dimension: str) -> str:
    return (
        f"By {dimension} (headline metrics; --format json has every segment metric), "
        "B − A with its paired 95 % interval:"
    )


def _document(comparison: Comparison) -> Document:
    """Sources, notes and reading, the table and the breakdowns, then the gates with their
    verdict."""
    blocks: list[str | Table] = [
        f"A: {comparison.a_source} ({comparison.a_name})",
        f"B: {comparison.b_source} ({comparison.b_name})",
        *comparison.notes,
        reading(comparison),
        f"Marks: {MARK_LEGEND}.",
        "",
        comparison_table(comparison),
    ]
    for dimension, segments in comparison.segments.items():
        blocks += ["", _segment_title(dimension), segment_comparison_table(segments)]
    styles: dict[int, Style] = {}
    if comparison.gates:
        blocks += ["", f"Gates: {GATE_RULE}"]
        for result in comparison.gates:
            styles[len(blocks)] = "good" if result.passed else "strong"
            blocks.append(f"  {gate_line(result)}")
        blocks.append(verdict(comparison))
    return Document(tuple(blocks), styles)


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
        lines += [f"**{verdict(comparison)}**", "", GATE_RULE, ""]
        for result in comparison.gates:
            mark = "✅ **PASS**" if result.passed else "❌ **FAIL**"
            lines.append(f"- {mark} `{result.gate.expression}`: {result.reason}")
        lines.append("")
    table = comparison_table(comparison)
    marked = Table(
        columns=table.columns,
        rows=tuple((*row[:6], f"`{row[6]}`", *row[7:]) for row in table.rows),
        align=table.align,
        markdown_align=table.markdown_align,
    )
    lines += [f"{reading(comparison)} Marks: {MARK_LEGEND}.", "", *marked.markdown_lines()]
    for dimension, segments in comparison.segments.items():
        lines += ["", _segment_title(dimension), ""]
        lines += segment_comparison_table(segments).markdown_lines()
    return "\n".join(lines) + "\n"


def _number(value: float) -> float | None:
    """JSON has no nan or infinity: such a value becomes ``null``."""
    return value if math.isfinite(value) else None


def _metrics_document(metrics: Mapping[str, PairedComparison]) -> dict[str, Any]:
    return {
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
            **({} if metric.paired else {"n_b": metric.n_b}),
            "significant": metric.significant,
            "mark": metric.mark,
        }
        for name, metric in metrics.items()
    }


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The ``--format json`` document: plain numbers (shares as fractions, a gate's value too),
    nan as null; ``seed`` and ``replications`` are null when the sides are not paired (each
    side's are under ``a`` and ``b``); with breakdowns, ``segments`` holds each segment's
    metrics in the shape of ``metrics``."""
    metrics = _metrics_document(comparison.metrics)
    gates = [
        {
            "expression": result.gate.expression,
            "metric": result.gate.metric,
            "kind": result.gate.kind.name.lower(),
            "operator": result.gate.operator,
            "value": _number(result.gate.value),
            "unit": result.gate.unit,
            "passed": result.passed,
            "reason": result.reason,
        }
        for result in comparison.gates
    ]
    b_seed = comparison.seed if comparison.b_seed is None else comparison.b_seed
    b_count = (
        comparison.replications if comparison.b_replications is None else comparison.b_replications
    )
    document: dict[str, Any] = {
        "a": {
            "source": comparison.a_source,
            "scenario": comparison.a_name,
            "seed": comparison.seed,
            "replications": comparison.replications,
        },
        "b": {
            "source": comparison.b_source,
            "scenario": comparison.b_name,
            "seed": b_seed,
            "replications": b_count,
        },
        "paired": comparison.paired,
        "seed": comparison.seed if comparison.paired else None,
        "replications": comparison.replications if comparison.paired else None,
        "notes": list(comparison.notes),
        "metrics": metrics,
        "gates": gates,
        "passed": comparison.passed,
    }
    if comparison.segments:
        document["segments"] = {
            dimension: {label: _metrics_document(rows) for label, rows in segments.items()}
            for dimension, segments in comparison.segments.items()
        }
    return document


def render_comparison(comparison: Comparison, fmt: str) -> Document | str:
    """``comparison`` in ``fmt`` (one of :data:`FORMATS`): a table :class:`Document`, or text."""
    if fmt == "json":
        return json.dumps(comparison_document(comparison), indent=2, allow_nan=False) + "\n"
    if fmt == "markdown":
        return _markdown(comparison)
    if fmt == "table":
        return _document(comparison)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
