"""What a run leaves behind: `results.json`, `replications.csv` and the printed metric tables.

Files are written together and byte-for-byte reproducibly (no timestamps, fixed key order), so
two runs of the same scenario and seed can be compared with `cmp`, and a failed or interrupted
write never leaves a truncated file, or a new file beside an old one, for a script to read.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mqlsim.core.atomic import write_together
from mqlsim.core.metric_catalog import (
    METRIC_BY_NAME,
    METRIC_NAMES,
    SEGMENT_METRICS,
    UNIT_FORMATS,
    format_value,
)
from mqlsim.experiments.runner import ExperimentResult
from mqlsim.experiments.saved import RESULTS_FILE, RESULTS_SCHEMA_VERSION
from mqlsim.experiments.stationarity import DriftCheck
from mqlsim.experiments.summary import MetricSummary
from mqlsim.render.tables import Document, Table

REPLICATIONS_FILE = "replications.csv"
FORMATS: tuple[str, ...] = ("table", "json", "markdown")
COLUMNS: tuple[str, ...] = ("metric", "mean", "95 % CI", "unit")


def _json_number(value: float) -> float | None:
    """JSON has no nan or infinity: a value that is not finite becomes ``null``."""
    return value if math.isfinite(value) else None


def _summary_json(summary: MetricSummary) -> dict[str, Any]:
    """One metric's ``{mean, ci_low, ci_high, values}``."""
    return {
        "mean": _json_number(summary.mean),
        "ci_low": _json_number(summary.ci_low),
        "ci_high": _json_number(summary.ci_high),
        "values": [_json_number(value) for value in summary.values],
    }


def _metrics_json(summaries: Mapping[str, MetricSummary]) -> dict[str, dict[str, Any]]:
    """The `metrics` object of `results.json` (README.md), keyed in catalogue order."""
    return {name: _summary_json(summaries[name]) for name in METRIC_NAMES}


def _segments_json(segments: Mapping[str, Mapping[str, MetricSummary]]) -> dict[str, Any]:
    """One breakdown's ``{segment: {metric: {mean, ci_low, ci_high, values}}}``."""
    return {
        label: {name: _summary_json(summary) for name, summary in metrics.items()}
        for label, metrics in segments.items()
    }


def segments_json(result: ExperimentResult, dimensions: Sequence[str]) -> dict[str, Any]:
    """The `segments` object of `results.json`: per dimension, per segment, every segment
    metric in the shape of `metrics`."""
    return {
        dimension: _segments_json(result.segment_summaries(dimension)) for dimension in dimensions
    }


def _stationarity_json(checks: Mapping[str, DriftCheck]) -> dict[str, dict[str, Any]]:
    """The `stationarity` object of `results.json`: per weekly series, its drift over the
    measured period (a share of its mean) with the interval, per replication, and the verdict."""
    return {
        series: {
            "drift": _json_number(check.drift),
            "ci_low": _json_number(check.ci_low),
            "ci_high": _json_number(check.ci_high),
            "values": [_json_number(value) for value in check.values],
            "weeks": check.weeks,
            "drifts": check.drifts,
        }
        for series, check in checks.items()
    }


def _dump_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def results_document(result: ExperimentResult, by: Sequence[str] = ()) -> dict[str, Any]:
    """The content of `results.json`: enough to reproduce the run and read every metric.

    `stationarity` holds the check of the weekly series and `warnings` its warnings (one line
    per drifting series; empty when none). With ``by``, `segments` holds the metrics of each
    of those breakdown dimensions. What a policy that learns from the run learnt (one report
    per replication, such as the fitted weights of a predictive policy) goes under
    `policy_reports`; for every other policy the key is left out.
    """
    document: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "scenario": json.loads(result.scenario.model_dump_json()),
        "seed": result.scenario.scenario.seed,
        "replications": len(result.replications),
        "metrics": _metrics_json(result.summaries),
        "stationarity": _stationarity_json(result.stationarity_checks),
        "warnings": result.warnings,
    }
    if by:
        document["segments"] = segments_json(result, by)
    if result.policy_reports:
        document["policy_reports"] = result.policy_reports
    return document


