"""What a run leaves behind: `results.json`, `replications.csv` and the printed metric table.

Files are written atomically and byte-for-byte reproducibly (no timestamps, fixed key order), so
two runs of the same scenario and seed can be compared with `cmp` and an interrupted run never
leaves a truncated file for a script to read.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sim.atomic import write_atomic
from sim.experiment import ExperimentResult
from sim.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from sim.summary import MetricSummary

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
REPLICATIONS_FILE = "replications.csv"
FORMATS: tuple[str, ...] = ("table", "json", "markdown")
COLUMNS: tuple[str, ...] = ("metric", "mean", "95 % CI", "unit")


def _json_number(value: float) -> float | None:
    """JSON has no nan or infinity: a value that is not finite becomes ``null``."""
    return value if math.isfinite(value) else None


def _metrics_json(summaries: Mapping[str, MetricSummary]) -> dict[str, dict[str, Any]]:
    """The `metrics` object of DESIGN §4, keyed in catalogue order."""
    return {
        name: {
            "mean": _json_number(summaries[name].mean),
            "ci_low": _json_number(summaries[name].ci_low),
            "ci_high": _json_number(summaries[name].ci_high),
            "values": [_json_number(value) for value in summaries[name].values],
        }
        for name in METRIC_NAMES
    }


def _dump_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def results_document(
    result: ExperimentResult, summaries: Mapping[str, MetricSummary]
) -> dict[str, Any]:
    """The content of `results.json`: enough to reproduce the run and read every metric.

    What a policy that learns from the run learnt (one report per replication, such as the
    fitted weights of a predictive policy) goes under `policy_reports`; for every other policy
    the key is left out.
    """
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "scenario": json.loads(result.scenario.model_dump_json()),
        "seed": result.scenario.scenario.seed,
        "replications": len(result.replications),
        "metrics": _metrics_json(summaries),
    }
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
    summaries: Mapping[str, MetricSummary],
) -> None:
    """Write `results.json` and `replications.csv` into ``out_dir`` (created if missing).

    Each file is written atomically (:func:`sim.atomic.write_atomic`): a failure leaves it
    either as it was or complete, and no temporary file behind.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        RESULTS_FILE: _dump_json(results_document(result, summaries)),
        REPLICATIONS_FILE: _replications_csv(result),
    }
    for name, text in contents.items():
        write_atomic(directory / name, text.encode("utf-8"))


def _percent(value: float) -> str:
    return f"{value * 100:.1f}"


def _currency(value: float) -> str:
    return f"{value:,.0f}"


def _duration(value: float) -> str:
    """Hours and days: two decimals for short durations, one for long ones."""
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _count(value: float) -> str:
    """Counts are means over replications, hence one decimal."""
    return f"{value:,.1f}"


UNIT_FORMATS: dict[str, tuple[Callable[[float], str], str]] = {
    "share": (_percent, "%"),
    "currency": (_currency, "currency"),
    "hours": (_duration, "hours"),
    "days": (_duration, "days"),
    "leads": (_count, "leads"),
    "events": (_count, "events"),
    "deals": (_count, "deals"),
}
"""Per catalogue unit: how a value is printed and what the table's unit column says."""


def format_value(value: float, unit: str) -> str:
    """``value`` as a table shows it for a metric of ``unit``; ``n/a`` when not measured."""
    if math.isnan(value):
        return "n/a"
    return UNIT_FORMATS[unit][0](value)


def _rows(summaries: Mapping[str, MetricSummary]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name in METRIC_NAMES:
        summary, unit = summaries[name], METRIC_BY_NAME[name].unit
        if math.isnan(summary.ci_low) or math.isnan(summary.ci_high):
            interval = "n/a"
        else:
            low, high = format_value(summary.ci_low, unit), format_value(summary.ci_high, unit)
            interval = f"{low} – {high}"
        rows.append((name, format_value(summary.mean, unit), interval, UNIT_FORMATS[unit][1]))
    return rows


def _caption(summaries: Mapping[str, MetricSummary]) -> str:
    replications = len(next(iter(summaries.values())).values)
    plural = "" if replications == 1 else "s"
    return f"Mean of {replications} replication{plural}, 95 % confidence interval (Student t)"


def _plain_table(rows: list[tuple[str, str, str, str]], title: str) -> str:
    """Aligned text for logs and pipes: names and units left, numbers right."""
    lines = [COLUMNS, *rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(COLUMNS))]
    text = [title]
    for name, mean, interval, unit in lines:
        text.append(
            f"{name:<{widths[0]}}  {mean:>{widths[1]}}  {interval:>{widths[2]}}  {unit}".rstrip()
        )
    return "\n".join(text) + "\n"


def _rich_table(rows: list[tuple[str, str, str, str]], title: str, caption: str) -> str:
    """A rich table rendered for the terminal stdout is attached to."""
    table = Table(title=Text(title), caption=caption)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("metric", "unit") else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    with console.capture() as capture:
        console.print(table)
    return capture.get()


def _markdown_table(rows: list[tuple[str, str, str, str]], title: str, caption: str) -> str:
    """A GitHub-flavoured Markdown table, e.g. for a pull-request comment."""
    lines = [
        f"### {title}",
        "",
        caption,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|:--|--:|--:|:--|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def render(summaries: Mapping[str, MetricSummary], fmt: str, scenario_name: str) -> str:
    """The metric table of a run in ``fmt`` (one of :data:`FORMATS`), ending with a newline.

    ``table`` is a rich table when stdout is a terminal and plain aligned text otherwise, so logs
    and pipes get no control codes.
    """
    if fmt == "json":
        return _dump_json({"scenario": scenario_name, "metrics": _metrics_json(summaries)})
    rows, caption = _rows(summaries), _caption(summaries)
    if fmt == "markdown":
        return _markdown_table(rows, scenario_name, caption)
    if fmt == "table":
        if sys.stdout.isatty():
            return _rich_table(rows, scenario_name, caption)
        return _plain_table(rows, f"{scenario_name} — {caption}")
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
