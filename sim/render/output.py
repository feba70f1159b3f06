"""What a run leaves behind: `results.json`, `replications.csv` and the printed metric table.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mqlsim.core.atomic import write_together
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES, UNIT_FORMATS, format_value
from mqlsim.experiments.runner import ExperimentResult
from mqlsim.experiments.saved import RESULTS_FILE, RESULTS_SCHEMA_VERSION
from mqlsim.experiments.summary import MetricSummary
from mqlsim.render.tables import Document, Table

REPLICATIONS_FILE = "replications.csv"
FORMATS: tuple[str, ...] = ("table", "json", "markdown")
COLUMNS: tuple[str, ...] = ("metric", "mean", "95 % CI", "unit")


def _json_number(value: float) -> float | None:
    """JSON has no nan or infinity: a value that is not finite becomes ``null``."""
    return value if math.isfinite(value) else None


def _metrics_json(summaries: Mapping[str, MetricSummary]) -> dict[str, dict[str, Any]]:
    """The `metrics` object of `results.json` (README.md), keyed in catalogue order."""
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


def results_document(result: ExperimentResult) -> dict[str, Any]:
    """The content of `results.json`: enough to reproduce the run and read every metric.

    What a policy that learns from the run learnt (one report per replication, such as the
    fitted weights of a predictive policy) goes under `policy_reports`; for every other policy
    the key is left out.
    """
    document: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "scenario": json.loads(result.scenario.model_dump_json()),
        "seed": result.scenario.scenario.seed,
        "replications": len(result.replications),
        "metrics": _metrics_json(result.summaries),
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
    figures: Mapping[str, bytes] | None = None,
) -> None:
    """Write `results.json`, `replications.csv` and ``figures`` (file name -> bytes, from
    :func:`mqlsim.render.figures.figure_files`) into ``out_dir`` (created if missing).

    The files appear together or not at all (:func:`mqlsim.core.atomic.write_together`): a
    failure leaves the folder as it was (or absent), and no temporary file behind.
    """
    contents = {
        RESULTS_FILE: _dump_json(results_document(result)).encode("utf-8"),
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


def render(result: ExperimentResult, fmt: str) -> Document | str:
    """A run in ``fmt`` (one of :data:`FORMATS`).

    ``table`` is the metric table as a :class:`~mqlsim.render.tables.Document` (plain text for
    logs and pipes, a rich table on a terminal); ``markdown`` is that table as text; ``json`` is
    the document `results.json` holds (:func:`results_document`), so a script reads the same
    keys (``schema_version``, ``seed``, ``scenario``, ``metrics``...) from either.
    """
    if fmt == "json":
        return _dump_json(results_document(result))
    summaries, name = result.summaries, result.scenario.scenario.name
    table, caption = metric_table(summaries), _caption(summaries)
    if fmt == "markdown":
        return "\n".join([f"### {name}", "", caption, "", *table.markdown_lines()]) + "\n"
    if fmt == "table":
        return Document((f"{name} — {caption}", table))
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
