"""The command line: exit codes, clean errors, outputs (with a fake loader and engine)."""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mqlsim import api
from mqlsim.cli import COMMANDS, build_parser, main
from mqlsim.cli import validate as validate_command
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.experiments.runner import ExperimentResult
from mqlsim.scenario.models import Scenario


class FakeLoader:
    """Stands in for `mqlsim.scenario.loading`: files named `bad*` are invalid, the rest load."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def load_scenario(self, path: str, overrides: Sequence[object], plugins: str) -> Scenario:
        self.calls.append((path, list(overrides)))
        if path.startswith("bad"):
            raise InputError(f"{path}: file not found")
        return Scenario.model_validate({"scenario": {"name": "fake", "replications": 3}})


class FakeEngine:
    """Stands in for `run_experiment`: reports progress and returns one row per replication."""

    def __init__(self) -> None:
        self.progress: Callable[[int, int], None] | None = None

    def __call__(
        self,
        scenario: Scenario,
        progress: Callable[[int, int], None] | None = None,
        **execution: object,
    ) -> ExperimentResult:
        self.progress = progress
        total = scenario.scenario.replications
        rows = []
        for index in range(total):
            rows.append({name: 0.1 * (index + 1) * (i + 1) for i, name in enumerate(METRIC_NAMES)})
            if progress is not None:
                progress(index + 1, total)
        return ExperimentResult(scenario=scenario, replications=rows)


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> FakeLoader:
    fake = FakeLoader()
    monkeypatch.setattr(api, "load_scenario", fake.load_scenario)
    # `validate` reads files through the scenario layer itself, not the API module.
    monkeypatch.setattr(validate_command, "load_scenario", fake.load_scenario)
    return fake


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(api, "run_experiment", fake)
    return fake


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in an empty directory so stray writes are visible."""
    monkeypatch.chdir(tmp_path)


