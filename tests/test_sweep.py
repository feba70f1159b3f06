"""`mqlsim sweep`: grids, common random numbers, bands, objectives, outputs and bad input."""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from mqlsim.cli import main
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.experiments.runner import ExperimentResult
from mqlsim.experiments.summary import MetricSummary, summarize
from mqlsim.experiments.sweep import Sweep, SweepPoint, parse_objective, parse_param
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
SMALL = [
    "--set=population.leads_per_day=5",
    "--set=scenario.horizon_days=120",
    "--set=scenario.warmup_days=30",
    "--replications=3",
]
OBJECTIVE = "revenue_won - 120 * sales_hours"


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQLSIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    """One real sweep over two thresholds, and `run` of the baseline at threshold 100."""
    out = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MQLSIM_CACHE_DIR", str(out / "cache"))
        capture = out / "stdout.txt"
        with open(capture, "w") as stdout:
            patch.setattr("sys.stdout", stdout)
            argv = ["sweep", BASELINE, *SMALL, "--param", "policy.threshold=100,60"]
            argv += ["--objective", OBJECTIVE, "--out", str(out / "sweep"), "--workers", "1"]
            assert main(argv) == 0
            assert main(["run", BASELINE, *SMALL, "--no-cache", "--out", str(out / "run")]) == 0
    document = json.loads((out / "sweep" / "sweep.json").read_text())
    return out, capture.read_text(), document


class TestParam:
    @pytest.mark.parametrize(
        ("text", "values"),
        [
            ("policy.threshold=80:120:10", (80, 90, 100, 110, 120)),
            ("policy.threshold=80:125:10", (80, 90, 100, 110, 120)),  # STOP not on the grid
            ("policy.threshold=120:80:-20", (120, 100, 80)),
            ("x=0:1:0.1", tuple(i / 10 for i in range(11))),  # no 0.30000000000000004
            ("x=0.1:0.3:0.1", (0.1, 0.2, 0.3)),  # STOP within rounding of the grid
            ("x=0:1:0.3", (0.0, 0.3, 0.6, 0.9)),
            ("x=-0.5:0.5:0.25", (-0.5, -0.25, 0.0, 0.25, 0.5)),
            ("x=1e-3:3e-3:1e-3", (0.001, 0.002, 0.003)),
            ("x=5:5:1", (5,)),
            ("sales.reps=2,3, 5", (2, 3, 5)),
            ("policy.threshold=80,92.5", (80, 92.5)),
            ("nurture.kind=drip,none", ("drip", "none")),
            ("sales.always_working=true,false", (True, False)),
        ],
    )
    def test_grids(self, text: str, values: tuple) -> None:
        param = parse_param(text)
        assert param.key == text.partition("=")[0]
        assert param.values == values
        assert [type(value) for value in param.values] == [type(value) for value in values]

    def test_float_literals_are_the_values(self) -> None:
        assert parse_param("x=0:0.3:0.1").literals == ("0.0", "0.1", "0.2", "0.3")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("policy.threshold", "expected KEY=START:STOP:STEP or KEY=V1,V2,..."),
            ("=1:2:1", "expected KEY=START:STOP:STEP"),
            ("x=", "expected KEY=START:STOP:STEP"),
            ("x=1:2", "expected KEY=START:STOP:STEP"),
            ("x=1:2:3:4", "expected KEY=START:STOP:STEP"),
            ("x=a:2:1", "must be numbers"),
            ("x=0:1:nan", "must be numbers"),
            ("x=0:10:0", "STEP must not be 0"),
            ("x=0:10:-1", "cannot be reached"),
            ("x=0:100000:1", "more than 1000 values"),
            ("x=1,,2", "empty value"),
            ("x=[1,2", "expected KEY=VALUE"),
        ],
    )
    def test_bad_params(self, text: str, message: str) -> None:
        with pytest.raises(InputError) as error:
            parse_param(text)
        assert len(error.value.lines) == 1 and message in error.value.lines[0]


