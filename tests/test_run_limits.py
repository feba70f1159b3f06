"""Absurd sizes are refused before a run starts, with the estimate and the limit; long runs
say how long they will take (issue 16, item 7)."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import pytest

from mqlsim.cli import main
from mqlsim.core.errors import InputError, MqlsimWarning
from mqlsim.experiments import budget
from mqlsim.experiments.budget import check_budget, estimate, parse_memory
from mqlsim.model.engine import shared_stage
from mqlsim.model.footprint import footprint
from mqlsim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = str(ROOT / "scenarios" / "baseline.toml")


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The command exits 2 at once, with one line, having run nothing: that line."""
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < 20  # these used to allocate for up to 43 s
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    return line


@pytest.mark.parametrize(
    "setting",
    [
        "population.leads_per_day=1e4",
        "journeys.organic_rates_per_day.web_visit=1e3",
        "journeys.window_lift.pricing_page=1e9",
        "population.leads_per_day=1e300",
    ],
)
def test_an_absurd_size_is_refused_with_the_estimate_and_the_limit(
    setting: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", BASELINE, "--set", setting, "--max-memory", "4GB", "--workers", "2"]
    line = refused([*argv, "--out", str(tmp_path / "out")], capsys)
    assert re.fullmatch(
        r"mqlsim: error: scenario 'baseline': a replication needs (about [\d.]+ [MGT]B|more than"
        r" 1,000 TB) \(.+ leads, .+ events\), 2 at once .+; the limit is 4.0 GB \(--max-memory\):"
        r" .+, or raise the limit with --max-memory",
        line,
    ), line
    assert "inf" not in line and "nan" not in line
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "mqlsim-cache").exists()  # no replication ran


def test_the_default_limit_is_this_machines_memory(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["run", BASELINE, "--set", "population.leads_per_day=1e300"], capsys)
    assert f"the limit is {budget._size(budget.memory_limit(), exact=True)} (this machine's" in line


def test_fewer_workers_are_suggested_when_one_replication_fits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = load_scenario(BASELINE, ["population.leads_per_day=400"])
    one = budget.BYTES_PER_WORKER + estimate(scenario).bytes
    limit = int(2.5 * one)
    argv = ["run", BASELINE, "--set", "population.leads_per_day=400", "--workers", "4"]
    line = refused([*argv, "--max-memory", str(limit)], capsys)
    assert "4 at once" in line and "run fewer at once (--workers 2)" in line


def test_max_memory_raises_the_limit() -> None:
    scenario = load_scenario(BASELINE, ["population.leads_per_day=1e4"])
    pending = [(0, replication) for replication in range(5)]
    with pytest.raises(InputError, match=r"the limit is 1\.0 GB"):
        check_budget([scenario], pending, 2, max_memory=1 << 30)
    check_budget([scenario], pending, 2, max_memory=64 << 30)  # accepted


def test_a_dask_cluster_holds_one_replication_per_worker_to_the_limit() -> None:
    scenario = load_scenario(BASELINE, ["population.leads_per_day=400"])
    one = budget.BYTES_PER_WORKER + estimate(scenario).bytes
    pending = [(0, replication) for replication in range(8)]
    check_budget([scenario], pending, 8, max_memory=int(1.5 * one), local=False)
    with pytest.raises(InputError):
        check_budget([scenario], pending, 8, max_memory=int(1.5 * one))


@pytest.mark.parametrize(
    "text, expected",
    [("16GB", 16 << 30), ("512MiB", 512 << 20), ("1.5t", int(1.5 * (1 << 40))), ("4096", 4096)],
)
def test_memory_sizes(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1GB", "0", "16 PB", "nan"])
def test_bad_memory_sizes_are_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["run", BASELINE, f"--max-memory={text}"], capsys)
    assert line == f"mqlsim: error: --max-memory {text!r}: expected a size such as 16GB or 512MB"


def test_a_long_run_says_how_long_before_it_starts() -> None:
    scenario = load_scenario(BASELINE)
    pending = [(0, replication) for replication in range(10_000)]
    with pytest.warns(MqlsimWarning) as caught:
        check_budget([scenario], pending, 2)
    (warning,) = caught
    assert re.fullmatch(
        r"this run will take about (\d+ min|\d+ h \d+ min): 10,000 replications of about"
        r" [\d.]+ s each, 2 at once \(an estimate; Ctrl-C keeps the finished ones in the cache\)",
        str(warning.message),
    ), warning.message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_budget([scenario], pending[:10], 2)  # a short run says nothing


def test_the_warning_reaches_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(budget, "LONG_RUN_SECONDS", 0.0)
    small = ["--set", "population.leads_per_day=5", "--set", "scenario.horizon_days=60"]
    argv = ["run", BASELINE, *small, "--set", "scenario.warmup_days=10", "--workers", "1"]
    assert main([*argv, "--replications", "2"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("mqlsim: warning: this run will take about ")
    assert "2 replications of about" in err


@pytest.mark.parametrize(
    "scenario, settings",
    [
        ("baseline.toml", []),
        ("baseline.toml", ["journeys.window_lift.web_visit=200"]),
        ("baseline.toml", ["population.leads_per_day=100", "scenario.horizon_days=120"]),
        ("policy_pql.toml", []),
        ("queue_mmc.toml", []),
    ],
)
def test_the_expected_size_is_close_to_what_a_replication_draws(
    scenario: str, settings: list[str]
) -> None:
    loaded = load_scenario(ROOT / "scenarios" / scenario, settings)
    expected = footprint(loaded)
    stage = shared_stage(loaded, 0)
    touches = loaded.nurture.planned_touches_per_lead() * expected.leads
    assert expected.leads == pytest.approx(stage.population.size, rel=0.05)
    assert expected.events - touches == pytest.approx(stage.organic.time.size, rel=0.10)


def test_the_estimate_is_cheap_even_for_absurd_scenarios() -> None:
    scenario = load_scenario(
        BASELINE, ["population.leads_per_day=1e300", "journeys.window_lift.web_visit=1e300"]
    )
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning escapes
        size = estimate(scenario)
    assert time.monotonic() - start < 2
    assert not size.bytes < 1e300
