"""`mqlsim report`: one self-contained HTML file for a workshop or a meeting with sales leaders.

The file works offline: figures are inline SVG (matplotlib, Agg), style and script are inline,
nothing is fetched. For several scenarios, all run on the first one's seed and replication count
(common random numbers), key numbers (means with 95 % intervals) stand in columns side by side,
and every column after the first also shows B − A against the first with its paired 95 %
interval and mark, the numbers of `mqlsim compare` (:mod:`mqlsim.experiments.paired`). The same
figure of several scenarios shares its axes. With ``--sweep KEY=...`` (the grid syntax of
``mqlsim sweep --param``, one key) every scenario is run at every grid point on common random
numbers; the results are embedded as JSON, and a slider over the grid points shows that point's
numbers and highlights it on each scenario's trade-off curve; a readout of the headline numbers
sits in the slider's sticky bar, so what the slider changes stays in view. Each scenario's
resolved settings and the model's assumptions (rendered from ``docs/model.md`` with
markdown-it-py) close the report.

Laid out for a projector: at 1280×720 figures take the full width, one per row (side by side
only on screens wide enough to keep their text at least as large as the page's small print).

The report is written atomically, and the same inputs give the same bytes (no dates, fixed SVG
ids, fixed key order).
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import math
import re
import sysconfig
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from markdown_it import MarkdownIt

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import DIMENSIONS, METRIC_BY_NAME, UNIT_FORMATS, format_value
from mqlsim.experiments.paired import MARK_LEGEND, PairedComparison, compare_rows
from mqlsim.experiments.runner import Execution, ExperimentResult, Progress, run_experiments
from mqlsim.experiments.summary import MetricSummary
from mqlsim.experiments.sweep import Param, Sweep, SweepPoint, run_sweep, sweep_scenarios
from mqlsim.policies.plugins import PluginAccess
from mqlsim.render.comparison import change_cells
from mqlsim.scenario.loading import Overrides, load_scenario, override_list
from mqlsim.scenario.models import Scenario

#: The numbers the report shows for every scenario (and the slider updates), in this order.
KEY_METRICS: tuple[str, ...] = (
    "leads",
    "mqls",
    "mql_to_sql_rate",
    "sqls",
    "deals_won",
    "revenue_won",
    "sales_hours",
    "wasted_sales_hours",
    "rep_utilization",
    "missed_opportunities",
    "lost_pipeline_value",
    "speed_to_lead_hours",
    "sla_breach_rate",
    "cost_per_sql",
)
#: The numbers the slider's sticky bar repeats for every scenario, always in view.
READOUT_METRICS: tuple[str, ...] = (
    "mqls",
    "mql_to_sql_rate",
    "wasted_sales_hours",
    "missed_opportunities",
    "revenue_won",
)
#: docs/model.md: in a source checkout (also an editable install), and where installs put it.
MODEL_DOC_PLACES = (
    Path(__file__).resolve().parents[2] / "docs" / "model.md",
    Path(sysconfig.get_path("data")) / "share" / "mqlsim" / "model.md",
)


@dataclass(frozen=True)
class ScenarioReport:
    """What the report shows of one scenario.

    ``summaries`` holds the scenario's numbers, or with a sweep one mapping per grid point, and
    ``rows`` the per-replication metric rows behind them (for B − A); ``figures`` maps each
    figure's name to its SVG text; ``segments`` holds every breakdown (``{dimension: {segment:
    {metric: summary}}}``, at the slider's first point); ``trade_off`` is the sweep's trade-off
    figure with one highlight mark per grid point.
    """

    path: str
    scenario: Scenario
    summaries: tuple[dict[str, MetricSummary], ...]
    rows: tuple[tuple[dict[str, float], ...], ...]
    figures: dict[str, str]
    segments: dict[str, dict[str, dict[str, MetricSummary]]]
    trade_off: str | None = None


def build_reports(
    sources: Sequence[str | Scenario],
    overrides: Overrides,
    param: Param | None,
    progress: Progress | None = None,
    *,
    plugins: PluginAccess = "entry_points",
    **execution: Unpack[Execution],
) -> tuple[list[ScenarioReport], int]:
    """Load and run every scenario (at every point of ``param``'s grid, if given) in one pool,
    all on the first scenario's seed and replication count, so B − A pairs replications;
    ``plugins`` as in :func:`mqlsim.scenario.loading.load_scenario`.

    Returns the reports and the grid point the slider starts at (0 without a sweep): the first
    scenario's own value of the swept key when it is on the grid, else the first point. The
    run figures are drawn at that point.
    """
    paths = [_source_name(source) for source in sources]
    first = load_scenario(sources[0], overrides, plugins=plugins).scenario
    paired = [
        *override_list(overrides),
        ("scenario.seed", first.seed, "seed"),
        ("scenario.replications", first.replications, "replications"),
    ]
    if param is None:
        scenarios = [load_scenario(source, paired, plugins=plugins) for source in sources]
        # Replication 0 of each comes back with its records, computed in the worker that ran
        # it: the figures draw them without running it again.
        # This process loads matplotlib while the replications run in their workers.
        results = run_experiments(
            scenarios, progress, detail=0, meanwhile=_load_figures, **execution
        )
        figures = _figures(results, execution.get("workers"))
        return [
            ScenarioReport(
                path,
                result.scenario,
                (result.summaries,),
                (tuple(result.replications),),
                svgs,
                _segments(result),
            )
            for path, result, svgs in zip(paths, results, figures, strict=True)
        ], 0
    with as_sweep_option():
        loaded = [sweep_scenarios(source, paired, [param], plugins=plugins) for source in sources]
    grid = [point for _, _, points in loaded for point in points]
    everything = run_sweep(loaded[0][0], [param], grid, None, progress, **execution)
    start = _start(loaded[0][0], param)
    size = len(param.values)
    columns = [everything.points[k * size : (k + 1) * size] for k in range(len(sources))]
    figures = _figures([points[start].result for points in columns], execution.get("workers"))
    trade_offs = _trade_offs(
        [
            Sweep(base=base, params=(param,), objective=None, points=points)
            for (base, _, _), points in zip(loaded, columns, strict=True)
        ],
        start,
    )
    reports = [
        ScenarioReport(
            path,
            base,
            tuple(point.summaries for point in points),
            tuple(_rows(point) for point in points),
            svgs,
            _segments(points[start].result),
            trade_off,
        )
        for path, (base, _, _), points, svgs, trade_off in zip(
            paths, loaded, columns, figures, trade_offs, strict=True
        )
    ]
    return reports, start


def _rows(point: SweepPoint) -> tuple[dict[str, float], ...]:
    return tuple(point.result.replications)


def _source_name(source: str | Scenario) -> str:
    """A scenario's file, or the name of one given as an object."""
    return source if isinstance(source, str) else f"{source.scenario.name}.toml"


@contextmanager
def as_sweep_option() -> Iterator[None]:
    """Word the sweep parser's ``--param`` errors as errors of ``--sweep``."""
    try:
        yield
    except InputError as error:
        raise InputError([re.sub(r"^--param\b", "--sweep", line) for line in error.lines]) from None


def _start(base: Scenario, param: Param) -> int:
    """The grid point holding ``base``'s own value of the swept key, else 0."""
    value: Any = base.model_dump()
    for part in param.key.split("."):
        if not isinstance(value, dict) or part not in value:
            return 0
        value = value[part]
    return next((i for i, v in enumerate(param.values) if v == value), 0)


def _segments(result: ExperimentResult) -> dict[str, dict[str, dict[str, MetricSummary]]]:
    """Every breakdown of ``result``, by dimension."""
    return {dimension: result.segment_summaries(dimension) for dimension in DIMENSIONS}


def _load_figures() -> None:
    """Load :mod:`mqlsim.render.figures` (and matplotlib) into this process, and
    :mod:`scipy.special` (the intervals' t quantile, which the figures and the page summarize
    with): the processes that draw the figures start from this one with both loaded, rather
    than each loading scipy.special on its own (about 0.1 s each)."""
    importlib.import_module("mqlsim.render.figures")
    importlib.import_module("scipy.special")


def _figures(results: Sequence[ExperimentResult], workers: int | None) -> list[dict[str, str]]:
    """Each result's run figures (records of its replication 0) as SVG text, by name; the same
    figure of every result shares its axes. Drawn in ``workers`` local processes."""
    from mqlsim.render.figures import RunData, run_figure_svgs  # loads matplotlib

    return run_figure_svgs(RunData.from_experiments(results), workers)


def _trade_offs(sweeps: Sequence[Sweep], current: int) -> list[str]:
    """Each sweep's trade-off figure as SVG text (shared axes), with a hidden ring around each
    point (``data-point`` = its index; the ``current`` one shown) for the slider to highlight.

    The rings sit in the SVG's own coordinates (points, y down), taken from each axes' data
    transform after the axes are shared.
    """
    from mqlsim.render.figures import TRADE_OFFS, share_axes, svg_text, trade_off_figure

    drawn = [trade_off_figure(sweep) for sweep in sweeps]
    share_axes(drawn)
    svgs = []
    for sweep, figure in zip(sweeps, drawn, strict=True):
        svg = svg_text(figure, "trade_off")
        height = figure.get_figheight() * 72
        to_inches = figure.dpi_scale_trans.inverted()
        rings = []
        for ax, (x_name, y_name) in zip(figure.axes, TRADE_OFFS, strict=True):
            for index, point in enumerate(sweep.points):
                x, y = point.summaries[x_name].mean, point.summaries[y_name].mean
                if not (math.isfinite(x) and math.isfinite(y)):
                    continue
                left, up = to_inches.transform(ax.transData.transform((x, y))) * 72
                state = ' class="current"' if index == current else ""
                rings.append(
                    f'<circle data-point="{index}"{state} cx="{left:.2f}" cy="{height - up:.2f}"'
                    ' r="16" fill="none" stroke="#c0003c" stroke-width="5"/>'
                )
        svgs.append(svg.replace("</svg>", f'<g class="marks">{"".join(rings)}</g></svg>'))
    return svgs


# --- HTML -------------------------------------------------------------------------------------


def render_report(
    reports: Sequence[ScenarioReport],
    param: Param | None,
    start: int = 0,
    by: Sequence[str] = (),
) -> str:
    """The whole report as one HTML document; with ``param``, the slider starts at ``start``;
    ``by`` adds a breakdown section per dimension."""
    names = _column_names(reports)
    title = "mqlsim report: " + " vs ".join(names)
    if param is not None:
        title += f" · sweep of {param.key}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="lede">{_e(_lede(reports, param))}</p></header>',
        "<main>",
    ]
    if param is not None:
        parts += [_slider(param, start, reports, names), _trade_off_section(reports, names)]
    parts += [
        _numbers_section(reports, names, start),
        *(_breakdown_section(reports, names, dimension, param) for dimension in by),
        _figures_section(reports, names, None if param is None else (param, start)),
        _settings_section(reports, names),
        _assumptions_section(),
        "</main>",
        f"<footer>mqlsim {_e(importlib.metadata.version('mqlsim'))} · "
        + _e(" · ".join(Path(report.path).name for report in reports))
        + "</footer>",
    ]
    if param is not None:
        parts += [
            '<script type="application/json" id="sweep-data">'
            + _json_for_script(_sweep_data(reports, param, start))
            + "</script>",
            f"<script>{_SCRIPT}</script>",
        ]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _column_names(reports: Sequence[ScenarioReport]) -> list[str]:
    """Each scenario's name, with its file's name when two scenarios share a name."""
    names = [report.scenario.scenario.name for report in reports]
    return [
        f"{name} ({Path(report.path).name})" if names.count(name) > 1 else name
        for name, report in zip(names, reports, strict=True)
    ]


