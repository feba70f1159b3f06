"""Workshop figures: the funnel, missed opportunities, rep hours, the weeks, the policy against
the hidden truth, and a sweep's trade-off.

Each figure is a data step (pure numpy, returning a small frozen dataclass that tests compare
with the metrics) and a drawing step (matplotlib, Agg, no pyplot state). Run figures read a
:class:`RunData`: the metric rows of every replication, whose means and 95 % intervals they
show, and one replication's records (replication 0 by default) for what the metrics do not
hold (weekly series, hours by outcome, lead by lead truth: sim/model/detail.py computes them,
below matplotlib, in the process that ran the replication). Each figure's subtitle says which.

Output is byte-identical for the same inputs: fixed fonts (DejaVu Sans, shipped with
matplotlib), a fixed SVG hash salt, and no date or software version in PNG or SVG metadata.
Colours are the Okabe–Ito palette, safe for colour-blind readers.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as CurvePath

from mqlsim.core.atomic import write_together
from mqlsim.core.metric_catalog import METRIC_BY_NAME, UNIT_FORMATS
from mqlsim.experiments.runner import ExperimentResult, local_pool
from mqlsim.experiments.summary import MetricSummary, summarize
from mqlsim.experiments.sweep import HEALTHY_BAND, Sweep, setting_label
from mqlsim.model.detail import (
    ReplicationDetail,
    TruthData,
    WeeklyData,
    measured_period,
    replication_detail,
)
from mqlsim.model.engine import SharedStage, run_replication, shared_stage, stage_key
from mqlsim.scenario.models import Scenario

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.typing import RcKeyType

#: The figures of one run, in reading order (file names without extension).
RUN_FIGURES: tuple[str, ...] = (
    "funnel",
    "missed_opportunities",
    "rep_hours",
    "over_time",
    "policy_vs_truth",
)
#: The figure of a sweep.
TRADE_OFF = "trade_off"
FORMATS: tuple[str, ...] = ("png", "svg")
#: 16:9 at 1600 × 900 pixels: a projector's shape.
SIZE = (12.8, 7.2)
DPI = 125
#: Height of the title and subtitle above the axes.
HEADER_INCHES = 1.15
#: (x, y) metric pairs of the trade-off figure.
TRADE_OFFS: tuple[tuple[str, str], ...] = (
    ("missed_opportunities", "wasted_sales_hours"),
    ("sales_hours", "lost_pipeline_value"),
)

# Okabe–Ito colours.
BLUE, SKY, GREEN, ORANGE, VERMILLION = "#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00"
GREY, LIGHT = "#7F7F7F", "#D9D9D9"

STYLE: dict[RcKeyType, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 15,
    "axes.titlesize": 16,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 15,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.axisbelow": True,
    "grid.color": "0.9",
    "svg.fonttype": "none",
}
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class FunnelData:
    """The funnel stages (metric names), their counts, and each stage's rate from the one
    before (``None`` for leads); every value over the replications."""

    stages: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[MetricSummary, ...]
    rates: tuple[MetricSummary | None, ...]
    mql_to_sql: MetricSummary


#: Each stage: its metric, its label, and what its leads are called in a sentence.
FUNNEL_STAGES: tuple[tuple[str, str, str], ...] = (
    ("leads", "Leads", "leads"),
    ("mqls", "MQL", "MQLs"),
    ("sals", "SAL", "SALs"),
    ("sqls", "SQL", "SQLs"),
    ("opportunities", "Opportunity", "opportunities"),
    ("deals_won", "Won", "won deals"),
)


def _ratios(rows: Sequence[Mapping[str, float]], numerator: str, denominator: str) -> list[float]:
    """``numerator / denominator`` per replication, ``nan`` without a denominator (as metrics)."""
    return [row[numerator] / row[denominator] if row[denominator] > 0 else math.nan for row in rows]


def funnel_data(rows: Sequence[Mapping[str, float]]) -> FunnelData:
    """Counts and stage-to-stage rates of :data:`FUNNEL_STAGES`; a rate is summarised over the
    replications' own ratios, so lead→MQL and MQL→SAL equal their metrics."""
    names = tuple(name for name, *_ in FUNNEL_STAGES)
    return FunnelData(
        stages=names,
        labels=tuple(label for _, label, _ in FUNNEL_STAGES),
        counts=tuple(summarize([row[name] for row in rows]) for name in names),
        rates=(None, *(summarize(_ratios(rows, b, a)) for a, b in pairwise(names))),
        mql_to_sql=summarize([row["mql_to_sql_rate"] for row in rows]),
    )


@dataclass(frozen=True)
class MissedData:
    """Missed opportunities by cause (metric names) over the replications."""

    causes: tuple[str, ...]
    counts: tuple[MetricSummary, ...]
    total: MetricSummary
    lost_value: MetricSummary


class Cause(NamedTuple):
    """A cause of missed opportunities: its metric, how the figure names and explains it, and
    whose side of the hand-off it is on (``policy`` or ``sales``)."""

    metric: str
    label: str
    meaning: str
    sentence: str
    side: str


