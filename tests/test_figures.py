"""Figures: the data behind each matches the metrics, drawing is byte-identical, `run --plots`."""

from __future__ import annotations

import io
import math
import pickle
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from mqlsim.cli import main
from mqlsim.experiments.runner import ExperimentResult, run_experiments
from mqlsim.experiments.summary import summarize_rows
from mqlsim.experiments.sweep import Sweep, SweepPoint, parse_param
from mqlsim.model.detail import truth_data
from mqlsim.model.engine import run_replication
from mqlsim.render.figures import (
    _METADATA,
    DPI,
    FORMATS,
    RUN_FIGURES,
    STYLE,
    TRADE_OFF,
    RunData,
    _bars,
    figure_svgs,
    figures,
    funnel_data,
    funnel_headline,
    missed_data,
    missed_headline,
    over_time_headline,
    render,
    rep_hours_headline,
    run_figure_svgs,
    share_axes,
    svg_text,
    trade_off_figure,
    truth_headline,
    write_figures,
)
from mqlsim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
#: Small but busy: a queue, recycling, misses of every kind; 110 measured days (a part week).
SMALL = [
    "population.leads_per_day=10",
    "scenario.horizon_days=150",
    "scenario.warmup_days=40",
    "scenario.replications=2",
]


def _result(path: str, overrides: list[str]) -> ExperimentResult:
    """A run of ``path`` that keeps the records of replication 0 (``detail``)."""
    (result,) = run_experiments([load_scenario(path, overrides)], workers=1, detail=0)
    return result


def _run(path: str, overrides: list[str]) -> RunData:
    return RunData.from_experiments([_result(path, overrides)])[0]


@pytest.fixture(scope="module")
def result() -> ExperimentResult:
    return _result(BASELINE, SMALL)


@pytest.fixture(scope="module")
def run(result: ExperimentResult) -> RunData:
    return RunData.from_experiments([result])[0]


@pytest.fixture(scope="module")
def matrix_result() -> ExperimentResult:
    return _result(str(ROOT / "scenarios" / "policy_matrix.toml"), SMALL)


def test_the_detailed_replication_is_the_row_it_stands_for(
    result: ExperimentResult, run: RunData
) -> None:
    assert result.detail is not None
    assert run.rows == tuple(result.replications) and run.rows[0] != run.rows[1]
    again = RunData.from_experiment(result)  # replication 0 re-run: the same records
    assert pickle.dumps((again.weekly, again.truth)) == pickle.dumps((run.weekly, run.truth))