def _lede(reports: Sequence[ScenarioReport], param: Param | None) -> str:
    runs = {
        (report.scenario.scenario.replications, report.scenario.scenario.seed) for report in reports
    }
    how = "; ".join(f"{n} replications on seed {seed}" for n, seed in sorted(runs))
    text = f"Means over {how}, with 95 % confidence intervals (Student t)."
    if len(reports) > 1:
        first = _column_names(reports)[0]
        text += (
            f" Every scenario runs on the same seeds (common random numbers), so each column"
            f" after the first also shows B − A against {first} with its paired 95 % interval"
            f" and a mark: {MARK_LEGEND}. The same figure of several scenarios shares its axes."
        )
    if param is not None:
        text += (
            f" Every value of {param.key} runs on the same seed (common random numbers), so"
            " the points differ only by their setting. Move the slider to see each point."
        )
    return text


def _slider(
    param: Param, start: int, reports: Sequence[ScenarioReport], names: Sequence[str]
) -> str:
    """The sticky bar: the slider, its ticks, and a readout of :data:`READOUT_METRICS` for
    every scenario at the slider's point (what the slider changes stays in view)."""
    last = len(param.values) - 1
    ticks = "".join(f"<span>{_e(literal)}</span>" for literal in param.literals)
    readout = []
    for column, (name, report) in enumerate(zip(names, reports, strict=True)):
        cells = "".join(
            f'<span class="item"><span class="label">{_e(metric)}</span>'
            f' <span class="value" id="r-{column}-{metric}">'
            f"{_e(_shown(report.summaries[start][metric], metric))}</span></span>"
            for metric in READOUT_METRICS
        )
        readout.append(f'<div class="line"><span class="name">{_e(name)}</span>{cells}</div>')
    return (
        '<div class="sweep">'
        f'<label for="sweep-slider">{_e(param.key)} =</label>'
        f'<output id="sweep-value" for="sweep-slider">{_e(param.literals[start])}</output>'
        f'<input type="range" id="sweep-slider" min="0" max="{last}" step="1" value="{start}">'
        f'<div class="ticks">{ticks}</div>'
        f'<div class="readout">{"".join(readout)}</div>'
        "</div>"
    )


