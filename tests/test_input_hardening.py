"""Scenario input that used to crash, hang or give wrong numbers silently (issue 16, items 3, 5
and 6): every case is one clean error line and exit code 2, or a documented meaning."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from mqlsim.cli import main
from mqlsim.core.errors import InputError
from mqlsim.scenario.loading import MAX_DEPTH, MAX_EXTENDS, MAX_FILE_BYTES, load_scenario
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SHORT = ["--set", "scenario.horizon_days=30", "--set", "scenario.warmup_days=5"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The command exits 2 with exactly one ``mqlsim: error:`` line, no traceback: the line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mqlsim: error: ")
    return lines[0]


# --- 5. nan and inf ---------------------------------------------------------------------------


def numeric_leaves(value: Any, key: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Dotted paths of every number a ``--set`` can reach (through tables, not arrays)."""
    if isinstance(value, dict):
        return [path for name, item in value.items() for path in numeric_leaves(item, (*key, name))]
    return [key] if isinstance(value, float) else []


#: Keys where ``inf`` has a documented meaning: "never" (half-lives of points and of interest,
#: refits, ageing out of the sales queue), "no limit" (windows).
INFINITE_ALLOWED = {
    "max_queue_age_hours",
    "decay_half_life_days",
    "feature_half_life_days",
    "interest_half_life_days",
    "retrain_every_days",
    "window_days",
}


@pytest.mark.parametrize(
    "scenario", ["baseline.toml", "policy_predictive.toml", "policy_any_of.toml", "policy_pql.toml"]
)
def test_every_number_refuses_nan_and_only_documented_ones_take_inf(scenario: str) -> None:
    path = SCENARIOS / scenario
    document = load_scenario(path).model_dump()
    leaves = numeric_leaves(document)
    assert len(leaves) > 60
    for leaf in leaves:
        key = ".".join(f'"{part}"' if "+" in part or "-" in part else part for part in leaf)
        for text in ("nan", "-inf", "inf", "1e400"):
            override = f"{key}={text}"
            if text in ("inf", "1e400") and leaf[-1] in INFINITE_ALLOWED:
                assert math.isinf(_get(load_scenario(path, [override]), leaf))
                continue
            with pytest.raises(InputError) as caught:
                load_scenario(path, [override])
            assert any(".".join(leaf) in line for line in caught.value.lines), (override, caught)


def _get(scenario: Scenario, path: tuple[str, ...]) -> Any:
    value: Any = scenario.model_dump()
    for part in path:
        value = value[part]
    return value


