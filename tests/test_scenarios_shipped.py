"""Every shipped scenario validates and runs; bad input fails cleanly through the real CLI."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from mqlsim import api
from mqlsim.cli import main
from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.experiments.runner import ExperimentResult, run_experiments
from mqlsim.model.engine import stage_key

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))
SHORT = ["--set", "scenario.horizon_days=120", "--set", "scenario.warmup_days=30"]


def test_scenarios_are_shipped() -> None:
    names = {path.name for path in SHIPPED}
    assert {"baseline.toml", "loose.toml", "strict.toml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_validates(path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"OK {path}"
    assert captured.err == ""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_runs(path: Path, capsys: pytest.CaptureFixture) -> None:
    """One short replication end to end through the command line, printed as JSON."""
    code = main(["run", str(path), "--replications", "1", *SHORT, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    document = json.loads(captured.out)
    text = json.dumps(document)
    assert all(name in text for name in METRIC_NAMES)


#: A policy that learns from the run changes its MQLs at every refit: not a steady state.
LEARNING = {"policy_predictive.toml"}
STEADY = [path for path in SHIPPED if path.name not in LEARNING]


@cache
def steady_runs(key: str) -> dict[str, ExperimentResult]:
    """Each shipped file of :data:`STEADY` whose stage key is ``key``, at its own horizon and
    replications, run together on every core so that files that differ only in their policy,
    sales or costs (the baseline's policy variants and fast lane; plg and plg_score_first)
    simulate each replication's shared stage once; the results are those of each file run on
    its own, bit for bit (tests/test_experiment.py, ``TestSharedStage``)."""
    scenarios = {path.name: api.load(path) for path in STEADY}
    sharing = {name: scenario for name, scenario in scenarios.items() if stage_key(scenario) == key}
    results = run_experiments(list(sharing.values()))
    return dict(zip(sharing, results, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("path", STEADY, ids=lambda p: p.name)
def test_shipped_scenario_is_a_steady_state(path: Path) -> None:
    """At its own horizon and replications, no shipped scenario drifts (docs/metrics.md,
    "Stationarity check"): the run prints no warning."""
    result = steady_runs(stage_key(api.load(path)))[path.name]
    assert result.warnings == [], result.warnings
    for check in result.stationarity_checks.values():
        assert not check.drifts


@pytest.mark.slow
def test_a_learning_policy_is_not_a_steady_state_and_says_so() -> None:
    """The predictive example qualifies leads by the bootstrap score until its first fit, then
    by models refitted every 60 days on a growing history, each with its own MQL volume: the
    check reports the drift (docs/metrics.md, "Stationarity check")."""
    (path,) = [p for p in SHIPPED if p.name in LEARNING]
    # Its first two refits and two replications show it; the full run takes minutes.
    result = api.run(
        path, replications=2, overrides={"scenario.horizon_days": 240}, workers=1, cache=False
    )
    assert result.stationarity_checks["mql_events"].drifts
    assert any("weekly MQL events drift" in line for line in result.warnings)


# --- bad input, end to end --------------------------------------------------------------------

BAD_FILES = {
    "unknown_key": ("[sales]\nreps = 3\nrepz = 4\n", ["sales.repz"]),
    "wrong_type": ('[sales]\nreps = "three"\n', ["sales.reps"]),
    "negative_rate": ("[population]\nleads_per_day = -1.0\n", ["population.leads_per_day"]),
    "missing_extends": ('extends = "no_such_file.toml"\n', ["extends"]),
    "toml_syntax": ("[sales\nreps = 3\n", ["TOML"]),
    "two_problems": (
        '[sales]\nreps = 0\n\n[policy]\nthreshold = "high"\n',
        ["sales.reps", "policy.threshold"],
    ),
}


def assert_clean_failure(
    argv: list[str], out: Path, expected: list[str], source: str, capsys
) -> None:
    """Exit 2, one stderr line per problem naming the source and key, no traceback, no output."""
    code = main([*argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == len(expected), captured.err
    assert all(line.startswith("mqlsim: error: ") and source in line for line in lines)
    for key in expected:
        assert sum(key in line for line in lines) == 1, (key, lines)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text, keys = BAD_FILES[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    assert_clean_failure(["run", str(path)], tmp_path / "out", keys, path.name, capsys)
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, key",
    [
        ("policy.threshold", "policy.threshold"),
        ("=80", "=80"),
        ("sales.reps=[1,", "sales.reps"),
        ("sales.reps=-2", "sales.reps"),
        ("sales.repz=2", "sales.repz"),
    ],
)
def test_bad_set(override: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    baseline = str(SCENARIOS / "baseline.toml")
    argv = ["run", baseline, "--set", override]
    assert_clean_failure(argv, tmp_path / "out", [key], "--set", capsys)


def test_bad_extended_file_names_that_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A problem in a parent file is reported against the parent, not the child."""
    (tmp_path / "parent.toml").write_text("[sales]\nreps = -1\n")
    child = tmp_path / "child.toml"
    child.write_text('extends = "parent.toml"\n[policy]\nthreshold = 90.0\n')
    assert_clean_failure(
        ["run", str(child)], tmp_path / "out", ["sales.reps"], "parent.toml", capsys
    )


def test_existing_out_dir_left_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[sales]\nrepz = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["run", str(path), "--out", str(out)]) == 2
    capsys.readouterr()
    assert list(out.iterdir()) == []