def _shown(summary: MetricSummary, metric: str) -> str:
    """A mean with its unit, as the readout shows it (``16.9 %``, ``3,221.0 hours``)."""
    unit = METRIC_BY_NAME[metric].unit
    return f"{format_value(summary.mean, unit)} {UNIT_FORMATS[unit][1]}"


def _trade_off_section(reports: Sequence[ScenarioReport], names: Sequence[str]) -> str:
    cells = "".join(
        f"<figure><figcaption>{_e(name)}</figcaption>"
        f"{_inline_svg(report.trade_off or '', f't{column}-')}</figure>"
        for column, (name, report) in enumerate(zip(names, reports, strict=True))
    )
    return (
        '<section id="trade-off"><h2>The trade-off</h2>'
        '<p class="sub">The ring marks the slider\'s setting.</p>'
        f'<div class="grid">{cells}</div></section>'
    )


def _numbers_section(reports: Sequence[ScenarioReport], names: Sequence[str], start: int) -> str:
    rows = ['<tr><th scope="col">metric</th>']
    for column, (name, report) in enumerate(zip(names, reports, strict=True)):
        meta = report.scenario.scenario
        against = f" · B − A against {names[0]}" if column else ""
        rows.append(
            f'<th scope="col">{_e(name)}<span class="sub">{_e(meta.description)}'
            f"{_e(against)}</span></th>"
        )
    rows.append("</tr>")
    changes = [_changes(reports[0], report, start) for report in reports]
    for metric in KEY_METRICS:
        spec = METRIC_BY_NAME[metric]
        unit = UNIT_FORMATS[spec.unit][1]
        rows.append(
            f'<tr><th scope="row">{_e(metric)}'
            f'<span class="sub">{_e(unit)} · {_e(spec.description)}</span></th>'
        )
        for column, report in enumerate(reports):
            mean, interval = _cell(report.summaries[start][metric], spec.unit)
            change = ""
            if column:
                text, mark = _change_text(changes[column][metric])
                change = (
                    f'<span class="change" id="d-{column}-{metric}">{_e(text)}</span>'
                    f'<span class="mark mark-{_mark_class(mark)}" id="m-{column}-{metric}">'
                    f"{_e(mark)}</span>"
                )
            rows.append(
                f'<td><span class="mean" id="v-{column}-{metric}">{_e(mean)}</span>'
                f'<span class="ci" id="ci-{column}-{metric}">{_e(interval)}</span>{change}</td>'
            )
        rows.append("</tr>")
    return (
        '<section id="numbers"><h2>Key numbers</h2><table class="numbers">'
        + "".join(rows)
        + "</table></section>"
    )