class TestObjective:
    def test_evaluates_per_replication(self) -> None:
        rows = [dict.fromkeys(METRIC_NAMES, 1.0) for _ in range(2)]
        rows[0].update(revenue_won=1000.0, sales_hours=2.0)
        rows[1].update(revenue_won=500.0, sales_hours=1.0)
        assert parse_objective(OBJECTIVE).evaluate(rows) == [760.0, 380.0]
        objective = parse_objective("-(revenue_won + 1) / (sales_hours - 1) * 2 + +3")
        assert objective.evaluate(rows) == [-(1001.0) / 1.0 * 2 + 3, -math.inf]
        assert parse_objective("7").evaluate(rows) == [7.0, 7.0]

    def test_nan_metrics_give_nan(self) -> None:
        row = dict.fromkeys(METRIC_NAMES, math.nan)
        assert math.isnan(parse_objective("mql_to_sql_rate * 2").evaluate([row])[0])

    def test_unknown_name_suggests_a_metric(self) -> None:
        with pytest.raises(InputError, match=r"unknown metric 'revenue_wn' .*'revenue_won'"):
            parse_objective("revenue_wn - sales_hours")

    @pytest.mark.parametrize(
        "text",
        [
            "__import__('os').system('true')",
            "revenue_won ** 2",
            "revenue_won // 2",
            "revenue_won % 2",
            "abs(revenue_won)",
            "revenue_won.real",
            "revenue_won[0]",
            "revenue_won if leads else 0",
            "revenue_won > 0",
            "True",
            "'text'",
            "1j",
            "lambda: 1",
            "not leads",
            "",
            "revenue_won -",
            "(" * 5000 + "1" + ")" * 5000,
        ],
    )
    def test_anything_but_arithmetic_is_refused(self, text: str) -> None:
        with pytest.raises(InputError) as error:
            parse_objective(text)
        assert error.value.lines[0].startswith("--objective ")


def fake_point(rate: float, objective: float | None = None) -> SweepPoint:
    summaries = {name: summarize([1.0, 2.0]) for name in METRIC_NAMES}
    summaries["mql_to_sql_rate"] = MetricSummary(rate, rate, rate, (rate,))
    result = ExperimentResult(scenario=Scenario(), replications=[])
    score = None if objective is None else MetricSummary(objective, 0, 0, ())
    return SweepPoint({"x": rate}, f"x={rate}", result, summaries, score)


class TestMarks:
    @pytest.mark.parametrize(
        ("rate", "band"),
        [(0.19, "low"), (0.2, "healthy"), (0.3, "healthy"), (0.4, "healthy"), (0.41, "high")],
    )
    def test_healthy_band_is_20_to_40_percent(self, rate: float, band: str) -> None:
        assert fake_point(rate).band == band

    def test_unmeasured_rate_has_no_band(self) -> None:
        assert fake_point(math.nan).band == "n/a"

    def test_best_is_the_highest_objective_first_on_ties(self) -> None:
        points = [
            fake_point(0.1, 5),
            fake_point(0.2, math.nan),
            fake_point(0.3, 9),
            fake_point(0.4, 9),
        ]
        objective = parse_objective("leads")
        assert Sweep(Scenario(), (), objective, tuple(points)).best == 2
        assert Sweep(Scenario(), (), objective, (fake_point(0.1, math.nan),)).best is None
        assert Sweep(Scenario(), (), None, (fake_point(0.1),)).best is None


