"""Summaries, results files and the rendered metric tables (no engine needed)."""

from __future__ import annotations

import csv
import json
import math
import os

import pytest
from scipy import stats

from mqlsim.cli import terminal
from mqlsim.core.metric_catalog import METRIC_NAMES, METRICS
from mqlsim.experiments.runner import ExperimentResult
from mqlsim.experiments.summary import MetricSummary, summarize
from mqlsim.render.output import (
    REPLICATIONS_FILE,
    RESULTS_FILE,
    UNIT_FORMATS,
    format_value,
    render,
    results_document,
    write_outputs,
)
from mqlsim.scenario.models import Scenario

AWKWARD_FLOATS = (0.1 + 0.2, 1 / 3, 1e-300, 123456789.12345679, -2.5e17, math.nan)


def fake_result(replications: int = 4, name: str = "fake") -> ExperimentResult:
    """Distinct, awkward values per metric and replication; `mql_recall` unmeasured in rep 0."""
    rows = [
        {
            name: AWKWARD_FLOATS[(index + position) % len(AWKWARD_FLOATS)] * (position + 1)
            if name != "mql_recall"
            else (math.nan if index == 0 else 0.25 * index)
            for position, name in enumerate(METRIC_NAMES)
        }
        for index in range(replications)
    ]
    scenario = Scenario.model_validate({"scenario": {"name": name, "seed": 42}})
    return ExperimentResult(scenario=scenario, replications=rows)


def test_summarize_matches_hand_computed_t_interval() -> None:
    summary = summarize([1.0, 2.0, 4.0, 7.0])
    # mean 3.5; squared deviations 6.25 + 2.25 + 0.25 + 12.25 = 21, so s = sqrt(21 / 3)
    half_width = stats.t.ppf(0.975, df=3) * math.sqrt(7.0) / math.sqrt(4.0)
    assert summary.mean == pytest.approx(3.5)
    assert summary.ci_low == pytest.approx(3.5 - half_width)
    assert summary.ci_high == pytest.approx(3.5 + half_width)
    assert summary.ci_low == pytest.approx(-0.7099807422985158)
    assert summary.values == (1.0, 2.0, 4.0, 7.0)


def test_summarize_leaves_nan_out_of_mean_and_interval_but_keeps_it_in_values() -> None:
    summary = summarize([math.nan, 1.0, 3.0])
    half_width = stats.t.ppf(0.975, df=1) * math.sqrt(2.0) / math.sqrt(2.0)
    assert summary.mean == pytest.approx(2.0)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((2.0 - half_width, 2.0 + half_width))
    assert len(summary.values) == 3 and math.isnan(summary.values[0])


@pytest.mark.parametrize(
    ("values", "mean"), [([math.nan, 5.0, math.nan], 5.0), ([math.nan, math.nan], math.nan)]
)
def test_summarize_has_no_interval_below_two_measured_values(
    values: list[float], mean: float
) -> None:
    summary = summarize(values)
    assert summary.mean == pytest.approx(mean, nan_ok=True)
    assert math.isnan(summary.ci_low) and math.isnan(summary.ci_high)


def test_summarize_without_spread_has_a_zero_width_interval() -> None:
    assert summarize([5.0, 5.0, 5.0]) == MetricSummary(5.0, 5.0, 5.0, (5.0, 5.0, 5.0))


def test_result_summaries_cover_the_catalogue_in_order() -> None:
    result = fake_result()
    summaries = result.summaries
    assert tuple(summaries) == METRIC_NAMES
    assert summaries["mql_recall"].mean == pytest.approx(0.5)  # mean of 0.25, 0.5, 0.75


def test_results_document_follows_the_contract() -> None:
    result = fake_result()
    document = results_document(result)
    assert list(document) == [
        "schema_version",
        "package_version",
        "scenario",
        "seed",
        "replications",
        "metrics",
        "stationarity",
        "warnings",
    ]
    assert document["schema_version"] == 1
    assert list(document["stationarity"]) == ["mql_events", "rep_utilization"]
    assert document["warnings"] == []
    assert document["seed"] == 42 and document["replications"] == 4
    assert document["scenario"]["scenario"]["name"] == "fake"
    assert tuple(document["metrics"]) == METRIC_NAMES
    recall = document["metrics"]["mql_recall"]
    assert list(recall) == ["mean", "ci_low", "ci_high", "values"]
    assert recall["values"][0] is None
    json.dumps(document, allow_nan=False)  # valid JSON: no NaN literal anywhere


def test_write_outputs_creates_the_directory_and_both_files(tmp_path) -> None:
    result = fake_result()
    out = tmp_path / "a" / "b"
    write_outputs(out, result)
    assert sorted(path.name for path in out.iterdir()) == sorted([RESULTS_FILE, REPLICATIONS_FILE])
    document = json.loads((out / RESULTS_FILE).read_text())
    assert document["metrics"]["mql_recall"]["mean"] == pytest.approx(0.5)