def _changes(a: ScenarioReport, b: ScenarioReport, point: int) -> dict[str, PairedComparison]:
    """B − A for every metric at grid point ``point``, paired replication by replication."""
    return compare_rows(a.rows[point], b.rows[point])


def _change_text(comparison: PairedComparison) -> tuple[str, str]:
    """``B − A +817.0 (95 % CI +715.4 – +918.6)`` and the mark, as `mqlsim compare` shows them."""
    difference, interval = change_cells(comparison)
    return f"B − A {difference} (95 % CI {interval})", comparison.mark


def _mark_class(mark: str) -> str:
    return {"+": "better", "-": "worse", "*": "changed"}.get(mark, "same")


#: The segment metrics a breakdown section shows, one column each.
BREAKDOWN_METRICS: tuple[str, ...] = (
    "leads",
    "mqls",
    "lead_to_mql_rate",
    "mql_to_sql_rate",
    "sql_to_won_rate",
    "deals_won",
    "revenue_won",
    "wasted_sales_hours",
    "missed_opportunities",
)


def _breakdown_section(
    reports: Sequence[ScenarioReport], names: Sequence[str], dimension: str, param: Param | None
) -> str:
    """Each scenario's metrics by segment of ``dimension``: a row per segment."""
    parts = [f'<section id="by-{_e(dimension)}"><h2>By {_e(dimension)}</h2>']
    if param is not None:
        parts.append(
            '<p class="sub">At the slider\'s first setting; the slider does not change them.</p>'
        )
    for name, report in zip(names, reports, strict=True):
        segments = report.segments[dimension]
        shown = [
            metric
            for metric in BREAKDOWN_METRICS
            if any(not math.isnan(segments[label][metric].mean) for label in segments)
        ]
        rows = [f'<tr><th scope="col">{_e(dimension)}</th>']
        for metric in shown:
            unit = UNIT_FORMATS[METRIC_BY_NAME[metric].unit][1]
            rows.append(f'<th scope="col">{_e(metric)}<span class="sub">{_e(unit)}</span></th>')
        rows.append("</tr>")
        for label, metrics in segments.items():
            rows.append(f'<tr><th scope="row">{_e(label)}</th>')
            for metric in shown:
                mean, interval = _cell(metrics[metric], METRIC_BY_NAME[metric].unit)
                rows.append(
                    f'<td><span class="mean">{_e(mean)}</span>'
                    f'<span class="ci">{_e(interval)}</span></td>'
                )
            rows.append("</tr>")
        parts.append(f'<h3>{_e(name)}</h3><table class="numbers">{"".join(rows)}</table>')
    parts.append("</section>")
    return "".join(parts)