class TestSweepCommand:
    def test_common_random_numbers_a_point_equals_run_bit_for_bit(self, swept) -> None:
        out, _, document = swept
        run = json.loads((out / "run" / "results.json").read_text())
        point = next(p for p in document["points"] if p["settings"] == {"policy.threshold": 100})
        assert point["metrics"] == run["metrics"]
        assert document["seed"] == run["seed"] and document["replications"] == 3

    def test_points_follow_the_grid_and_differ(self, swept) -> None:
        _, _, document = swept
        assert [p["settings"] for p in document["points"]] == [
            {"policy.threshold": 100},
            {"policy.threshold": 60},
        ]
        assert [p["label"] for p in document["points"]] == ["threshold=100", "threshold=60"]
        mqls = [p["metrics"]["mqls"]["mean"] for p in document["points"]]
        assert mqls[1] > mqls[0]  # a lower threshold qualifies more leads

    def test_json_marks_bands_and_the_best_point(self, swept) -> None:
        _, _, document = swept
        assert document["params"] == [{"key": "policy.threshold", "values": [100, 60]}]
        assert document["healthy_band"] == {"metric": "mql_to_sql_rate", "low": 0.2, "high": 0.4}
        objectives = [p["objective"]["mean"] for p in document["points"]]
        assert document["objective"] == {
            "expression": OBJECTIVE,
            "best": objectives.index(max(objectives)),
        }
        for point in document["points"]:
            rate = point["metrics"]["mql_to_sql_rate"]["mean"]
            healthy = 0.2 <= rate <= 0.4
            assert (point["mql_to_sql_band"] == "healthy") == healthy
            revenue = point["metrics"]["revenue_won"]["values"]
            hours = point["metrics"]["sales_hours"]["values"]
            expected = [r - 120 * h for r, h in zip(revenue, hours, strict=True)]
            assert point["objective"]["values"] == expected
            assert tuple(point["metrics"]) == METRIC_NAMES

    def test_csv_has_one_row_per_point(self, swept) -> None:
        out, _, document = swept
        with open(out / "sweep" / "sweep.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["policy.threshold"] for row in rows] == ["100", "60"]
        for row, point in zip(rows, document["points"], strict=True):
            assert row["mql_to_sql_band"] == point["mql_to_sql_band"]
            wasted = point["metrics"]["wasted_sales_hours"]
            assert float(row["wasted_sales_hours"]) == wasted["mean"]
            assert float(row["wasted_sales_hours_ci_low"]) == wasted["ci_low"]
        best = document["objective"]["best"]
        assert [row["best"] for row in rows] == [str(i == best) for i in range(2)]

    def test_table_shows_params_intervals_band_and_best(self, swept) -> None:
        _, stdout, document = swept
        sweep_text = stdout.split("baseline — Mean")[0]
        lines = sweep_text.splitlines()
        assert lines[0] == "baseline: sweep of policy.threshold"
        assert f"Best by objective {OBJECTIVE!r}" in sweep_text
        header = lines[3]
        for column in ("policy.threshold", "mql_to_sql_rate %", "wasted_sales_hours"):
            assert column in header
        assert "MQL→SQL band" in header and "objective" in header
        rows = lines[4:6]
        assert rows[0].lstrip().startswith("100") and rows[1].lstrip().startswith("60")
        assert all(row.count("±") >= 7 for row in rows)
        best = document["objective"]["best"]
        assert rows[best].endswith("best") and not rows[1 - best].endswith("best")
        for row, point in zip(rows, document["points"], strict=True):
            assert point["mql_to_sql_band"] in row

    def test_plots_are_written(self, swept) -> None:
        out, _, _ = swept
        png = (out / "sweep" / "sweep.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
        svg = (out / "sweep" / "sweep.svg").read_text()
        ElementTree.fromstring(svg)
        for text in (
            "threshold=100",
            "threshold=60",
            "missed_opportunities",
            "wasted_sales_hours",
            "lost_pipeline_value",
            "sales_hours",
            "20–40 % (healthy)",
            "best",
        ):
            assert text in svg
        assert sorted(p.name for p in (out / "sweep").iterdir()) == [
            "sweep.csv",
            "sweep.json",
            "sweep.png",
            "sweep.svg",
        ]

    def test_two_params_and_reused_cache_give_identical_files(self, tmp_path: Path) -> None:
        argv = ["sweep", BASELINE, *SMALL, "--param", "policy.threshold=60,100"]
        argv += ["--param", "sales.reps=2:3:1", "--out", str(tmp_path / "a"), "--workers", "2"]
        assert main(argv) == 0
        document = json.loads((tmp_path / "a" / "sweep.json").read_text())
        assert [p["label"] for p in document["points"]] == [
            "threshold=60, reps=2",
            "threshold=60, reps=3",
            "threshold=100, reps=2",
            "threshold=100, reps=3",
        ]
        assert document["objective"] is None
        argv[-3] = str(tmp_path / "b")
        assert main(argv) == 0
        for name in ("sweep.csv", "sweep.json", "sweep.png", "sweep.svg"):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            (["--param", "policy.threshhold=80:120:10"], "unknown key 'threshhold'"),
            (["--param", "sales.reps=0,1"], "--param 'sales.reps=0,1': sales.reps: expected"),
            (["--param", "sales.reps=2.5,3"], "expected an integer"),
            (["--param", "x=0:10:0"], "STEP must not be 0"),
            (["--param", "x=10:0:1"], "cannot be reached"),
            (["--param", "x=1:2"], "expected KEY=START:STOP:STEP"),
            (["--param", "scenario=a,b"], "sweep scenario files by naming them"),
            (["--param", "sales.reps=1,2", "--param", "sales.reps=3"], "swept once"),
            (
                ["--param", "sales.reps=1:500:1", "--param", "policy.threshold=1:10:1"],
                "more than 1000 points",
            ),
            (["--param", "sales.reps=2", "--objective", "revenu_won"], "unknown metric"),
            (["--param", "sales.reps=2", "--objective", "open('f')"], "is not allowed"),
            (["--param", "sales.reps=2", "--workers", "0"], "--workers 0"),
        ],
    )
    def test_bad_input_exits_2_with_one_line(
        self, tmp_path: Path, capsys, options: list[str], message: str
    ) -> None:
        out = tmp_path / "out"
        assert main(["sweep", BASELINE, *SMALL, *options, "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.splitlines()) == 1
        assert captured.err.startswith("mqlsim: error: ") and message in captured.err
        assert not out.exists()

    def test_param_is_required_with_one_scenario(self, capsys) -> None:
        assert main(["sweep", BASELINE]) == 2
        assert capsys.readouterr().err == (
            "mqlsim: error: --param: give at least one key to sweep, or several scenario files\n"
        )

    # Issue 17, point 5: any key (kinds included), more than two keys, scenario files, formats,
    # progress until the end, and where the files went.

    def test_kinds_and_three_keys_sweep_in_one_grid(self, tmp_path: Path, capsys) -> None:
        argv = ["sweep", BASELINE, *SMALL, "--param", "policy.kind=score,trigger"]
        argv += ["--param", "nurture.kind=drip,none", "--param", "sales.reps=2,3"]
        argv += ["--out", str(tmp_path / "out"), "--workers", "1", "--format", "json"]
        assert main(argv) == 0
        captured = capsys.readouterr()
        document = json.loads(captured.out)
        assert document == json.loads((tmp_path / "out" / "sweep.json").read_text())
        assert len(document["points"]) == 8
        assert document["points"][5]["settings"] == {
            "policy.kind": "trigger",
            "nurture.kind": "drip",
            "sales.reps": 3,
        }
        touches = {
            p["settings"]["nurture.kind"]: p["metrics"]["unsubscribe_rate"]["mean"]
            for p in document["points"]
        }
        assert touches["none"] == 0 < touches["drip"]  # no nurture, no unsubscribes
        mqls = [p["metrics"]["mqls"]["mean"] for p in document["points"]]
        assert mqls[0] != mqls[4]  # score and trigger qualify differently
        # At 5 leads a day the trigger points make ~10 MQLs each: their stationarity check may
        # warn (one line each, before the files are written); nothing else goes to stderr.
        *warnings, wrote = captured.err.splitlines()
        assert wrote == f"Wrote sweep.csv, sweep.json, sweep.png, sweep.svg in {tmp_path / 'out'}/"
        assert all(line.startswith("mqlsim: warning: ") for line in warnings), warnings

    def test_scenario_files_are_an_axis_on_the_first_ones_seed(
        self, tmp_path: Path, capsys
    ) -> None:
        trigger = str(ROOT / "scenarios" / "policy_trigger.toml")
        argv = ["sweep", BASELINE, trigger, *SMALL, "--param", "sales.reps=2,3", "--seed", "5"]
        argv += ["--out", str(tmp_path / "out"), "--workers", "1", "--format", "markdown"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("### baseline: sweep of scenario, sales.reps\n")
        rows = [line for line in out.splitlines() if line.startswith(f"| {ROOT}")]
        assert [row.split(" | ")[:2] for row in rows] == [
            [f"| {BASELINE}", "2"],
            [f"| {BASELINE}", "3"],
            [f"| {trigger}", "2"],
            [f"| {trigger}", "3"],
        ]
        document = json.loads((tmp_path / "out" / "sweep.json").read_text())
        assert document["params"][0] == {"key": "scenario", "values": [BASELINE, trigger]}
        from mqlsim.scenario.loading import load_scenario

        alone = load_scenario(trigger, ["sales.reps=2", "scenario.seed=5"])
        assert alone.policy.kind == "trigger"
        leads = {p["metrics"]["leads"]["mean"] for p in document["points"]}
        assert len(leads) == 1  # one seed: the same leads at every point

    def test_drawing_shows_progress(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from contextlib import contextmanager

        import mqlsim.cli.sweep as command

        shown: list[str] = []

        @contextmanager
        def status(message: str):
            shown.append(message)
            yield

        monkeypatch.setattr(command, "status", status)
        out = tmp_path / "out"
        argv = ["sweep", BASELINE, *SMALL, "--param", "sales.reps=2", "--out", str(out)]
        assert main([*argv, "--workers", "1"]) == 0
        assert shown == [f"drawing the trade-off figure and writing {out}/"]