@pytest.mark.parametrize(
    "override, message",
    [
        ("policy.threshold=nan", "policy.threshold: expected a finite number, found nan"),
        ("policy.points.web_visit=nan", "policy.points.web_visit: expected a finite number"),
        ("population.icp.job_level_points.vp=inf", "job_level_points.vp: expected a finite"),
        ("costs.cost_per_touch=1e400", "costs.cost_per_touch: expected a finite number, found inf"),
        ("scenario.horizon_days=inf", "scenario.horizon_days: expected a finite number"),
        ("sales.max_queue_age_hours=nan", "sales.max_queue_age_hours: expected a value > 0"),
        ("sales.max_queue_age_hours=-inf", "sales.max_queue_age_hours: expected a value > 0"),
    ],
)
def test_non_finite_values_are_one_clear_line(
    override: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error(["run", str(SCENARIOS / "baseline.toml"), "--set", override], capsys)
    assert message in line


def test_nan_in_a_file_is_refused_not_run_as_zero_mqls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """loose.toml with ``points.web_visit = nan`` used to run and give 83 MQLs, not 1,050."""
    path = write(tmp_path, "s.toml", f'extends = "{SCENARIOS / "loose.toml"}"\n')
    path.write_text(path.read_text() + "[policy.points]\nweb_visit = nan\n")
    line = one_error(["run", str(path), *SHORT], capsys)
    assert line.endswith("policy.points.web_visit: expected a finite number, found nan (line 3)")


def test_predictive_weights_and_penalty_refuse_nan(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.toml",
        """
        [policy]
        kind = "predictive"
        l2_penalty = nan
        weights = { intercept = inf }
        """,
    )
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    text = "\n".join(caught.value.lines)
    assert "policy.l2_penalty: expected a finite number, found nan" in text
    assert "expected a finite number, found inf" in text


def test_the_never_of_a_half_life_is_documented_and_kept() -> None:
    scenario = load_scenario(
        SCENARIOS / "baseline.toml",
        ["sales.max_queue_age_hours=inf", "policy.decay_half_life_days=inf"],
    )
    assert scenario.sales.max_queue_age_hours == math.inf
    assert scenario.policy.decay_half_life_days == math.inf
    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert "`sales.max_queue_age_hours` | number > 0, or inf |" in page


def test_hexadecimal_numbers_are_toml_numbers_and_documented() -> None:
    """TOML reads ``0x10`` as 16; mqlsim keeps TOML's meaning and says so."""
    scenario = load_scenario(SCENARIOS / "baseline.toml", ["sales.reps=0x10"])
    assert scenario.sales.reps == 16
    page = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert "`0x10` is 16" in page


# --- 6. non-string kinds, deep nesting, infinite horizons ------------------------------------


@pytest.mark.parametrize("kind", ['["score"]', "{}", "3", "true"])
@pytest.mark.parametrize("section", ["policy", "nurture"])
def test_a_kind_that_is_not_a_string_is_one_line(
    kind: str, section: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "s.toml", f"[{section}]\nkind = {kind}\n")
    line = one_error(["validate", str(path)], capsys)
    assert f"{section}.kind: expected a string, one of " in line


def test_a_kind_that_is_not_a_string_from_set(capsys: pytest.CaptureFixture[str]) -> None:
    baseline = str(SCENARIOS / "baseline.toml")
    line = one_error(["run", baseline, "--set", "policy.kind=[]"], capsys)
    assert "policy.kind: expected a string" in line
    policy = 'policy={ kind = "any_of", rules = [{ kind = [] }] }'
    line = one_error(["run", baseline, "--set", policy], capsys)
    assert "policy.rules.0.kind: expected a string" in line


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 600 + "]" * 600,  # arrays ~500 deep overflowed tomllib's recursion
        "a = " + "{b = " * 400 + "1" + "}" * 400,
        "a" + ".a" * 990 + " = 1",  # parsed, then overflowed the loader's own recursion
        "a = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
    ids=["arrays", "inline-tables", "dotted-keys", "just-too-deep"],
)
def test_deep_nesting_is_one_line(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "deep.toml", text + "\n")
    line = one_error(["validate", str(path)], capsys)
    assert line == f"mqlsim: error: {path}: tables and arrays nested more than 32 levels deep"


def test_deep_nesting_from_set_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    baseline = str(SCENARIOS / "baseline.toml")
    for value in ("{a=" * 400 + "1" + "}" * 400, "[" * 40 + "]" * 40):
        line = one_error(["run", baseline, "--set", f"policy.points={value}"], capsys)
        assert "nested more than 32 levels deep" in line
    line = one_error(["run", baseline, "--set", "a" + ".a" * 990 + "=1"], capsys)
    assert "nested more than 32 levels deep" in line


def test_nesting_within_the_limit_is_judged_by_the_model(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[policy]\nkind = " + "[" * 20 + '"x"' + "]" * 20 + "\n")
    with pytest.raises(InputError, match=r"policy\.kind: expected a string"):
        load_scenario(path)


def test_a_long_extends_chain_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(1000):
        text = f'extends = "c{index + 1}.toml"\n' if index < 999 else ""
        (tmp_path / f"c{index}.toml").write_text(text)
    line = one_error(["validate", str(tmp_path / "c0.toml")], capsys)
    assert f"more than {MAX_EXTENDS} files extend each other in one chain" in line
    chain_end = tmp_path / f"c{1000 - MAX_EXTENDS}.toml"  # exactly MAX_EXTENDS files: fine
    assert main(["validate", str(chain_end)]) == 0


def test_an_infinite_horizon_fails_validate_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to pass ``validate`` and die in ``run`` with an OverflowError."""
    path = write(tmp_path, "s.toml", "[scenario]\nhorizon_days = inf\n")
    for command in ("validate", "run"):
        line = one_error([command, str(path)], capsys)
        assert "scenario.horizon_days: expected a finite number, found inf (line 2)" in line


# --- 3. what extends may read -----------------------------------------------------------------


def test_extends_refuses_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``/dev/zero`` used to be read until a MemoryError."""
    path = write(tmp_path, "s.toml", 'extends = "/dev/zero"\n')
    line = one_error(["validate", str(path)], capsys)
    expected = "extends: expected a scenario file named *.toml, found '/dev/zero' (line 1)"
    assert line.endswith(expected)


def test_extends_refuses_a_file_that_is_not_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``../../etc/shadow`` used to be read and its first line leaked into the error."""
    secret = tmp_path / "secret"
    secret.write_text("password = 'hunter2 and more text the error used to show'\n")
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    path = write(folder, "s.toml", 'extends = "../../secret"\n')
    line = one_error(["validate", str(path)], capsys)
    expected = "extends: expected a scenario file named *.toml, found '../../secret' (line 1)"
    assert line.endswith(expected)
    assert "hunter2" not in line and "password" not in line


def test_extends_refuses_a_link_to_a_device_named_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    path = write(tmp_path, "s.toml", 'extends = "zero.toml"\n')
    line = one_error(["validate", str(path)], capsys)
    assert line.endswith(": expected a scenario file named *.toml, found 'zero.toml' (line 1)")


def test_extends_refuses_a_pipe_without_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO used to hang the loader forever (no writer ever comes)."""
    os.mkfifo(tmp_path / "pipe.toml")
    path = write(tmp_path, "s.toml", 'extends = "pipe.toml"\n')
    finished: list[int] = []
    worker = threading.Thread(target=lambda: finished.append(main(["validate", str(path)])))
    worker.start()
    worker.join(timeout=20)
    assert finished == [2], "validate hung on a pipe"
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("pipe.toml: not a regular file; extends names scenario files only")
    )