class TestData:
    def test_funnel_counts_and_rates_are_the_metrics(self, run: RunData) -> None:
        row = run.rows[0]
        data = funnel_data([row])
        assert [count.mean for count in data.counts] == [row[name] for name in data.stages]
        assert data.stages == ("leads", "mqls", "sals", "sqls", "opportunities", "deals_won")
        assert data.rates[0] is None
        assert data.rates[1].mean == row["lead_to_mql_rate"]
        assert data.rates[2].mean == row["mql_to_sal_rate"]
        assert data.rates[3].mean == row["sqls"] / row["sals"]
        assert data.mql_to_sql.mean == row["mql_to_sql_rate"]
        both = funnel_data(run.rows)
        assert both.counts[1].mean == pytest.approx((run.rows[0]["mqls"] + run.rows[1]["mqls"]) / 2)
        rates = [r["mql_to_sal_rate"] for r in run.rows]
        assert both.rates[2].mean == pytest.approx(sum(rates) / 2)  # mean of the metric
        assert both.rates[2].ci_low < both.rates[2].mean < both.rates[2].ci_high

    def test_missed_causes_add_up_to_missed_opportunities(self, run: RunData) -> None:
        for row in run.rows:
            data = missed_data([row])
            assert sum(count.mean for count in data.counts) == row["missed_opportunities"]
            assert data.total.mean == row["missed_opportunities"] > 0
            assert data.lost_value.mean == row["lost_pipeline_value"]
        data = missed_data(run.rows)
        assert sum(count.mean for count in data.counts) == pytest.approx(data.total.mean)

    def test_weekly_series_add_up_to_the_metrics(self, run: RunData) -> None:
        weekly = run.weekly
        row = run.rows[0]
        assert weekly.edges[0] == 40 and weekly.edges[-1] == 150
        assert np.all(weekly.days[:-1] == 7) and weekly.days[-1] == 110 % 7
        assert (weekly.first_mqls + weekly.re_mqls).sum() == row["mql_events"]
        assert weekly.re_mqls.sum() > 0
        assert weekly.queue_length @ weekly.days / 110 == pytest.approx(row["queue_length"])
        spent = weekly.productive_hours + weekly.wasted_hours + weekly.open_hours
        assert spent.sum() == pytest.approx(row["sales_hours"], rel=1e-12)
        assert weekly.wasted_hours.sum() == pytest.approx(row["wasted_sales_hours"], rel=1e-12)
        assert weekly.productive_hours.sum() > 0 and weekly.open_hours.sum() > 0
        utilisation = spent.sum() / weekly.hours_at_work.sum()
        assert utilisation == pytest.approx(row["rep_utilization"], rel=1e-12)
        medians = weekly.speed_median[np.isfinite(weekly.speed_median)]
        assert medians.size > 10 and np.all(weekly.speed_p90 >= weekly.speed_median)

    def test_whole_weeks_leave_out_the_part_week(self, run: RunData) -> None:
        weekly = run.weekly
        whole = weekly.whole_weeks()
        assert whole.edges.size == weekly.edges.size - 1 and np.all(whole.days == 7)
        assert np.array_equal(whole.first_mqls, weekly.first_mqls[:-1])
        assert np.array_equal(whole.hours_at_work, weekly.hours_at_work[:-1])

    def test_truth_covers_the_leads_of_the_period(self, run: RunData) -> None:
        data = run.truth
        row = run.rows[0]
        assert data.in_market.size == data.mql.size == row["leads"]
        assert 0 < data.mql.sum() <= row["mqls"]
        assert 0 < data.in_market.sum() < data.in_market.size

    def test_score_reaches_the_threshold_exactly_for_the_mqls(self, run: RunData) -> None:
        data = run.truth
        assert data.thresholds == {"threshold": 100.0}
        assert data.score is not None and data.bar is not None
        assert np.array_equal(data.score >= data.bar, data.mql)

    def test_matrix_bars_are_the_cells_of_each_grade(self, matrix_result: ExperimentResult) -> None:
        detail = run_replication(matrix_result.scenario, 0)
        data = truth_data(matrix_result.scenario, detail)
        assert matrix_result.detail is not None
        assert pickle.dumps(data) == pickle.dumps(matrix_result.detail.truth)
        assert data.thresholds == {"grade A, B": 50.0, "grade C": 90.0}
        assert data.score is not None and data.bar is not None
        assert np.array_equal(data.score >= data.bar, data.mql)
        population = detail.population
        grade = population.grade[(population.arrival >= 40) & (population.arrival < 150)]
        assert np.all(np.isinf(data.bar[grade == 3])) and not data.mql[grade == 3].any()

    def test_a_policy_without_a_score_has_no_distribution(self) -> None:
        small = _run(str(ROOT / "scenarios" / "policy_trigger.toml"), SMALL)
        data = small.truth
        assert data.score is None and data.bar is None and data.thresholds == {}
        assert data.mql.size == small.rows[0]["leads"]
        svg = render(figures(small)["policy_vs_truth"], "svg").decode()
        assert "qualifies by rule, not by one" in svg


