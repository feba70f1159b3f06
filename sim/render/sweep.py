"""A sweep as a table, ``sweep.csv``, ``sweep.json`` and the trade-off figure (`mqlsim sweep`)."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import math
from pathlib import Path
from typing import Any

from mqlsim.core.atomic import write_together
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES, format_value
from mqlsim.experiments.summary import MetricSummary
from mqlsim.experiments.sweep import (
    BAND_METRIC,
    HEALTHY_BAND,
    SCENARIO_KEY,
    Sweep,
    setting_label,
)
from mqlsim.render.output import results_document
from mqlsim.render.tables import Align, Document, Table

SCHEMA_VERSION = 1
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
FORMATS: tuple[str, ...] = ("table", "markdown", "json")


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
    if any(param.key == SCENARIO_KEY for param in sweep.params):
        lines.append(
            f"Every scenario file runs on {sweep.params[0].literals[0]}'s seed and replication"
            " count."
        )
    if sweep.objective is not None:
        best = sweep.best
        chosen = sweep.points[best].label if best is not None else "none (objective not measured)"
        lines.append(f"Best by objective {sweep.objective.text!r}: {chosen}.")
    return "\n".join(lines)


def sweep_table(sweep: Sweep) -> Table:
    """One row per point: the settings, the key metrics as ``mean ± half-width``, the band."""
    headers, rows = _table(sweep)
    right: tuple[Align, ...] = ("right",)
    return Table(
        columns=tuple(headers),
        rows=tuple(tuple(row) for row in rows),
        align=right * len(headers),
        key_columns=len(sweep.params),
    )


def render_sweep(sweep: Sweep, fmt: str = "table") -> Document | str:
    """The sweep in ``fmt`` (one of :data:`FORMATS`): the table with a title and caption (a
    :class:`Document`, or GitHub Markdown), or ``json``, the content of ``sweep.json``."""
    if fmt == "json":
        return _json(sweep)
    title = f"{sweep.base.scenario.name}: sweep of {', '.join(p.key for p in sweep.params)}"
    caption = _caption(sweep).splitlines()
    if fmt == "markdown":
        lines = [f"### {title}", "", " ".join(caption), "", *sweep_table(sweep).markdown_lines()]
        return "\n".join(lines) + "\n"
    if fmt == "table":
        return Document((title, *(f"  {line}" for line in caption), sweep_table(sweep)))
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _json(sweep: Sweep) -> str:
    return json.dumps(sweep_document(sweep), indent=2, allow_nan=False, default=str) + "\n"


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
                "metrics": results_document(point.result)["metrics"],
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
    """The trade-off figure (:func:`mqlsim.render.figures.trade_off_figure`), PNG and SVG."""
    from mqlsim.render.figures import (  # loads matplotlib
        FORMATS,
        TRADE_OFF,
        render,
        trade_off_figure,
    )

    figure = trade_off_figure(sweep)
    return {fmt: render(figure, fmt, TRADE_OFF) for fmt in FORMATS}


def write_sweep(out_dir: Path, sweep: Sweep) -> None:
    """Write :data:`FILES` into ``out_dir`` (created if missing), all together
    (:func:`mqlsim.core.atomic.write_together`)."""
    images = plot_sweep(sweep)
    contents = {
        "sweep.csv": sweep_csv(sweep).encode(),
        "sweep.json": _json(sweep).encode(),
        "sweep.png": images["png"],
        "sweep.svg": images["svg"],
    }
    write_together(out_dir, {name: contents[name] for name in FILES})