def test_missing_file_is_one_clean_error_line(loader, engine, tmp_path, capsys) -> None:
    assert main(["run", "bad.toml", "--out", "results"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "mqlsim: error: bad.toml: file not found\n"
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the --out directory


def test_json_format_parses_and_has_every_metric(loader, engine, capsys) -> None:
    assert main(["run", "good.toml", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    # What results.json carries (issue 17, point 7): the version of its layout and the seed.
    assert document["schema_version"] == 1 and isinstance(document["seed"], int)
    assert document["scenario"]["scenario"]["name"] == "fake"
    assert tuple(document["metrics"]) == METRIC_NAMES
    assert document["metrics"]["leads"]["mean"] == pytest.approx(0.2)


def test_default_output_is_a_plain_table_and_nothing_is_written(
    loader, engine, tmp_path, capsys
) -> None:
    assert main(["run", "good.toml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fake — Mean of 3 replications")
    assert all(name in out for name in METRIC_NAMES)
    assert "\x1b" not in out
    assert list(tmp_path.iterdir()) == []


def test_out_writes_both_files(loader, engine, tmp_path) -> None:
    assert main(["run", "good.toml", "--out", "runs/first"]) == 0
    out = tmp_path / "runs" / "first"
    document = json.loads((out / "results.json").read_text())
    assert document["replications"] == 3 and tuple(document["metrics"]) == METRIC_NAMES
    with open(out / "replications.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["replication", *METRIC_NAMES] and len(rows) == 4


def test_unwritable_out_fails_cleanly_before_the_run(loader, engine, tmp_path, capsys) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    assert main(["run", "good.toml", "--out", "taken"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "mqlsim: error: --out taken: is a file, expected a folder\n"
    assert captured.out == ""


def test_replications_and_seed_become_named_overrides_after_the_sets(loader, engine) -> None:
    argv = ["run", "good.toml", "--set", "policy.threshold=80", "--seed", "7"]
    argv += ["--replications", "3", "--set", "sales.reps=4"]
    assert main(argv) == 0
    assert loader.calls == [
        (
            "good.toml",
            [
                "policy.threshold=80",
                "sales.reps=4",
                ("scenario.replications", 3, "replications"),
                ("scenario.seed", 7, "seed"),
            ],
        )
    ]


@pytest.mark.parametrize("option", [["--seed", "abc"], ["--replications", "1.5"]])
def test_non_integer_seed_or_replications_is_a_usage_error(
    loader, engine, capsys, option: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "good.toml", *option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option[0]}: invalid int value" in err and "Traceback" not in err
    assert loader.calls == []


def test_progress_only_when_stderr_is_a_terminal(loader, engine, monkeypatch) -> None:
    assert main(["run", "good.toml"]) == 0
    assert engine.progress is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", "good.toml"]) == 0
    assert callable(engine.progress)


def test_validate_all_valid(loader, capsys) -> None:
    assert main(["validate", "a.toml", "b.toml"]) == 0
    assert capsys.readouterr().out == "OK a.toml\nOK b.toml\n"


def test_validate_reports_each_invalid_file_and_exits_2(loader, capsys) -> None:
    assert main(["validate", "a.toml", "bad1.toml", "b.toml", "bad2.toml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "OK a.toml\nOK b.toml\n"
    assert captured.err == (
        "mqlsim: error: bad1.toml: file not found\nmqlsim: error: bad2.toml: file not found\n"
    )


def test_python_dash_m_mqlsim_is_the_same_command_line() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mqlsim", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    assert all(option in completed.stdout for option in ("--set", "--replications", "--seed"))


#: Commands that draw nothing must not pay for loading matplotlib or scipy.stats (about 1.3 s
#: together, at every start).
_HEAVY_MODULES = ("matplotlib", "scipy.stats")


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "scenarios/baseline.toml"],
        [
            "run",
            "scenarios/baseline.toml",
            "--replications",
            "2",
            "--workers",
            "1",
            "--no-cache",
            "--set",
            "population.leads_per_day=2",
            "--set",
            "scenario.horizon_days=120",
        ],
    ],
    ids=["validate", "run"],
)
def test_commands_that_draw_nothing_load_neither_matplotlib_nor_scipy_stats(
    argv: list[str],
) -> None:
    project = Path(__file__).resolve().parents[1]
    check = (
        "import sys\n"
        "from mqlsim.cli import main\n"
        f"assert main({argv!r}) == 0\n"
        f"print(sorted(m for m in {_HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", check], cwd=project, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "[]"


#: What `mqlsim --help` and `mqlsim validate` must not load: the simulator and the API module
#: (scipy, SimPy, the experiments), rich (plain output), and numpy with the policy families'
#: code (checking a file reads their settings only: policies/sections.py).
_NOT_AT_START = (
    "mqlsim.api",
    "mqlsim.model.engine",
    "mqlsim.experiments.runner",
    "scipy",
    "simpy",
    "rich",
    "numpy",
    "mqlsim.core.events",
    "mqlsim.policies.base",
    "mqlsim.policies.score",
    "mqlsim.policies.nurture",
)


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["--help"], 0),
        (["validate", "scenarios/baseline.toml"], 0),
        (["validate", "scenarios/policy_predictive.toml", "scenarios/policy_gate.toml"], 0),
        (["validate", "scenarios/baseline.toml", "--set", "policy.threshold=high"], 2),
    ],
)
def test_help_and_validate_load_only_what_they_use(argv: list[str], exit_code: int) -> None:
    """Start-up is most of what these two cost (docs/performance.md, start-up)."""
    project = Path(__file__).resolve().parents[1]
    check = (
        "import sys\n"
        "from mqlsim.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"print(code, sorted(m for m in {_NOT_AT_START!r} if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", check], cwd=project, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == f"{exit_code} []"


def test_every_command_builds_with_its_listed_help() -> None:
    """All commands built at once (as `main` builds one): each module adds its own subparser,
    with the line `mqlsim --help` lists for it."""
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert list(commands.choices) == list(COMMANDS)
    listed = {action.dest: action.help for action in commands._choices_actions}
    assert listed == {name: entry.help for name, entry in COMMANDS.items()}
    assert all(parser.get_default("handler") is not None for parser in commands.choices.values())


def test_version_is_the_package_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"mqlsim {importlib.metadata.version('mqlsim')}\n"


class TestWithTheRealLoader:
    """Bad input through `mqlsim.scenario.loading` itself: exit 2, prefixed lines, no traceback."""

    @pytest.fixture(autouse=True)
    def _loader_available(self) -> None:
        pytest.importorskip("mqlsim.scenario.loading")

    def assert_clean_error(self, argv: list[str], capsys) -> None:
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err and all(
            line.startswith("mqlsim: error: ") for line in captured.err.splitlines()
        )
        assert "Traceback" not in captured.err

    def test_missing_file(self, capsys) -> None:
        self.assert_clean_error(["validate", "no-such-scenario.toml"], capsys)

    def test_unknown_key(self, tmp_path, capsys) -> None:
        (tmp_path / "typo.toml").write_text("[sales]\nrepz = 3\n")
        self.assert_clean_error(["validate", "typo.toml"], capsys)

    @pytest.mark.parametrize("option", [["--replications", "0"], ["--seed", "-1"]])
    def test_out_of_range_run_options(self, tmp_path, capsys, engine, option: list[str]) -> None:
        (tmp_path / "ok.toml").write_text("[scenario]\nname = 'ok'\n")
        self.assert_clean_error(["run", "ok.toml", *option, "--out", "out"], capsys)
        assert not (tmp_path / "out").exists()