MISSED_CAUSES: tuple[Cause, ...] = (
    Cause("missed_never_mql", "Never MQL", "not flagged while buying", "were never MQL", "policy"),
    Cause(
        "missed_mql_too_late",
        "MQL too late",
        "flagged after the window closed",
        "became MQL too late",
        "policy",
    ),
    Cause(
        "missed_waited_in_queue",
        "Waited in queue",
        "window closed before a touch",
        "waited in the queue",
        "sales",
    ),
    Cause(
        "missed_not_reached",
        "Not reached",
        "worked, but not reached or qualified",
        "were not reached",
        "sales",
    ),
)


def missed_data(rows: Sequence[Mapping[str, float]]) -> MissedData:
    """The four causes of ``missed_opportunities``; per replication they add up to it."""
    causes = tuple(cause.metric for cause in MISSED_CAUSES)
    return MissedData(
        causes=causes,
        counts=tuple(summarize([row[name] for row in rows]) for name in causes),
        total=summarize([row["missed_opportunities"] for row in rows]),
        lost_value=summarize([row["lost_pipeline_value"] for row in rows]),
    )


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class RunData:
    """What the run figures draw: every replication's metric row, and the records of one.

    ``rows[r]`` is replication ``r``'s metric row (as in :class:`ExperimentResult`);
    ``weekly`` and ``truth`` are the records of replication ``replication``
    (:class:`~mqlsim.model.detail.ReplicationDetail`). Small and picklable: the figures can be
    drawn in another process (:func:`run_figure_svgs`).
    """

    scenario: Scenario
    rows: tuple[Mapping[str, float], ...]
    weekly: WeeklyData
    truth: TruthData
    replication: int = 0

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        rows: Sequence[Mapping[str, float]],
        detail: ReplicationDetail,
        replication: int = 0,
    ) -> RunData:
        """The figures' data of ``scenario``'s ``rows``, with ``detail`` the records of
        replication ``replication`` (whose metrics are ``rows[replication]``)."""
        return cls(scenario, tuple(rows), detail.weekly, detail.truth, replication)

    @classmethod
    def from_experiment(
        cls, result: ExperimentResult, replication: int = 0, stage: SharedStage | None = None
    ) -> RunData:
        """Re-run ``replication`` of ``result`` in this process for its records (a replication
        depends only on the scenario and its index, so its metrics are the row's, bit for bit),
        from its shared ``stage`` if given (see :func:`from_experiments`)."""
        detail = run_replication(result.scenario, replication, stage)
        records = replication_detail(result.scenario, detail)
        return cls.of(result.scenario, result.replications, records, replication)

    @classmethod
    def from_experiments(cls, results: Sequence[ExperimentResult]) -> list[RunData]:
        """Replication 0 of each of ``results``: its ``detail`` when the run kept it, else
        :meth:`from_experiment`; those re-run that differ only in their policy (a comparison of
        two thresholds, say) share one computed stage."""
        again = [result for result in results if result.detail is None]
        keys = [stage_key(result.scenario) for result in again]
        stages: dict[str, SharedStage] = {}
        runs = []
        for result in results:
            if result.detail is not None:
                runs.append(cls.of(result.scenario, result.replications, result.detail))
                continue
            key = stage_key(result.scenario)
            if key not in stages and keys.count(key) > 1:
                stages[key] = shared_stage(result.scenario, 0)
            runs.append(cls.from_experiment(result, 0, stages.get(key)))
        return runs


# --------------------------------------------------------------------------- drawing helpers


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def _figure(title: str, subtitle: str, size: tuple[float, float] = SIZE) -> Figure:
    """A figure with a bold takeaway title and a grey subtitle above the axes."""
    figure = Figure(figsize=size, dpi=DPI)
    header = HEADER_INCHES / size[1]
    figure.set_layout_engine(
        ConstrainedLayoutEngine(rect=(0.0, 0.0, 1.0, 1.0 - header), w_pad=0.08, h_pad=0.08)
    )
    left = 0.18 / size[0]
    figure.text(left, 1 - 0.14 / size[1], title, fontsize=20, weight="bold", va="top")
    wrapped = textwrap.fill(subtitle, width=int(size[0] * 11))
    figure.text(left, 1 - 0.58 / size[1], wrapped, fontsize=12.5, color="0.35", va="top")
    return figure