def _cell(summary: MetricSummary, unit: str) -> tuple[str, str]:
    """A metric's mean and its 95 % interval as the report shows them."""
    if math.isnan(summary.ci_low):
        return format_value(summary.mean, unit), "95 % CI n/a"
    low, high = format_value(summary.ci_low, unit), format_value(summary.ci_high, unit)
    return format_value(summary.mean, unit), f"95 % CI {low} – {high}"


def _figures_section(
    reports: Sequence[ScenarioReport], names: Sequence[str], at: tuple[Param, int] | None
) -> str:
    """Each figure in turn, one per scenario side by side (wrapping on narrow screens)."""
    parts = ['<section id="figures"><h2>Figures</h2>']
    if at is not None:
        param, start = at
        parts.append(
            f'<p class="sub">Drawn at {_e(param.key)} = {_e(param.literals[start])}'
            " (where the slider starts); the slider does not redraw them.</p>"
        )
    for row, title in enumerate(dict.fromkeys(t for report in reports for t in report.figures)):
        parts.append(f'<h3>{_e(title.replace("_", " ").capitalize())}</h3><div class="grid">')
        for column, (name, report) in enumerate(zip(names, reports, strict=True)):
            svg = _inline_svg(report.figures[title], f"f{row}-{column}-")
            parts.append(f"<figure><figcaption>{_e(name)}</figcaption>{svg}</figure>")
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _inline_svg(svg: str, prefix: str) -> str:
    """An ``<svg>`` element ready to sit in the page beside others: its metadata dropped and
    every id (and every reference to one) prefixed, so no two figures share an id."""
    svg = _SVG_METADATA.sub("", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', svg)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg)


def _settings_section(reports: Sequence[ScenarioReport], names: Sequence[str]) -> str:
    parts = ['<section id="settings"><h2>Settings</h2>']
    parts.append(
        '<p class="sub">Each scenario as run: its file, with <code>extends</code> and every'
        " <code>--set</code> applied, and every default written out.</p>"
    )
    for name, report in zip(names, reports, strict=True):
        settings = report.scenario.model_dump_json(indent=2)
        parts.append(
            f'<details><summary>{_e(name)} <span class="sub">{_e(report.path)}</span>'
            f'</summary><pre class="settings">{_e(settings)}</pre></details>'
        )
    parts.append("</section>")
    return "".join(parts)


def _assumptions_section() -> str:
    parts = ['<section id="assumptions"><h2>What the model assumes</h2>']
    place = next((path for path in MODEL_DOC_PLACES if path.is_file()), None)
    if place is None:
        raise InputError(
            "cannot find docs/model.md (the model's assumptions the report shows) in "
            + " or ".join(str(path) for path in MODEL_DOC_PLACES)
            + "; reinstall mqlsim"
        )
    text = place.read_text(encoding="utf-8")
    intro, *sections = re.split(r"^## ", text, flags=re.MULTILINE)
    parts.append(
        '<p class="sub">From docs/model.md of the mqlsim that wrote this report; open a heading'
        " to read it.</p>"
    )
    parts.append(markdown_to_html(re.sub(r"^# .*\n", "", intro)))
    for section in sections:
        heading, _, body = section.partition("\n")
        parts.append(
            f"<details><summary>{_inline(heading)}</summary>{markdown_to_html(body)}</details>"
        )
    parts.append("</section>")
    return "".join(parts)


# --- sweep data and script ----------------------------------------------------------------------


def _sweep_data(reports: Sequence[ScenarioReport], param: Param, start: int) -> dict[str, Any]:
    """What the slider needs: the grid, and every scenario's key numbers at every point."""

    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    def point(report: ScenarioReport, index: int, paired: bool) -> dict[str, Any]:
        summaries = report.summaries[index]
        changes = _changes(reports[0], report, index) if paired else {}
        shown = {}
        for metric in dict.fromkeys((*KEY_METRICS, *READOUT_METRICS)):
            summary = summaries[metric]
            mean, interval = _cell(summary, METRIC_BY_NAME[metric].unit)
            shown[metric] = {
                "mean": number(summary.mean),
                "ci_low": number(summary.ci_low),
                "ci_high": number(summary.ci_high),
                "text": mean,
                "interval": interval,
                "readout": _shown(summary, metric),
            }
            if metric in changes:
                text, mark = _change_text(changes[metric])
                shown[metric] |= {"change": text, "mark": mark, "mark_class": _mark_class(mark)}
        return shown

    return {
        "key": param.key,
        "values": list(param.values),
        "labels": list(param.literals),
        "start": start,
        "scenarios": [
            {
                "name": report.scenario.scenario.name,
                "points": [point(report, i, column > 0) for i in range(len(report.summaries))],
            }
            for column, report in enumerate(reports)
        ],
    }


def _json_for_script(document: Mapping[str, Any]) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>`` can appear)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


