"""Faults (issue 16, items 11 and 12): Ctrl-C prints one line saying what was kept, exits 130,
leaves no worker and no folder; a run's outputs appear together or not at all."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mqlsim.cli import main
from mqlsim.core import atomic

ROOT = Path(__file__).resolve().parents[1]
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
SMALL = ["--set", "population.leads_per_day=5", "--set", "scenario.horizon_days=60"]
SMALL += ["--set", "scenario.warmup_days=10"]


# --- 11. Ctrl-C -------------------------------------------------------------------------------


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the command and its workers)."""
    found = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (folder / "environ").read_bytes():
                found.append(int(folder.name))
        except OSError:
            continue
    return found


def interrupt(argv: list[str], cache: Path, after_entries: int = 2) -> tuple[int, str, str]:
    """Start ``mqlsim ARGV`` in its own process group, press Ctrl-C (SIGINT to the group, as a
    terminal does) once ``after_entries`` replications are cached; its exit code, stderr, and
    the marker its processes carry."""
    marker = f"MQLSIM_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = {**os.environ, "MQLSIM_CACHE_DIR": str(cache), name: value}
    command = subprocess.Popen(
        [sys.executable, "-m", "mqlsim", *argv],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*/*.json"))) < after_entries:
        assert command.poll() is None, command.stderr.read() if command.stderr else ""
        assert time.monotonic() < deadline, "no replication finished in 120 s"
        time.sleep(0.02)
    os.killpg(command.pid, signal.SIGINT)
    _, err = command.communicate(timeout=60)
    return command.returncode, err, marker


@pytest.mark.parametrize(
    "command, workers",
    [("run", "2"), ("run", "1"), ("sweep", "2")],
)
def test_ctrl_c_is_one_line_exit_130_no_worker_no_folder(
    command: str, workers: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = [command, BASELINE, "--replications", "12", "--workers", workers, "--out", str(out)]
    if command == "sweep":
        argv += ["--param", "policy.threshold=60,100"]
    code, err, marker = interrupt(argv, tmp_path / "cache")
    assert code == 130, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    total = 24 if command == "sweep" else 12
    found = re.fullmatch(
        rf"mqlsim: interrupted: (\d+) of {total} replications are cached; run the same command"
        " to resume",
        lines[0],
    )
    assert found, lines[0]
    assert int(found.group(1)) == len(list((tmp_path / "cache").glob("*/*.json")))
    assert not out.exists()
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == [], "a worker outlived the command"


def test_ctrl_c_without_the_cache_says_nothing_is_kept(tmp_path: Path) -> None:
    """With --no-cache nothing lands in the cache to wait for: press Ctrl-C after a moment, in
    a run made long enough (five times the baseline's leads) that it is still going then."""
    argv = [sys.executable, "-m", "mqlsim", "run", BASELINE, "--replications", "12"]
    argv += ["--set", "population.leads_per_day=200"]
    command = subprocess.Popen(
        [*argv, "--workers", "2", "--no-cache"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    os.killpg(command.pid, signal.SIGINT)
    _, err = command.communicate(timeout=60)
    assert command.returncode == 130
    assert re.fullmatch(
        r"mqlsim: interrupted: \d+ of 12 replications had finished; none is kept \(the cache is"
        r" off\)\n",
        err,
    ), err


def test_an_interrupted_run_resumes_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    argv = ["run", BASELINE, "--set", "population.leads_per_day=20", "--replications", "4"]
    argv += ["--workers", "1", "--format", "json"]
    code, _, _ = interrupt(argv, cache, after_entries=1)
    assert code == 130
    kept = len(list(cache.glob("*/*.json")))
    env = {**os.environ, "MQLSIM_CACHE_DIR": str(cache)}
    resumed = subprocess.run(
        [sys.executable, "-m", "mqlsim", *argv], env=env, capture_output=True, text=True
    )
    fresh = subprocess.run(
        [sys.executable, "-m", "mqlsim", *argv, "--no-cache"], capture_output=True, text=True
    )
    assert resumed.returncode == fresh.returncode == 0
    assert resumed.stdout == fresh.stdout
    assert len(list(cache.glob("*/*.json"))) == 4 > kept


def test_ctrl_c_outside_the_replications_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """While writing the outputs, say: nothing is half-written, and nothing is."""

    def pressed(path: Path, data: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_write_file", pressed)
    argv = ["run", BASELINE, *SMALL, "--workers", "1", "--no-cache", "--out", str(tmp_path / "o")]
    assert main(argv) == 130
    assert capsys.readouterr().err == "mqlsim: interrupted: stopped; no file is half-written\n"
    assert list(tmp_path.iterdir()) == []


# --- 12. outputs together ---------------------------------------------------------------------


def disk_full_at(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing the file ``name`` fails as a full disk does; every other file is written."""
    real = atomic._write_file

    def write(path: Path, data: bytes) -> None:
        if path.name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(atomic, "_write_file", write)


def test_a_full_disk_after_results_json_leaves_the_previous_run_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to leave the new results.json beside the previous run's replications.csv."""
    out = tmp_path / "out"
    run = ["run", BASELINE, *SMALL, "--workers", "1", "--out", str(out)]
    assert main([*run, "--seed", "1"]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(before) == ["replications.csv", "results.json"]
    capsys.readouterr()
    disk_full_at("replications.csv", monkeypatch)
    assert main([*run, "--seed", "2"]) == 2
    assert capsys.readouterr().err == (
        f"mqlsim: error: --out {out}: cannot write results: No space left on device\n"
    )
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_failed_write_leaves_no_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disk_full_at("results.json", monkeypatch)
    out = tmp_path / "new" / "deeper" / "out"
    assert main(["run", BASELINE, *SMALL, "--workers", "1", "--out", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mqlsim-cache"]


def test_plots_and_results_appear_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    run = ["run", BASELINE, *SMALL, "--workers", "1", "--out", str(out)]
    assert main(run) == 0  # results.json and replications.csv, no figures yet
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    disk_full_at("funnel.svg", monkeypatch)
    assert main([*run, "--seed", "3", "--plots"]) == 2
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_sweep_that_cannot_write_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disk_full_at("sweep.svg", monkeypatch)
    out = tmp_path / "sweep"
    argv = ["sweep", BASELINE, *SMALL, "--param", "sales.reps=1,2", "--replications", "2"]
    assert main([*argv, "--workers", "1", "--out", str(out)]) == 2
    assert "cannot write the sweep: No space left on device" in capsys.readouterr().err
    assert not out.exists()


def test_write_together_replaces_only_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "a.json").write_text("old")
    atomic.write_together(tmp_path, {"a.json": b"new a", "b.csv": b"new b"})
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {
        "notes.txt": "mine",
        "a.json": "new a",
        "b.csv": "new b",
    }
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]