class TestHeadlines:
    """Issue 17, point 10: each figure's headline states metric means, the numbers the tables
    show, under the metrics' own definitions; the title drawn is that headline."""

    @pytest.mark.parametrize(
        ("name", "headline", "stated"),
        [
            ("funnel", funnel_headline, {"mql_to_sql_rate"}),
            ("missed_opportunities", missed_headline, {"missed_opportunities"}),
            ("rep_hours", rep_hours_headline, {"wasted_sales_hours", "sales_hours"}),
            ("policy_vs_truth", truth_headline, {"mql_precision", "mql_recall"}),
        ],
    )
    def test_each_headline_is_the_metrics_it_states(
        self, run: RunData, name: str, headline, stated: set[str]
    ) -> None:
        drawn = figures(run)[name]
        result = headline(run.rows)
        assert stated <= set(result.metrics)
        table = summarize_rows(list(run.rows))
        for metric, value in result.metrics.items():
            assert value == table[metric].mean  # the table's number, not replication 0's
        assert drawn.texts[0].get_text() == result.text

    def test_rep_hours_title_and_bar_share_one_definition(self, run: RunData) -> None:
        result = rep_hours_headline(run.rows)
        table = summarize_rows(list(run.rows))
        share = table["wasted_sales_hours"].mean / table["sales_hours"].mean
        assert result.text.startswith(f"{share * 100:.0f} % of rep hours on MQLs")
        svg = render(figures(run)["rep_hours"], "svg").decode()
        # The bar's wasted segment says the same share, of the same base, by the same name.
        assert f"{share * 100:.0f} % of sales_hours" in svg
        assert "wasted_sales_hours" in svg and "rep_utilization" in svg

    def test_truth_title_is_precision_and_recall(self, run: RunData) -> None:
        table = summarize_rows(list(run.rows))
        result = truth_headline(run.rows)
        assert result.text == (
            f"{table['mql_precision'].mean * 100:.0f} % of MQLs were made in a buying window; "
            f"{table['mql_recall'].mean * 100:.0f} % of buyers were caught in theirs"
        )
        svg = render(figures(run)["policy_vs_truth"], "svg").decode()
        assert "mql_precision" in svg and "mql_recall" in svg
        assert f"{table['mql_precision'].mean * 100:.1f} % of MQLs" in svg

    def test_over_time_states_means_over_every_replication(self, run: RunData) -> None:
        result = over_time_headline(run)
        table = summarize_rows(list(run.rows))
        assert result.metrics["sla_breach_rate"] == table["sla_breach_rate"].mean
        median = table["speed_to_lead_hours_median"].mean
        # Under an hour in minutes, under ten hours to a tenth, else whole hours.
        said = f"{median * 60:.0f} min" if median < 1 else f"{median:.{int(median < 10)}f} h"
        assert f"median {said} against" in result.text
        assert figures(run)["over_time"].texts[0].get_text() == result.text


def _sweep(run: RunData) -> Sweep:
    """A two-point sweep built from the run's two replications (no new simulation)."""
    param = parse_param("policy.threshold=60,100")
    points = []
    for value, row in zip(param.values, run.rows, strict=True):
        result = ExperimentResult(run.scenario, [row, row])
        summaries = result.summaries
        points.append(SweepPoint({param.key: value}, f"threshold={value}", result, summaries, None))
    return Sweep(run.scenario, (param,), None, tuple(points))


