"""`mqlsim report`: one self-contained HTML file for a workshop or a meeting with sales leaders.

The file works offline: figures are inline SVG (matplotlib, Agg), style and script are inline,
nothing is fetched. For several scenarios, key numbers (means with 95 % intervals) stand in
columns side by side and figures in a grid. With ``--sweep KEY=...`` (the grid syntax of
``mqlsim sweep --param``, one key) every scenario is run at every grid point on common random
numbers; the results are embedded as JSON, and a slider over the grid points shows that point's
numbers and highlights it on each scenario's trade-off curve. Each scenario's resolved settings
and the model's assumptions (rendered from ``docs/model.md``) close the report.

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

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import DIMENSIONS, METRIC_BY_NAME, UNIT_FORMATS, format_value
from mqlsim.experiments.runner import Execution, ExperimentResult, Progress, run_experiments
from mqlsim.experiments.summary import MetricSummary
from mqlsim.experiments.sweep import Param, Sweep, run_sweep, sweep_scenarios
from mqlsim.scenario.loading import Overrides, load_scenario
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
#: docs/model.md: in a source checkout (also an editable install), and where installs put it.
MODEL_DOC_PLACES = (
    Path(__file__).resolve().parents[2] / "docs" / "model.md",
    Path(sysconfig.get_path("data")) / "share" / "mqlsim" / "model.md",
)


@dataclass(frozen=True)
class ScenarioReport:
    """What the report shows of one scenario.

    ``summaries`` holds the scenario's numbers, or with a sweep one mapping per grid point;
    ``figures`` maps each figure's name to its SVG text; ``trade_off`` is the sweep's trade-off
    figure with one highlight mark per grid point; ``segments`` holds every breakdown
    (``{dimension: {segment: {metric: summary}}}``, at the slider's first point).
    """

    path: str
    scenario: Scenario
    summaries: tuple[dict[str, MetricSummary], ...]
    figures: dict[str, str]
    segments: dict[str, dict[str, dict[str, MetricSummary]]]
    trade_off: str | None = None


def build_reports(
    sources: Sequence[str | Scenario],
    overrides: Overrides,
    param: Param | None,
    progress: Progress | None = None,
    **execution: Unpack[Execution],
) -> tuple[list[ScenarioReport], int]:
    """Load and run every scenario (at every point of ``param``'s grid, if given) in one pool.

    Returns the reports and the grid point the slider starts at (0 without a sweep): the first
    scenario's own value of the swept key when it is on the grid, else the first point. The
    run figures are drawn at that point.
    """
    paths = [_source_name(source) for source in sources]
    if param is None:
        scenarios = [load_scenario(source, overrides) for source in sources]
        results = run_experiments(scenarios, progress, **execution)
        reports = [
            ScenarioReport(
                path, result.scenario, (result.summaries,), _figures(result), _segments(result)
            )
            for path, result in zip(paths, results, strict=True)
        ]
        return reports, 0
    with as_sweep_option():
        loaded = [sweep_scenarios(source, overrides, [param]) for source in sources]
    grid = [point for _, points in loaded for point in points]
    everything = run_sweep(loaded[0][0], [param], grid, None, progress, **execution)
    start = _start(loaded[0][0], param)
    size = len(param.values)
    reports = []
    for k, (path, (base, _)) in enumerate(zip(paths, loaded, strict=True)):
        points = everything.points[k * size : (k + 1) * size]
        sweep = Sweep(base=base, params=(param,), objective=None, points=points)
        reports.append(
            ScenarioReport(
                path,
                base,
                tuple(point.summaries for point in points),
                _figures(points[start].result),
                _segments(points[start].result),
                _trade_off(sweep, start),
            )
        )
    return reports, start


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


def _figures(result: ExperimentResult) -> dict[str, str]:
    """The run figures of ``result`` (records of its replication 0) as SVG text, by name."""
    from mqlsim.render.figures import RunData, figure_svgs  # loads matplotlib: only when drawing

    return figure_svgs(run=RunData.from_experiment(result))


def _trade_off(sweep: Sweep, current: int) -> str:
    """The trade-off figure of ``sweep`` as SVG text, with a hidden ring around each point
    (``data-point`` = its index; the ``current`` one shown) for the slider to highlight.

    The rings sit in the SVG's own coordinates (points, y down), taken from each axes' data
    transform after the figure is drawn.
    """
    from mqlsim.render.figures import TRADE_OFFS, render, trade_off_figure  # loads matplotlib

    figure = trade_off_figure(sweep)
    svg = render(figure, "svg").decode("utf-8")
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
    svg = svg[svg.index("<svg") :]
    return svg.replace("</svg>", f'<g class="marks">{"".join(rings)}</g></svg>')


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
        parts += [_slider(param, start), _trade_off_section(reports, names)]
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
    if param is not None:
        text += (
            f" Every value of {param.key} runs on the same seed (common random numbers), so"
            " the points differ only by their setting. Move the slider to see each point."
        )
    return text


def _slider(param: Param, start: int) -> str:
    last = len(param.values) - 1
    ticks = "".join(f"<span>{_e(literal)}</span>" for literal in param.literals)
    return (
        '<div class="sweep">'
        f'<label for="sweep-slider">{_e(param.key)} =</label>'
        f'<output id="sweep-value" for="sweep-slider">{_e(param.literals[start])}</output>'
        f'<input type="range" id="sweep-slider" min="0" max="{last}" step="1" value="{start}">'
        f'<div class="ticks">{ticks}</div>'
        "</div>"
    )


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
    for name, report in zip(names, reports, strict=True):
        meta = report.scenario.scenario
        rows.append(
            f'<th scope="col">{_e(name)}<span class="sub">{_e(meta.description)}</span></th>'
        )
    rows.append("</tr>")
    for metric in KEY_METRICS:
        spec = METRIC_BY_NAME[metric]
        unit = UNIT_FORMATS[spec.unit][1]
        rows.append(
            f'<tr><th scope="row">{_e(metric)}'
            f'<span class="sub">{_e(unit)} · {_e(spec.description)}</span></th>'
        )
        for column, report in enumerate(reports):
            mean, interval = _cell(report.summaries[start][metric], spec.unit)
            rows.append(
                f'<td><span class="mean" id="v-{column}-{metric}">{_e(mean)}</span>'
                f'<span class="ci" id="ci-{column}-{metric}">{_e(interval)}</span></td>'
            )
        rows.append("</tr>")
    return (
        '<section id="numbers"><h2>Key numbers</h2><table class="numbers">'
        + "".join(rows)
        + "</table></section>"
    )


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

    def point(summaries: Mapping[str, MetricSummary]) -> dict[str, Any]:
        shown = {}
        for metric in KEY_METRICS:
            summary = summaries[metric]
            mean, interval = _cell(summary, METRIC_BY_NAME[metric].unit)
            shown[metric] = {
                "mean": number(summary.mean),
                "ci_low": number(summary.ci_low),
                "ci_high": number(summary.ci_high),
                "text": mean,
                "interval": interval,
            }
        return shown

    return {
        "key": param.key,
        "values": list(param.values),
        "labels": list(param.literals),
        "start": start,
        "scenarios": [
            {"name": report.scenario.scenario.name, "points": [point(s) for s in report.summaries]}
            for report in reports
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
      document.getElementById(`v-${column}-${metric}`).textContent = shown.text;
      document.getElementById(`ci-${column}-${metric}`).textContent = shown.interval;
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
.sweep { position: sticky; top: 0; z-index: 1; background: #fff; padding: .6rem 0 .8rem;
  border-bottom: 2px solid var(--line); display: grid; grid-template-columns: auto 1fr;
  column-gap: 1rem; align-items: center; }
.sweep label { font-weight: 700; font-size: 1.3rem; }
.sweep output { font-size: 1.8rem; font-weight: 700; color: var(--accent); }
.sweep input { grid-column: 1 / -1; width: 100%; height: 2.2rem; accent-color: var(--accent); }
.sweep .ticks { grid-column: 1 / -1; display: flex; justify-content: space-between;
  font-size: .8rem; color: var(--muted); }
.grid { display: grid; gap: 1.5rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 34rem), 1fr)); }
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


# --- Markdown (the subset docs/model.md uses) -----------------------------------------------


_BLOCK_START = re.compile(r"^(```|#{1,6} |\||- )")
_SPANS = re.compile(r"\*\*(.+?)\*\*|\*(\S(?:.*?\S)?)\*|\[([^\]]+)\]\(([^)\s]+)\)")


def markdown_to_html(text: str) -> str:
    """Render the Markdown subset of ``docs/model.md``: headings, paragraphs, nested ``-``
    lists, fenced code, pipe tables, and inline code, bold, italics and links."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            stop = len(lines) if end is None else end
            out.append(f"<pre><code>{_e(chr(10).join(lines[i + 1 : stop]))}</code></pre>")
            i = stop + 1
        elif heading := re.match(r"(#{1,6}) (.*)", line):
            level = min(len(heading.group(1)) + 1, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        else:
            kind = "table" if line.startswith("|") else "list" if line.startswith("- ") else "p"
            block = [line]
            i += 1
            while i < len(lines) and lines[i].strip() and _continues(kind, lines[i]):
                block.append(lines[i])
                i += 1
            out.append({"table": _table, "list": _list, "p": _paragraph}[kind](block))
    return "\n".join(out)


def _continues(kind: str, line: str) -> bool:
    if kind == "table":
        return line.startswith("|")
    if kind == "list":
        return line.startswith((" ", "- "))
    return _BLOCK_START.match(line) is None


def _paragraph(block: list[str]) -> str:
    return f"<p>{_inline(' '.join(line.strip() for line in block))}</p>"


def _table(block: list[str]) -> str:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block]
    head, body = rows[0], [row for row in rows[1:] if not all(set(c) <= set(":-") for c in row)]
    parts = ["<table><tr>", *(f"<th>{_inline(cell)}</th>" for cell in head), "</tr>"]
    for row in body:
        parts += ["<tr>", *(f"<td>{_inline(cell)}</td>" for cell in row), "</tr>"]
    return "".join([*parts, "</table>"])


def _list(block: list[str]) -> str:
    """A ``-`` list; an item indented by two more spaces nests, other lines continue an item."""
    items: list[tuple[int, str]] = []
    for line in block:
        item = re.match(r"( *)- (.*)", line)
        if item:
            items.append((len(item.group(1)) // 2, item.group(2)))
        else:
            level, text = items[-1]
            items[-1] = (level, f"{text} {line.strip()}")
    parts: list[str] = []
    depth = -1
    for level, text in items:
        if level > depth:
            parts.append("<ul><li>")
            depth += 1
        else:
            while depth > level:
                parts.append("</li></ul>")
                depth -= 1
            parts.append("</li><li>")
        parts.append(_inline(text))
    parts.append("</li></ul>" * (depth + 1))
    return "".join(parts)


def _inline(text: str) -> str:
    """Inline Markdown as HTML; a relative link keeps its text only (the report is one file)."""
    codes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(f"<code>{_e(match.group(1))}</code>")
        return f"\0{len(codes) - 1}\0"

    def span(match: re.Match[str]) -> str:
        bold, italic, label, target = match.groups()
        if bold is not None:
            return f"<strong>{bold}</strong>"
        if italic is not None:
            return f"<em>{italic}</em>"
        if target.startswith(("http://", "https://")):
            return f'<a href="{target}">{label}</a>'
        return label

    text = _SPANS.sub(span, _e(re.sub(r"`([^`]+)`", keep, text)))
    return re.sub("\0(\\d+)\0", lambda match: codes[int(match.group(1))], text)