_SCRIPT = """
const data = JSON.parse(document.getElementById("sweep-data").textContent);
const slider = document.getElementById("sweep-slider");
function show(i) {
  document.getElementById("sweep-value").textContent = data.labels[i];
  data.scenarios.forEach((scenario, column) => {
    for (const [metric, shown] of Object.entries(scenario.points[i])) {
      const set = (id, text) => {
        const element = document.getElementById(id);
        if (element) element.textContent = text;
      };
      set(`v-${column}-${metric}`, shown.text);
      set(`ci-${column}-${metric}`, shown.interval);
      set(`r-${column}-${metric}`, shown.readout);
      if (shown.change !== undefined) {
        set(`d-${column}-${metric}`, shown.change);
        set(`m-${column}-${metric}`, shown.mark);
        const mark = document.getElementById(`m-${column}-${metric}`);
        if (mark) mark.className = `mark mark-${shown.mark_class}`;
      }
    }
  });
  document.querySelectorAll("[data-point]").forEach((marker) => {
    marker.classList.toggle("current", Number(marker.dataset.point) === i);
  });
}
slider.addEventListener("input", () => show(Number(slider.value)));
show(Number(slider.value));  // a reload may keep the slider where it was
"""

_CSS = """
:root { --ink: #111; --muted: #444; --line: #bbb; --accent: #c0003c; --band: #f2f2f2; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.5rem 2.5rem 3rem; color: var(--ink); background: #fff;
  font: 20px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
h1 { font-size: 2.1rem; margin: 0 0 .3rem; }
h2 { font-size: 1.6rem; margin: 2.2rem 0 .8rem; border-bottom: 3px solid var(--ink); }
h3 { font-size: 1.25rem; margin: 1.6rem 0 .5rem; }
.lede { font-size: 1.1rem; color: var(--muted); margin: 0; max-width: 70rem; }
.sub { display: block; font-size: .75rem; font-weight: normal; color: var(--muted); }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: .85em; }
table.numbers { border-collapse: collapse; max-width: 100%; }
table.numbers td, table.numbers tr:first-child th + th { min-width: 13rem; }
table.numbers th, table.numbers td { padding: .45rem .8rem; border-bottom: 1px solid var(--line);
  text-align: right; vertical-align: top; }
table.numbers th[scope=row], table.numbers tr:first-child th:first-child { text-align: left; }
table.numbers tr:first-child th { font-size: 1.2rem; border-bottom: 3px solid var(--ink); }
table.numbers tr:nth-child(even) { background: var(--band); }
.mean { display: block; font-size: 1.35rem; font-weight: 700;
  font-variant-numeric: tabular-nums; }
.ci { display: block; font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.sweep { position: sticky; top: 0; z-index: 1; background: #fff; padding: .5rem 0 .6rem;
  border-bottom: 2px solid var(--line); display: grid; grid-template-columns: auto 1fr;
  column-gap: 1rem; align-items: center; }
.sweep .readout { grid-column: 1 / -1; font-size: .85rem; margin-top: .3rem;
  font-variant-numeric: tabular-nums; }
.readout .line { display: flex; flex-wrap: wrap; column-gap: 1.2rem; }
.readout .name { font-weight: 700; min-width: 7rem; }
.readout .label { color: var(--muted); }
.readout .value { font-weight: 700; }
.change { display: block; font-size: .8rem; font-variant-numeric: tabular-nums; }
.mark { display: inline-block; min-width: 1.4rem; margin-left: .3rem; font-weight: 700;
  text-align: center; border-radius: 4px; }
.mark-better { background: #cfe9dc; }
.mark-worse { background: #f6d3c8; }
.mark-changed { background: #e6e6e6; }
.sweep label { font-weight: 700; font-size: 1.3rem; }
.sweep output { font-size: 1.8rem; font-weight: 700; color: var(--accent); }
.sweep input { grid-column: 1 / -1; width: 100%; height: 2.2rem; accent-color: var(--accent); }
.sweep .ticks { grid-column: 1 / -1; display: flex; justify-content: space-between;
  font-size: .8rem; color: var(--muted); }
.grid { display: grid; gap: 1.5rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 56rem), 1fr)); }
figure { margin: 0; }
figcaption { font-weight: 700; margin-bottom: .3rem; }
figure svg { width: 100%; height: auto; display: block; }
[data-point] { visibility: hidden; }
[data-point].current { visibility: visible; }
details { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem;
  margin: .5rem 0; }
summary { cursor: pointer; font-weight: 700; }
details pre { overflow-x: auto; background: var(--band); padding: .8rem; }
#assumptions table { border-collapse: collapse; margin: .6rem 0; }
#assumptions th, #assumptions td { border: 1px solid var(--line); padding: .3rem .5rem;
  text-align: left; vertical-align: top; }
footer { margin-top: 3rem; font-size: .8rem; color: var(--muted); }
"""


# --- Markdown ---------------------------------------------------------------------------------

#: CommonMark with GitHub's pipe tables; raw HTML in the Markdown is escaped, not passed through.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(text: str) -> str:
    """``docs/model.md``'s Markdown as HTML (markdown-it-py): headings one level below the
    report's own, and a relative link keeping its text only (the report is one file)."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        if token.children:
            token.children = _without_relative_links(token.children)
    return str(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


def _inline(text: str) -> str:
    """One line of inline Markdown as HTML (a heading turned into a ``<summary>``)."""
    tokens = _MARKDOWN.parseInline(text)
    for token in tokens:
        if token.children:
            token.children = _without_relative_links(token.children)
    return str(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


def _without_relative_links(children: list[Any]) -> list[Any]:
    """Inline tokens with every link whose target is not ``http(s)://`` reduced to its text."""
    kept, dropped = [], []
    for token in children:
        if token.type == "link_open":
            relative = not str(token.attrGet("href") or "").startswith(("http://", "https://"))
            dropped.append(relative)
            if relative:
                continue
        elif token.type == "link_close" and dropped.pop():
            continue
        kept.append(token)
    return kept