class TestDrawing:
    def test_drawing_twice_gives_the_same_bytes(self, run: RunData) -> None:
        first, second = figures(run, _sweep(run)), figures(run, _sweep(run))
        assert list(first) == [*RUN_FIGURES, TRADE_OFF]
        for name in first:
            for fmt in FORMATS:
                image = render(first[name], fmt)
                assert image == render(second[name], fmt), (name, fmt)
        svg = render(first["funnel"], "svg").decode()
        assert "<dc:date>" not in svg and "Matplotlib v" not in svg
        png = render(first["funnel"], "png")
        assert b"Software" not in png and png.startswith(b"\x89PNG")

    def test_render_lays_out_as_savefig_does(self, run: RunData) -> None:
        """`render` runs the constrained layout itself and draws once: the bytes of `savefig`
        left to lay the figure out in its own first pass, in each format."""
        for fmt in FORMATS:
            for name, figure in figures(run, _sweep(run)).items():
                again = figures(run, _sweep(run))[name]
                buffer = io.BytesIO()
                with matplotlib.rc_context({**STYLE, "svg.hashsalt": f"mqlsim-{name}"}):
                    again.savefig(buffer, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
                assert again.get_layout_engine() is not None
                assert render(figure, fmt, name) == buffer.getvalue(), (name, fmt)

    def test_svgs_for_html_are_bare_svg_elements_with_takeaways(self, run: RunData) -> None:
        svgs = figure_svgs(run, _sweep(run))
        assert list(svgs) == [*RUN_FIGURES, TRADE_OFF]
        for svg in svgs.values():
            assert svg.startswith("<svg") and "viewBox" in svg
            ElementTree.fromstring(svg)
        rate = run.rows[0]["mql_to_sql_rate"], run.rows[1]["mql_to_sql_rate"]
        assert f"MQL→SQL is {sum(rate) / 2 * 100:.1f} %" in svgs["funnel"]
        assert "20–40 %" in svgs["funnel"]
        assert "Never MQL" in svgs["missed_opportunities"]
        assert "mean of 2 replications" in svgs["missed_opportunities"]
        assert "replication 0 of 2" in svgs["over_time"] and "SLA 4 h" in svgs["over_time"]
        assert "threshold 100" in svgs["policy_vs_truth"]
        for text in ("threshold=60", "threshold=100", "wasted_sales_hours", "20–40 % (healthy)"):
            assert text in svgs[TRADE_OFF]

    def test_drawn_in_worker_processes_or_here_the_same_text(
        self, run: RunData, matrix_result: ExperimentResult
    ) -> None:
        """The report draws each figure name in a pool: the same text as in this process, the
        same figure of two runs sharing its axes as :func:`share_axes` gives them."""
        runs = [run, *RunData.from_experiments([matrix_result])]
        pooled = run_figure_svgs(runs, workers=2)
        assert pooled == run_figure_svgs(runs, workers=1)
        assert [list(svgs) for svgs in pooled] == [list(RUN_FIGURES)] * 2
        drawn = [figures(each) for each in runs]
        for name in RUN_FIGURES:
            share_axes([each[name] for each in drawn])
            assert [svgs[name] for svgs in pooled] == [svg_text(each[name], name) for each in drawn]

    def test_weekly_bars_are_the_picture_bar_draws(self) -> None:
        """The weekly panels draw each stacked series as one patch (`_bars`): the same pixels
        and the same autoscaled limits as one `Axes.bar` rectangle per week."""
        rng = np.random.default_rng(18)
        edges = np.append(np.arange(30.0, 360.0, 7.0), 360.0)
        left, width = edges[:-1], np.diff(edges) * 0.85
        series = [rng.integers(0, 90, left.size).astype(float) for _ in range(3)]
        series[1][::5] = 0.0  # empty weeks draw nothing, as with bar
        drawn = []
        for one_patch in (False, True):
            figure = Figure(figsize=(8, 4), dpi=100)
            ax = figure.subplots()
            stacked = np.zeros(left.size)
            for values, colour in zip(series, ("#009E73", "#D55E00", "#56B4E9"), strict=True):
                if one_patch:
                    _bars(ax, left, width, values, stacked, colour)
                else:
                    ax.bar(left, values, width, stacked, align="edge", color=colour)
                stacked = stacked + values
            drawn.append((ax.get_xlim(), ax.get_ylim(), render(figure, "png")))
        assert drawn[0][:2] == drawn[1][:2]
        assert drawn[0][2] == drawn[1][2]

    def test_trade_off_alone(self, run: RunData) -> None:
        assert list(figure_svgs(sweep=_sweep(run))) == [TRADE_OFF]
        assert trade_off_figure(_sweep(run)).axes[0].get_xlabel() == (
            "missed_opportunities (leads)"
        )

    def test_write_figures_writes_png_and_svg_of_each(self, run: RunData, tmp_path: Path) -> None:
        written = write_figures(tmp_path / "figures", run)
        expected = sorted(f"{name}.{fmt}" for name in RUN_FIGURES for fmt in FORMATS)
        assert sorted(path.name for path in written) == expected
        assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == expected


class TestCommandLine:
    def test_run_plots_writes_the_figures_beside_results(self, tmp_path: Path) -> None:
        argv = ["run", BASELINE, *(f"--set={item}" for item in SMALL), "--workers", "1"]
        assert main([*argv, "--plots", "--out", str(tmp_path / "a")]) == 0
        names = sorted(path.name for path in (tmp_path / "a").iterdir())
        figures_written = [f"{name}.{fmt}" for name in RUN_FIGURES for fmt in FORMATS]
        assert names == sorted(["results.json", "replications.csv", *figures_written])
        assert main([*argv, "--plots", "--out", str(tmp_path / "b")]) == 0
        for name in names:
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    def test_plots_without_out_is_bad_input(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["run", BASELINE, "--plots"]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and "--plots" in captured.err
        assert "--out" in captured.err


def test_unmeasured_values_draw_without_error(tmp_path: Path) -> None:
    """No MQL at all: every ratio is nan, every weekly speed is nan; figures still draw."""
    quiet = _run(BASELINE, [*SMALL[:3], "scenario.replications=1", "policy.threshold=1e9"])
    assert quiet.rows[0]["mqls"] == 0 and math.isnan(quiet.rows[0]["mql_to_sql_rate"])
    svgs = figure_svgs(quiet)
    assert "MQL→SQL rate not measured" in svgs["funnel"]
    assert "No rep hours were spent on MQLs" in svgs["rep_hours"]