def _replications_csv(result: ExperimentResult) -> str:
    """One row per replication (numbered from 0, like its random stream), floats as ``repr``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("replication", *METRIC_NAMES))
    for index, row in enumerate(result.replications):
        writer.writerow((index, *(repr(float(row[name])) for name in METRIC_NAMES)))
    return buffer.getvalue()


def write_outputs(
    out_dir: str | os.PathLike[str],
    result: ExperimentResult,
    figures: Mapping[str, bytes] | None = None,
    by: Sequence[str] = (),
) -> None:
    """Write `results.json` (with the ``by`` breakdowns), `replications.csv` and ``figures``
    (file name -> bytes, from :func:`mqlsim.render.figures.figure_files`) into ``out_dir``
    (created if missing).

    The files appear together or not at all (:func:`mqlsim.core.atomic.write_together`): a
    failure leaves the folder as it was (or absent), and no temporary file behind.
    """
    contents = {
        RESULTS_FILE: _dump_json(results_document(result, by)).encode("utf-8"),
        REPLICATIONS_FILE: _replications_csv(result).encode("utf-8"),
        **(figures or {}),
    }
    write_together(Path(out_dir), contents)


def metric_table(summaries: Mapping[str, MetricSummary]) -> Table:
    """Every metric's mean and 95 % interval in its display unit (``n/a`` where unmeasured)."""
    rows = []
    for name in METRIC_NAMES:
        summary, unit = summaries[name], METRIC_BY_NAME[name].unit
        if math.isnan(summary.ci_low) or math.isnan(summary.ci_high):
            interval = "n/a"
        else:
            low, high = format_value(summary.ci_low, unit), format_value(summary.ci_high, unit)
            interval = f"{low} – {high}"
        rows.append((name, format_value(summary.mean, unit), interval, UNIT_FORMATS[unit][1]))
    return Table.of(COLUMNS, rows, left=("metric", "unit"))


def _caption(summaries: Mapping[str, MetricSummary]) -> str:
    replications = len(next(iter(summaries.values())).values)
    plural = "" if replications == 1 else "s"
    return f"Mean of {replications} replication{plural}, 95 % confidence interval (Student t)"


def _plus_minus(summary: MetricSummary, unit: str) -> str:
    """``mean ± half-width`` of the 95 % interval in the metric's display unit."""
    mean = format_value(summary.mean, unit)
    if math.isnan(summary.mean) or math.isnan(summary.ci_high):
        return mean
    return f"{mean} ± {format_value(summary.ci_high - summary.mean, unit)}"


def segment_table(segments: Mapping[str, Mapping[str, MetricSummary]]) -> Table:
    """One breakdown as a table: a row per segment metric, a column per segment, each cell
    ``mean ± half-width of the 95 % interval``; metrics no segment measured are left out."""
    labels = list(segments)
    rows = []
    for name in SEGMENT_METRICS:
        cells = [segments[label][name] for label in labels]
        if all(math.isnan(cell.mean) for cell in cells):
            continue
        unit = METRIC_BY_NAME[name].unit
        rows.append((name, *(_plus_minus(cell, unit) for cell in cells), UNIT_FORMATS[unit][1]))
    return Table.of(("metric", *labels, "unit"), rows, left=("metric", "unit"))


def _segment_caption(dimension: str, replications: int) -> str:
    plural = "" if replications == 1 else "s"
    return (
        f"By {dimension}: mean ± half-width of the 95 % interval over {replications} "
        f"replication{plural}"
    )


def render(result: ExperimentResult, fmt: str, by: Sequence[str] = ()) -> Document | str:
    """A run in ``fmt`` (one of :data:`FORMATS`), with one table per breakdown dimension of
    ``by``.

    ``table`` is the metric table as a :class:`~mqlsim.render.tables.Document` (plain text for
    logs and pipes, a rich table on a terminal), then each breakdown's; ``markdown`` is those
    tables as text; ``json`` is the document `results.json` holds (:func:`results_document`),
    so a script reads the same keys (``schema_version``, ``seed``, ``scenario``, ``metrics``,
    ``segments``...) from either.
    """
    if fmt == "json":
        return _dump_json(results_document(result, by))
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    summaries, name = result.summaries, result.scenario.scenario.name
    table, caption = metric_table(summaries), _caption(summaries)
    parts = [
        (_segment_caption(dimension, len(result.replications)), segment_table(segments))
        for dimension in by
        for segments in (result.segment_summaries(dimension),)
    ]
    if fmt == "markdown":
        lines = [f"### {name}", "", caption, "", *table.markdown_lines()]
        for title, segment_rows in parts:
            lines += ["", title, "", *segment_rows.markdown_lines()]
        return "\n".join(lines) + "\n"
    blocks: list[str | Table] = [f"{name} — {caption}", table]
    for title, segment_rows in parts:
        blocks += ["", title, segment_rows]
    return Document(tuple(blocks))