def _percent(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.{digits}f} %"


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _money(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"${value / scale:.1f}{suffix}"
    return f"${value:.0f}"


def _half_width(summary: MetricSummary) -> float:
    half = summary.ci_high - summary.mean
    return half if math.isfinite(half) else 0.0


def _interval(summary: MetricSummary, show: Callable[[float], str]) -> str:
    """``mean`` or ``mean (95 % CI low–high)`` when there is an interval."""
    if math.isnan(summary.ci_low):
        return show(summary.mean)
    return f"{show(summary.mean)} (95 % CI {show(summary.ci_low)}–{show(summary.ci_high)})"


def _source(run: RunData) -> str:
    """Which replications the means are over: ``"mean of 5 replications, ... (seed 7)"``."""
    n = len(run.rows)
    seed = run.scenario.scenario.seed
    what = "1 replication" if n == 1 else f"mean of {n} replications, 95 % CI as error bars"
    return f"{what} (seed {seed})"


def _detail(run: RunData) -> str:
    """Which replication's records a figure draws."""
    return f"replication {run.replication} of {len(run.rows)} (seed {run.scenario.scenario.seed})"


def _days(scenario: Scenario) -> str:
    begin, horizon = measured_period(scenario)
    return f"days {begin:g}–{horizon:g} (the measured period)"


@dataclass(frozen=True)
class Headline:
    """A figure's title and the metric means it states, by catalogue name.

    Every number a title states is a metric's mean over the replications, the very number the
    tables show (docs/metrics.md defines it): one definition per quantity, named the same in
    figure and table. ``metrics`` lets tests/test_figures.py check exactly that.
    """

    text: str
    metrics: dict[str, float]


def _means(rows: Sequence[Mapping[str, float]], *names: str) -> dict[str, float]:
    return {name: summarize([row[name] for row in rows]).mean for name in names}


def funnel_headline(rows: Sequence[Mapping[str, float]]) -> Headline:
    """``MQL→SQL is 16.9 %: below the healthy 20–40 % band``."""
    means = _means(rows, "mql_to_sql_rate")
    rate = means["mql_to_sql_rate"]
    if math.isnan(rate):
        return Headline("MQL→SQL rate not measured (no MQLs)", means)
    low, high = HEALTHY_BAND
    verdict = "below" if rate < low else "above" if rate > high else "inside"
    return Headline(f"MQL→SQL is {_percent(rate)}: {verdict} the healthy 20–40 % band", means)


def missed_headline(rows: Sequence[Mapping[str, float]]) -> Headline:
    """``724 buyers missed ($25.2M pipeline); 57 % were never MQL``: the biggest cause."""
    causes = [cause.metric for cause in MISSED_CAUSES]
    means = _means(rows, "missed_opportunities", "lost_pipeline_value", *causes)
    total = means["missed_opportunities"]
    if not (math.isfinite(total) and total > 0):
        return Headline("No buyer was missed", _means(rows, "missed_opportunities"))
    biggest = max(range(len(causes)), key=lambda i: means[causes[i]])
    cause = MISSED_CAUSES[biggest]
    text = (
        f"{_count(total)} buyers missed ({_money(means['lost_pipeline_value'])} pipeline); "
        f"{_percent(means[cause.metric] / total, 0)} {cause.sentence}"
    )
    stated = ("missed_opportunities", "lost_pipeline_value", cause.metric)
    return Headline(text, {name: means[name] for name in stated})


def rep_hours_headline(rows: Sequence[Mapping[str, float]]) -> Headline:
    """``87 % of rep hours on MQLs went to leads that never became SQL``: wasted_sales_hours
    over sales_hours, as the tables give them."""
    means = _means(rows, "wasted_sales_hours", "sales_hours")
    spent = means["sales_hours"]
    if not spent > 0:
        return Headline("No rep hours were spent on MQLs", means)
    share = means["wasted_sales_hours"] / spent
    return Headline(
        f"{_percent(share, 0)} of rep hours on MQLs went to leads that never became SQL", means
    )


def _duration(hours: float) -> str:
    """A delay as people say it: minutes under an hour (``7 min``), else hours (``12 h``)."""
    if hours < 1.0:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def over_time_headline(run: RunData) -> Headline:
    """``Speed to lead: median 7 min against a 4 h SLA; 29 % of MQLs breach it``."""
    means = _means(run.rows, "speed_to_lead_hours_median", "sla_breach_rate")
    if math.isnan(means["speed_to_lead_hours_median"]):
        return Headline("Speed to lead not measured: no MQL was touched", means)
    sla = run.scenario.sales.sla_hours
    median = _duration(means["speed_to_lead_hours_median"])
    return Headline(
        f"Speed to lead: median {median} against a {sla:g} h "
        f"SLA; {_percent(means['sla_breach_rate'], 0)} of MQLs breach it",
        means,
    )


def truth_headline(rows: Sequence[Mapping[str, float]]) -> Headline:
    """``26 % of MQLs were made in a buying window; 63 % of buyers were caught in it``:
    mql_precision and mql_recall."""
    means = _means(rows, "mql_precision", "mql_recall")
    return Headline(
        f"{_percent(means['mql_precision'], 0)} of MQLs were made in a buying window; "
        f"{_percent(means['mql_recall'], 0)} of buyers were caught in theirs",
        means,
    )


# --------------------------------------------------------------------------- run figures


def funnel_figure(run: RunData) -> Figure:
    """Leads → MQL → SAL → SQL → opportunity → won, with stage rates, and the MQL→SQL rate
    against the healthy 20–40 % band."""
    data = funnel_data(run.rows)
    title = funnel_headline(run.rows).text
    subtitle = (
        f"{run.scenario.scenario.name} · {_source(run)} · {_days(run.scenario)}. "
        "Each stage counts distinct leads; the percentage is the share of the stage before."
    )
    with _style():
        figure = _figure(title, subtitle)
        funnel, band = figure.subplots(1, 2, width_ratios=[3.2, 1])
        _draw_funnel(funnel, data)
        _draw_band(band, data.mql_to_sql)
    return figure


def _draw_funnel(ax: Axes, data: FunnelData) -> None:
    means = np.array([count.mean for count in data.counts])
    y = np.arange(means.size)[::-1]
    colours = [GREY, BLUE, BLUE, GREEN, GREEN, GREEN]
    ax.barh(
        y,
        means,
        xerr=[_half_width(count) for count in data.counts],
        color=colours,
        height=0.7,
        error_kw={"ecolor": "0.2", "capsize": 4},
    )
    top = max(float(means.max()), 1.0)  # counts are never nan
    for stage, (row, count, rate) in enumerate(zip(y, data.counts, data.rates, strict=True)):
        text = _count(count.mean)
        if rate is not None:
            text += f"   {_percent(rate.mean)} of {FUNNEL_STAGES[stage - 1][2]}"
        inside = count.mean > 0.55 * top
        ax.text(
            0.015 * top if inside else count.mean + _half_width(count) + 0.01 * top,
            row,
            text,
            va="center",
            ha="left",
            color="white" if inside else "black",
            fontsize=15,
            weight="bold",
        )
    ax.set_yticks(y, data.labels, fontsize=16)
    ax.set_xlim(0, (top + _half_width(data.counts[0])) * 1.02)
    ax.set_xlabel("leads in the measured period")
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    ax.set_title("The funnel")


def _draw_band(ax: Axes, rate: MetricSummary) -> None:
    low, high = HEALTHY_BAND
    ax.axhspan(low * 100, high * 100, color=GREEN, alpha=0.2, lw=0)
    ax.text(0.5, (low + high) / 2 * 100, "healthy\n20–40 %", ha="center", va="center", color=GREEN)
    ax.axhline(15, color=VERMILLION, ls=":", lw=1.5)
    ax.text(0.5, 14, "below 15 %: too loose", ha="center", va="top", color=VERMILLION, fontsize=12)
    if math.isfinite(rate.mean):
        ax.errorbar(
            0.5,
            rate.mean * 100,
            yerr=_half_width(rate) * 100,
            fmt="D",
            ms=14,
            color=BLUE,
            capsize=8,
            lw=2,
        )
        ax.annotate(
            _percent(rate.mean),
            (0.5, rate.mean * 100),
            xytext=(16, 0),
            textcoords="offset points",
            va="center",
            weight="bold",
            color=BLUE,
        )
    highest = rate.ci_high if math.isfinite(rate.ci_high) else rate.mean
    ax.set_ylim(0, max(50.0, highest * 110) if math.isfinite(highest) else 50.0)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    ax.set_ylabel("MQL→SQL rate (%)")
    ax.set_title("MQL→SQL")


def missed_figure(run: RunData) -> Figure:
    """Missed opportunities by cause: never MQL, MQL too late, waited in queue, not reached."""
    data = missed_data(run.rows)
    means = np.array([count.mean for count in data.counts])
    total = data.total.mean
    title = missed_headline(run.rows).text
    subtitle = (
        f"{run.scenario.scenario.name} · {_source(run)} · cohort: real buyers (in market, with "
        f"budget and authority) whose buying window closed in {_days(run.scenario)} "
        "without an SQL."
    )
    colours = {"policy": VERMILLION, "sales": BLUE}
    with _style():
        figure = _figure(title, subtitle)
        ax = figure.subplots()
        y = np.arange(means.size)[::-1]
        ax.barh(
            y,
            means,
            xerr=[_half_width(count) for count in data.counts],
            color=[colours[cause.side] for cause in MISSED_CAUSES],
            height=0.65,
            error_kw={"ecolor": "0.2", "capsize": 4},
        )
        for row, count in zip(y, data.counts, strict=True):
            share = count.mean / total if total > 0 else math.nan
            ax.text(
                count.mean + _half_width(count),
                row,
                f"  {_count(count.mean)}  ({_percent(share, 0)})",
                va="center",
                fontsize=16,
                weight="bold",
            )
        labels = [f"{cause.label}\n{cause.meaning}" for cause in MISSED_CAUSES]
        ax.set_yticks(y, labels, fontsize=14)
        right = max(count.mean + _half_width(count) for count in data.counts)
        ax.set_xlim(0, max(right, 1.0) * 1.3)
        ax.set_xlabel("missed buyers (leads) in the measured period")
        ax.xaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
        ax.legend(
            handles=[
                Patch(color=VERMILLION, label="the policy's side: not flagged in time"),
                Patch(color=BLUE, label="sales' side: flagged, but not won over in time"),
            ],
            loc="center right",
        )
    return figure


def _bars(
    ax: Axes,
    left: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    bottom: np.ndarray,
    colour: str,
    label: str | None = None,
) -> PathPatch:
    """The bars ``ax.bar(left, height, width, bottom, align="edge", color=colour)`` draws, as
    one patch: the same rectangles, limits and sticky bottoms (the same pixels), but one artist
    and one SVG path per series instead of one per week (docs/performance.md, target 5)."""
    right, top = left + width, bottom + height
    # Each bar's corners in the order of a Rectangle's path: (bars, 4 corners, x and y).
    corners = np.stack([(left, bottom), (right, bottom), (right, top), (left, top)])
    corners = corners.transpose(2, 0, 1)
    bars = PathPatch(
        CurvePath.make_compound_path_from_polys(corners),
        facecolor=colour,
        edgecolor="none",
        label=label,
        snap=True,
    )
    bars.sticky_edges.y.extend(bottom)
    ax.add_patch(bars)
    ax.autoscale_view()
    return bars


def _part_week_note(weekly: WeeklyData, whole: WeeklyData) -> str:
    """Says which days the weekly panels leave out (none when the period is whole weeks)."""
    left_out = weekly.edges[-1] - whole.edges[-1]
    return f" The last {left_out:g} days (not a whole week) are left out." if left_out else ""


def rep_hours_figure(run: RunData) -> Figure:
    """Rep hours on MQLs over every replication (sales_hours: wasted_sales_hours and the rest)
    beside the idle hours; and one replication week by week."""
    weekly = run.weekly
    whole = weekly.whole_weeks()
    headline = rep_hours_headline(run.rows)
    spent, wasted = headline.metrics["sales_hours"], headline.metrics["wasted_sales_hours"]
    utilisation = summarize([row["rep_utilization"] for row in run.rows])
    # Hours at work per replication: sales_hours / rep_utilization (the metric's denominator).
    at_work = [
        row["sales_hours"] / row["rep_utilization"]
        for row in run.rows
        if row["rep_utilization"] > 0
    ]
    available = summarize(at_work).mean
    available = available if math.isfinite(available) else spent
    subtitle = (
        f"{run.scenario.scenario.name} · left: {_source(run)}, the means the tables show:"
        f" wasted_sales_hours {wasted:,.1f} of sales_hours {spent:,.1f}; right: {_detail(run)},"
        " week by week. Wasted: episodes that ended without an SQL; still open: in sales at the"
        " horizon." + _part_week_note(weekly, whole)
    )
    bar = (
        ("wasted_sales_hours", wasted, VERMILLION),
        ("became SQL or still open", spent - wasted, GREEN),
        ("idle", max(available - spent, 0.0), LIGHT),
    )
    with _style():
        figure = _figure(headline.text, subtitle)
        total, weeks = figure.subplots(1, 2, width_ratios=[1.1, 3.1])
        bottom = 0.0
        for label, hours, colour in bar:
            total.bar(0, hours, bottom=bottom, color=colour, width=0.6)
            if available > 0 and hours / available > 0.1:
                share = f"\n{_percent(hours / spent, 0)} of sales_hours" if label != "idle" else ""
                total.text(
                    0,
                    bottom + hours / 2,
                    f"{label}\n{hours:,.0f} h{share}",
                    ha="center",
                    va="center",
                    fontsize=12,
                    weight="bold",
                )
            bottom += hours
        total.set_xticks([])
        total.set_xlim(-0.5, 0.5)
        total.spines["bottom"].set_visible(False)
        total.set_ylabel("rep hours at work (h)")
        total.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
        total.set_title(f"rep_utilization {_percent(utilisation.mean)}")
        parts = (
            ("productive (became SQL)", whole.productive_hours, GREEN),
            ("wasted (no SQL)", whole.wasted_hours, VERMILLION),
            ("still open at the horizon", whole.open_hours, SKY),
        )
        stacked = np.zeros(whole.days.size)
        for _, series, colour in parts:
            _bars(weeks, whole.edges[:-1], whole.days * 0.85, series, stacked, colour)
            stacked += series
        weeks.stairs(whole.hours_at_work, whole.edges, color="black", lw=2)
        weeks.set_xlabel("day of the run")
        weeks.set_ylabel("rep hours per week (h)")
        weeks.set_xlim(whole.edges[0], whole.edges[-1])
        weeks.set_title(f"Week by week (replication {run.replication})")
        handles: list[Artist] = [Patch(color=colour, label=label) for label, _, colour in parts]
        handles.append(Line2D([], [], color="black", lw=2, label="hours at work"))
        weeks.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def over_time_figure(run: RunData) -> Figure:
    """MQLs per week, queue length, and speed to lead (weekly median and p90) against the SLA."""
    weekly = run.weekly
    whole = weekly.whole_weeks()
    sla = run.scenario.sales.sla_hours
    title = over_time_headline(run).text
    subtitle = (
        f"{run.scenario.scenario.name} · title: speed_to_lead_hours_median and sla_breach_rate,"
        f" {_source(run)}; panels: {_detail(run)} · {_days(run.scenario)}, week by week."
        " Speed to lead: from MQL to the first sales attempt, by the week of the MQL."
        + _part_week_note(weekly, whole)
    )
    start, width = whole.edges[:-1], whole.days * 0.85
    middle = start + whole.days / 2
    with _style():
        figure = _figure(title, subtitle)
        mqls, queue, speed = figure.subplots(3, 1, sharex=True)
        _bars(mqls, start, width, whole.first_mqls, np.zeros(start.size), BLUE, "first MQL")
        _bars(mqls, start, width, whole.re_mqls, whole.first_mqls, SKY, "re-MQL after recycling")
        mqls.set_ylabel("MQLs\nper week")
        mqls.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        queue.stairs(whole.queue_length, whole.edges, color=ORANGE, alpha=0.25, fill=True)
        queue.stairs(whole.queue_length, whole.edges, color=ORANGE, lw=2.5)
        queue.set_ylabel("MQLs waiting\n(weekly mean)")
        speed.plot(middle, whole.speed_p90, "-o", color=VERMILLION, lw=2, ms=5, label="p90")
        speed.plot(middle, whole.speed_median, "-o", color=BLUE, lw=2, ms=5, label="median")
        speed.axhline(sla, color="black", ls="--", lw=2, label=f"SLA {sla:g} h")
        speed.set_ylabel("speed to lead\n(hours)")
        speed.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        speed.set_xlabel("day of the run")
        speed.set_xlim(whole.edges[0], whole.edges[-1])
        for ax in (mqls, queue, speed):
            ax.set_ylim(bottom=0)
            ax.grid(True, axis="y")
    return figure


def truth_figure(run: RunData) -> Figure:
    """The policy against the hidden truth: mql_precision and mql_recall (means over every
    replication, as the tables give them), and the score distributions of leads with and
    without a buying window, with the threshold(s)."""
    data = run.truth
    headline = truth_headline(run.rows)
    _, horizon = measured_period(run.scenario)
    subtitle = (
        f"{run.scenario.scenario.name} · left: mql_precision and mql_recall, {_source(run)}"
        f" (docs/metrics.md) · right: {_detail(run)}, the {data.in_market.size:,} leads created"
        f" in {_days(run.scenario)}, by whether their buying window opened by day {horizon:g}"
        " (hidden from the policy)."
    )
    with _style():
        figure = _figure(headline.text, subtitle)
        shares, scores = figure.subplots(1, 2, width_ratios=[1, 1.35])
        _draw_precision_recall(shares, headline.metrics)
        if data.score is None:
            scores.axis("off")
            scores.text(
                0.5,
                0.5,
                f"Policy kind '{run.scenario.policy.kind}' qualifies by rule, not by one "
                "score:\nthere is no score distribution to draw.",
                ha="center",
                va="center",
                transform=scores.transAxes,
                color="0.35",
            )
        else:
            _draw_scores(scores, data, horizon)
    return figure


#: The two bars of the truth figure: metric, what its whole is, what its share is.
PRECISION_RECALL: tuple[tuple[str, str, str], ...] = (
    ("mql_precision", "of MQLs", "made in a buying window"),
    ("mql_recall", "of buyers", "caught in their window"),
)


def _draw_precision_recall(ax: Axes, means: Mapping[str, float]) -> None:
    """One 100 % bar per metric: its share filled, the rest grey, named as in the tables."""
    for row, (name, whole, part) in enumerate(PRECISION_RECALL):
        value = means[name]
        share = value if math.isfinite(value) else 0.0
        ax.barh(row, share * 100, color=BLUE, height=0.6)
        ax.barh(row, 100 - share * 100, left=share * 100, color=LIGHT, height=0.6)
        ax.text(
            1.5,
            row,
            f"{_percent(value)} {whole}\n{part}",
            va="center",
            ha="left",
            fontsize=14,
            weight="bold",
            color="white" if share > 0.45 else "black",
        )
    ax.set_yticks(range(len(PRECISION_RECALL)), [name for name, *_ in PRECISION_RECALL])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share (%)")
    ax.set_title("The metrics (all replications)")


def _draw_scores(ax: Axes, data: TruthData, horizon: float) -> None:
    assert data.score is not None and data.bar is not None
    highest = max(data.thresholds.values(), default=100.0)
    step = _nice_step(highest / 10)
    scored = np.isfinite(data.score)
    low = math.floor(min(np.min(data.score[scored], initial=0.0), 0.0) / step)
    edges = np.arange(low, math.ceil(3 * highest / step) + 1) * step
    for group, label, colour, filled in (
        (~data.in_market, "no buying window", GREY, True),
        (data.in_market, f"buying window by day {horizon:g}", ORANGE, False),
    ):
        values = data.score[group & scored]
        if values.size == 0:
            continue
        reached = np.mean(data.score[group] >= data.bar[group])
        ax.hist(
            np.minimum(values, edges[-1] - step / 2),
            edges,  # type: ignore[arg-type]  # an array of bin edges works; the stubs want a Sequence
            weights=np.full(values.size, 100 / values.size),
            histtype="stepfilled" if filled else "step",
            color=colour,
            alpha=0.45 if filled else 1.0,
            lw=2.5,
            label=f"{label} ({values.size:,} leads; {_percent(reached, 0)} reach the bar)",
        )
    for index, (label, value) in enumerate(sorted(data.thresholds.items(), key=lambda kv: kv[1])):
        ax.axvline(value, color="black", ls="--", lw=2)
        ax.annotate(
            f"{label} {value:g}",
            (value, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(6, -6 - 24 * index),
            textcoords="offset points",
            va="top",
            fontsize=13,
            bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none"},
        )
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"each lead's highest score (points; the last bar is ≥ {edges[-2]:g})")
    ax.set_ylabel("share of the group's leads (%)")
    ax.legend(
        loc="upper right", bbox_to_anchor=(1.0, 0.84), fontsize=12, frameon=True, edgecolor="none"
    )
    ax.set_title("Each lead's highest score")


def _nice_step(rough: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``rough`` (> 0)."""
    if not rough > 0:
        return 10.0
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)


# --------------------------------------------------------------------------- sweep


#: Marker shapes for the settings of a sweep's second key, in order.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def trade_off_figure(sweep: Sweep) -> Figure:
    """One labelled point per sweep setting (mean and 95 % intervals): wasted rep hours against
    missed opportunities, and lost pipeline against rep hours. Filled where the MQL→SQL rate is
    in the healthy band; the best point by the objective is starred. Points are labelled with
    the first key's value; a second key's values get a marker shape each."""
    meta = sweep.base.scenario
    first, rest = sweep.params[0], sweep.params[1:]
    best = sweep.best
    title = (
        f"Trade-off over {', '.join(param.key for param in sweep.params)}: one point per setting"
    )
    subtitle = (
        f"{meta.name} · mean and 95 % CI of {meta.replications} replications per point, all on "
        f"seed {meta.seed} (common random numbers); grey lines join the {first.key} settings"
        + (f" of each {rest[0].key} (one marker shape each)." if rest else ".")
    )
    if best is not None and sweep.objective is not None:
        subtitle += (
            f" Star: best by objective {sweep.objective.text!r} ({sweep.points[best].label})."
        )
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, point in enumerate(sweep.points):
        groups.setdefault(tuple(point.settings[p.key] for p in rest), []).append(index)
    marker = {key: MARKERS[i % len(MARKERS)] for i, key in enumerate(groups)}
    with _style():
        figure = _figure(title, subtitle)
        axes = figure.subplots(1, len(TRADE_OFFS))
        for ax, (x_name, y_name) in zip(axes, TRADE_OFFS, strict=True):
            x = [point.summaries[x_name] for point in sweep.points]
            y = [point.summaries[y_name] for point in sweep.points]
            for group, (key, members) in enumerate(groups.items()):
                ax.plot([x[i].mean for i in members], [y[i].mean for i in members], color="0.75")
                for index in members:
                    healthy = sweep.points[index].band == "healthy"
                    ax.errorbar(
                        x[index].mean,
                        y[index].mean,
                        xerr=_half_width(x[index]),
                        yerr=_half_width(y[index]),
                        fmt=marker[key],
                        ms=10,
                        color=GREEN if healthy else ORANGE,
                        mfc=GREEN if healthy else "white",
                        mew=2,
                        capsize=3,
                        zorder=3,
                    )
                    ax.annotate(
                        _setting(first.key, sweep.points[index].settings[first.key]),
                        (x[index].mean, y[index].mean),
                        xytext=(7, 7 if group % 2 == 0 else -20),  # apart from a neighbour's
                        textcoords="offset points",
                        fontsize=12,
                    )
            if best is not None:
                ax.plot(x[best].mean, y[best].mean, "*", ms=26, mfc="none", mec="black")
            ax.xaxis.set_major_formatter(_tick_format(x_name))
            ax.yaxis.set_major_formatter(_tick_format(y_name))
            ax.set_xlabel(_axis_label(x_name))
            ax.set_ylabel(_axis_label(y_name))
            ax.grid(True)
        handles = [
            Line2D(
                [], [], marker="o", ls="", ms=10, color=GREEN, label="MQL→SQL 20–40 % (healthy)"
            ),
            Line2D(
                [], [], marker="o", ls="", ms=10, color=ORANGE, mfc="white", label="outside 20–40 %"
            ),
        ]
        if best is not None:
            handles.append(
                Line2D([], [], marker="*", ls="", ms=16, mfc="none", mec="black", label="best")
            )
        if rest:
            for key in groups:
                label = ", ".join(_setting(p.key, v) for p, v in zip(rest, key, strict=True))
                handles.append(
                    Line2D([], [], marker=marker[key], ls="", ms=10, color="0.3", label=label)
                )
        figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5))
    return figure


def _setting(key: str, value: Any) -> str:
    """``threshold=60``: a setting as the sweep labels it."""
    return f"{key.rsplit('.', 1)[-1]}={setting_label(value)}"


def _tick_format(name: str) -> Callable[[float, int], str]:
    """Tick labels of a metric's axis: ``$25M`` for money, ``3,500`` otherwise."""
    if METRIC_BY_NAME[name].unit == "currency":
        return lambda value, _: _money(value)
    return lambda value, _: f"{value:,.0f}"


def _axis_label(name: str) -> str:
    """``"wasted_sales_hours (hours)"``: the metric name users type, with its unit."""
    return f"{name} ({UNIT_FORMATS[METRIC_BY_NAME[name].unit][1]})"


# --------------------------------------------------------------------------- output


#: The canvas that renders each format, and measures text as its renderer will.
_CANVASES: dict[str, type[FigureCanvasBase]] = {"png": FigureCanvasAgg, "svg": FigureCanvasSVG}


def render(figure: Figure, fmt: str, name: str = "") -> bytes:
    """``figure`` as PNG or SVG bytes (Agg renders the PNG), the same bytes for the same figure;
    ``name`` seeds the SVG's element ids, so figures of different names never share one.

    The figure's constrained layout runs here, on the canvas of ``fmt``, and ``savefig`` then
    draws once: given a layout engine, ``savefig`` would first draw the whole figure without
    output only to run it, a third of the rendering's time (docs/performance.md, target 5).
    The bytes are the same either way.
    """
    buffer = io.BytesIO()
    rc = {
        **STYLE,
        "svg.hashsalt": f"mqlsim-{name}",
        # set_layout_engine(None) below means "no layout engine" only with these off.
        "figure.autolayout": False,
        "figure.constrained_layout.use": False,
    }
    with matplotlib.rc_context(rc):
        engine = figure.get_layout_engine()
        if engine is not None and figure.axes:
            _CANVASES[fmt](figure)
            dpi = figure.dpi
            engine.execute(figure)
            figure.dpi = dpi  # the SVG canvas measures text at 72 dpi and leaves it there
        figure.set_layout_engine(None)
        try:
            figure.savefig(buffer, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
        finally:
            figure.set_layout_engine(engine)
    return buffer.getvalue()


#: The drawing of each run figure, by name, in the order of :data:`RUN_FIGURES`.
RUN_DRAWERS: dict[str, Callable[[RunData], Figure]] = dict(
    zip(
        RUN_FIGURES,
        (funnel_figure, missed_figure, rep_hours_figure, over_time_figure, truth_figure),
        strict=True,
    )
)


def figures(run: RunData | None = None, sweep: Sweep | None = None) -> dict[str, Figure]:
    """The run figures of :data:`RUN_FIGURES` (with ``run``) and :data:`TRADE_OFF` (with
    ``sweep``), by name, in reading order."""
    drawn: dict[str, Figure] = {}
    if run is not None:
        drawn = {name: draw(run) for name, draw in RUN_DRAWERS.items()}
    if sweep is not None:
        drawn[TRADE_OFF] = trade_off_figure(sweep)
    return drawn


def figure_files(run: RunData | None = None, sweep: Sweep | None = None) -> dict[str, bytes]:
    """``<name>.png`` and ``<name>.svg`` of each of :func:`figures`: file name -> bytes."""
    return {
        f"{name}.{fmt}": render(figure, fmt, name)
        for name, figure in figures(run, sweep).items()
        for fmt in FORMATS
    }


def write_figures(
    out_dir: Path, run: RunData | None = None, sweep: Sweep | None = None
) -> list[Path]:
    """Write :func:`figure_files` into ``out_dir`` (created if missing), all together
    (:func:`mqlsim.core.atomic.write_together`); return the paths written."""
    files = figure_files(run, sweep)
    write_together(out_dir, files)
    return [out_dir / name for name in files]


def share_axes(figures: Sequence[Figure]) -> None:
    """Give the same figure drawn for several scenarios the same axes, so side-by-side panels
    compare at a glance: each panel's x and y limits become the union over the figures. A panel
    that is switched off in one figure (no score to draw), or a figure with other panels, is
    left as it is."""
    layouts = [figure.axes for figure in figures]
    if len(figures) < 2 or len({len(axes) for axes in layouts}) != 1:
        return
    for panels in zip(*layouts, strict=True):
        if not all(ax.axison for ax in panels):
            continue
        for get, put, inverted in (
            (Axes.get_xlim, Axes.set_xlim, Axes.xaxis_inverted),
            (Axes.get_ylim, Axes.set_ylim, Axes.yaxis_inverted),
        ):
            if len({inverted(ax) for ax in panels}) != 1:
                continue
            low = min(min(get(ax)) for ax in panels)
            high = max(max(get(ax)) for ax in panels)
            for ax in panels:
                put(ax, (high, low) if inverted(ax) else (low, high))


def svg_text(figure: Figure, name: str) -> str:
    """``figure`` as the ``<svg>`` element alone (no XML declaration or DOCTYPE), to inline."""
    text = render(figure, "svg", name).decode("utf-8")
    return text[text.index("<svg") :]


def figure_svgs(run: RunData | None = None, sweep: Sweep | None = None) -> dict[str, str]:
    """Each figure of :func:`figures` as SVG text to inline in an HTML page, by name.

    Give ``run`` (build it with :meth:`RunData.from_experiment`) for the five run figures of
    :data:`RUN_FIGURES`, and/or ``sweep`` for :data:`TRADE_OFF`; names come in reading order.
    Each value is the ``<svg>`` element alone (no XML declaration or DOCTYPE) with a ``viewBox``,
    so CSS can scale it; text stays text (``'DejaVu Sans', sans-serif``). Element ids are
    deterministic and differ from figure to figure, but the same figure drawn for two scenarios
    reuses them: prefix ids when one page inlines several runs. Same inputs, same text.
    """
    return {name: svg_text(figure, name) for name, figure in figures(run, sweep).items()}


def shared_svgs(name: str, runs: Sequence[RunData]) -> list[str]:
    """Run figure ``name`` of each of ``runs`` as SVG text (:func:`svg_text`), all sharing their
    axes (:func:`share_axes`): one task of :func:`run_figure_svgs`."""
    drawn = [RUN_DRAWERS[name](run) for run in runs]
    share_axes(drawn)
    return [svg_text(figure, name) for figure in drawn]


def run_figure_svgs(runs: Sequence[RunData], workers: int | None = None) -> list[dict[str, str]]:
    """Each of ``runs``' figures as SVG text by name, in reading order; the same figure of
    every run shares its axes. Each figure name is drawn in a process of a local pool of
    ``workers`` (default: every core; 1: in this process): drawing is most of a report's time
    after its simulation, and the same text comes out wherever it is drawn."""
    with local_pool(workers, len(RUN_FIGURES)) as (pool, _):
        if pool is None:
            drawn = {name: shared_svgs(name, runs) for name in RUN_FIGURES}
        else:
            tasks = {name: pool.submit(shared_svgs, name, runs) for name in RUN_FIGURES}
            drawn = {name: task.result() for name, task in tasks.items()}
    return [{name: drawn[name][index] for name in RUN_FIGURES} for index in range(len(runs))]