def test_same_input_gives_byte_identical_files(tmp_path) -> None:
    for directory in ("first", "second"):
        result = fake_result()
        write_outputs(tmp_path / directory, result)
    for name in (RESULTS_FILE, REPLICATIONS_FILE):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_replications_csv_round_trips_every_float(tmp_path) -> None:
    result = fake_result()
    write_outputs(tmp_path, result)
    with open(tmp_path / REPLICATIONS_FILE, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["replication", *METRIC_NAMES]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "3"]
    for written, expected in zip(rows[1:], result.replications, strict=True):
        for text, name in zip(written[1:], METRIC_NAMES, strict=True):
            value = float(text)
            assert value == expected[name] or (math.isnan(value) and math.isnan(expected[name]))


def test_failure_mid_write_leaves_old_files_and_no_temporaries(tmp_path, monkeypatch) -> None:
    (tmp_path / RESULTS_FILE).write_text("old results\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    result = fake_result()
    with pytest.raises(OSError, match="No space"):
        write_outputs(tmp_path, result)
    assert [path.name for path in tmp_path.iterdir()] == [RESULTS_FILE]
    assert (tmp_path / RESULTS_FILE).read_text() == "old results\n"


def test_failure_while_replacing_puts_the_previous_files_back(tmp_path, monkeypatch) -> None:
    (tmp_path / RESULTS_FILE).write_text("old results\n")
    (tmp_path / REPLICATIONS_FILE).write_text("old replications\n")
    real_rename = os.rename
    calls = []

    def fail_on_the_second_move_in(source, target) -> None:
        if ".mqlsim-new." in str(source):
            calls.append(target)
            if len(calls) > 1:
                raise PermissionError(13, "Permission denied")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", fail_on_the_second_move_in)
    with pytest.raises(PermissionError):
        write_outputs(tmp_path, fake_result())
    assert sorted(path.name for path in tmp_path.iterdir()) == [REPLICATIONS_FILE, RESULTS_FILE]
    assert (tmp_path / RESULTS_FILE).read_text() == "old results\n"
    assert (tmp_path / REPLICATIONS_FILE).read_text() == "old replications\n"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.1234, "share", "12.3"),
        (1234567.8, "currency", "1,234,568"),
        (3.456, "hours", "3.46"),
        (123.44, "hours", "123.4"),
        (12.345, "days", "12.3"),
        (10950.26, "leads", "10,950.3"),
        (math.nan, "currency", "n/a"),
    ],
)
def test_format_value_per_unit(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_every_catalogue_unit_has_a_format() -> None:
    assert {spec.unit for spec in METRICS} <= set(UNIT_FORMATS)


def test_plain_table_is_aligned_and_shows_missing_intervals() -> None:
    result = fake_result()
    result.summaries["leads"] = summarize([7.0, math.nan, math.nan, math.nan])
    text = terminal.text(render(result, "table"), terminal=False)
    lines = text.splitlines()
    assert lines[0].startswith("fake — Mean of 4 replications")
    assert len(lines) == 2 + len(METRIC_NAMES)
    header, *rows = lines[1:]
    assert header.split()[:2] == ["metric", "mean"]
    mean_end = header.index("mean") + len("mean")
    ci_end = header.index("CI") + len("CI")
    for row, name in zip(rows, METRIC_NAMES, strict=True):
        assert row.startswith(name + " ")
        assert row[mean_end - 1] != " " and row[mean_end] == " "  # numbers right-aligned
        assert row[ci_end - 1] != " " and row[ci_end] == " "
    assert rows[0].split() == ["leads", "7.0", "n/a", "leads"]
    assert "\x1b" not in text


def test_rich_table_on_a_terminal() -> None:
    text = terminal.rich_text(render(fake_result(name="fake [x]"), "table"), width=200)
    assert "fake [x]" in text  # a title is not parsed as rich markup
    assert "─" in text and "\x1b[" in text
    assert all(name in text for name in ("leads", "cost_per_mql"))


def test_markdown_table() -> None:
    result = fake_result()
    result.summaries["rep_utilization"] = summarize([0.5, 0.7])
    lines = render(result, "markdown").splitlines()
    assert lines[0] == "### fake"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| metric | mean | 95 % CI | unit |"
    assert table[1] == "|:--|--:|--:|:--|"
    assert len(table) == 2 + len(METRIC_NAMES)
    assert all(line.count("|") == 5 for line in table)
    utilization = next(line for line in table if line.startswith("| rep_utilization "))
    low, high = stats.t.interval(0.95, df=1, loc=0.6, scale=0.1)  # s / sqrt(n) = 0.1
    assert utilization == f"| rep_utilization | 60.0 | {low * 100:.1f} – {high * 100:.1f} | % |"


def test_json_render_is_the_results_document() -> None:
    result = fake_result()
    document = json.loads(render(result, "json"))
    # Issue 17, point 7: `run --format json` carries what results.json carries.
    assert document == results_document(result)
    assert document["schema_version"] == 1
    assert document["seed"] == result.scenario.scenario.seed
    assert document["scenario"]["scenario"]["name"] == result.scenario.scenario.name
    assert tuple(document["metrics"]) == METRIC_NAMES


def test_render_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="csv"):
        render(fake_result(), "csv")