def test_extends_refuses_a_large_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:  # sparse: no disk used
        handle.truncate(4 << 30)
    path = write(tmp_path, "s.toml", 'extends = "big.toml"\n')
    line = one_error(["validate", str(path)], capsys)
    limit = MAX_FILE_BYTES >> 20
    assert line.endswith(f"big.toml: larger than {limit} MiB; a scenario file is a few KB of TOML")


def test_the_file_on_the_command_line_may_be_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    """``mqlsim validate <(sed ... base.toml)`` reads the pipe bash gives; a device is read only
    up to the size limit."""
    command = f"{sys.executable} -m mqlsim validate <(printf 'name = 1\\n')"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mqlsim: error: /dev/fd/")
    assert "name: unknown key 'name'" in done.stderr  # read through the pipe, then judged
    assert main(["validate", "/dev/zero"]) == 2
    assert "/dev/zero: larger than 1 MiB" in capsys.readouterr().err


def test_docs_say_what_extends_may_reach() -> None:
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "`extends`" in page and "*.toml" in page and "1 MiB" in page


# --- 4. what reaches the terminal ---------------------------------------------------------------

#: Raw control characters a terminal would act on (newlines and tabs aside).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EVIL = "evil\\u001b[2J\\u001b]0;pwned\\u0007\\u202e"  # clear screen, retitle, reverse text


def test_a_scenario_name_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "s.toml",
        f'[scenario]\nname = "{EVIL}"\nhorizon_days = 60\nwarmup_days = 10\n'
        "[population]\nleads_per_day = 5\n",
    )
    argv = ["run", str(path), "--workers", "1", "--replications", "1", "--format"]
    for fmt in ("table", "markdown", "json"):
        assert main([*argv, fmt]) == 0
        out = capsys.readouterr().out
        assert not RAW_CONTROL.search(out), fmt
        assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in out or fmt == "json"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # a terminal: rich colours
    assert main([*argv, "table"]) == 0
    out = capsys.readouterr().out
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in out
    assert "\x1b]0;" not in out and "\x1b[2J" not in out and "\u202e" not in out


def test_a_file_name_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad\x1b[31m\nname.toml", "[sales]\nreps = 0\n")
    line = one_error(["validate", str(path)], capsys)
    assert "bad\\x1b[31m\\nname.toml: sales.reps: expected a value >= 1, found 0" in line
    assert not RAW_CONTROL.search(line)


def test_replay_lead_ids_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.csv"
    rows = ["lead_id,timestamp,activity"]
    rows += [f"ann\x1b[2J\u202e,2024-03-0{day},demo_request" for day in (1, 2)]
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for fmt in ("table", "csv"):
        argv = ["replay", str(log), "--policy", str(SCENARIOS / "baseline.toml"), "--format"]
        assert main([*argv, fmt]) == 0
        out = capsys.readouterr().out
        assert "ann\\x1b[2J\\u202e" in out
        assert not RAW_CONTROL.search(out)


def test_docs_say_the_dask_cluster_is_trusted() -> None:
    page = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    assert "**The cluster is trusted.** Dask sends tasks and results with pickle" in page
