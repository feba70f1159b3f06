"""The Python API (docs/api.md): its names, its notebook session, and installed-package habits."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mqlsim
from mqlsim import api
from mqlsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
SMALL = {"population.leads_per_day": 5, "scenario.horizon_days": 120, "scenario.warmup_days": 30}
PUBLIC = {
    "Calibration",
    "Comparison",
    "ExperimentResult",
    "InputError",
    "MqlReason",
    "Recording",
    "Replay",
    "Scenario",
    "Sweep",
    "__version__",
    "calibrate",
    "compare",
    "explain",
    "load",
    "record",
    "replay",
    "report",
    "run",
    "show",
    "sweep",
    "validate",
}


def test_the_public_names_are_pinned() -> None:
    assert set(mqlsim.__all__) == PUBLIC
    assert set(api.__all__) == PUBLIC - {"__version__"}
    for name in PUBLIC:
        assert getattr(mqlsim, name) is not None
    assert mqlsim.run is api.run
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", mqlsim.__version__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mqlsim.nope  # type: ignore[attr-defined]


def test_importing_mqlsim_loads_no_engine() -> None:
    """The API loads on first use, so the command line's start and ``import mqlsim`` stay quick."""
    check = "import sys, mqlsim; print('simpy' in sys.modules, 'mqlsim.api' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_docs_api_session_runs(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Every ``python`` block of docs/api.md, in order, in one namespace, from the root folder."""
    pytest.importorskip("pandas")
    monkeypatch.chdir(ROOT)
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", page, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "MQL→SQL" in out and "gates passed:" in out and "best:" in out
    assert "sales.reps: expected a value >= 1, found 0" in out
    assert "ann True" in out and "bob False" in out


def test_run_accepts_a_path_or_a_scenario_and_gives_the_same_numbers() -> None:
    by_path = mqlsim.run(BASELINE, replications=2, overrides=SMALL, workers=1, cache=False)
    loaded = mqlsim.load(BASELINE, overrides=SMALL)
    by_object = mqlsim.run(loaded, replications=2, workers=1, cache=False)
    np.testing.assert_equal(by_path.replications, by_object.replications)  # nan equals nan
    assert "ExperimentResult 'baseline': 2 replications; means: leads " in repr(by_path)
    assert [record["replication"] for record in by_path.to_records()] == [0, 1]


def test_overrides_as_set_texts_or_a_mapping_agree() -> None:
    texts = mqlsim.load(BASELINE, overrides=["sales.reps=5", "policy.threshold=90"])
    mapping = mqlsim.load(BASELINE, overrides={"sales.reps": 5, "policy.threshold": 90})
    assert texts == mapping


def test_bad_input_raises_input_error_with_lines() -> None:
    with pytest.raises(mqlsim.InputError) as caught:
        mqlsim.run(BASELINE, replications=0, workers=1)
    assert caught.value.lines == [
        "replications: scenario.replications: expected a value >= 1, found 0"
    ]
    with pytest.raises(mqlsim.InputError, match="workers 0: expected a whole number >= 1"):
        mqlsim.run(BASELINE, workers=0)
    with pytest.raises(mqlsim.InputError, match=r"overrides\['sales.repz'\]"):
        mqlsim.load(BASELINE, overrides={"sales.repz": 3})


def test_to_frame_without_pandas_says_how_to_install_it(monkeypatch) -> None:
    result = mqlsim.run(BASELINE, replications=1, overrides=SMALL, workers=1, cache=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match="pip install pandas"):
        result.to_frame()


def test_a_missing_extra_is_named(monkeypatch, tmp_path, capsys) -> None:
    log = tmp_path / "events.csv"
    log.write_text("lead_id,timestamp,activity\na,2024-03-01,demo_request\n")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.csv", None)
    with pytest.raises(mqlsim.InputError, match=re.escape("pip install 'mqlsim[replay]'")):
        mqlsim.replay(log, BASELINE)
    assert main(["replay", str(log), "--policy", BASELINE]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mqlsim: error: mqlsim replay needs pyarrow")


def test_works_from_a_folder_with_a_policies_and_a_sim_module(tmp_path) -> None:
    """The installed names cannot be shadowed by a user's own policies.py or sim.py."""
    (tmp_path / "policies.py").write_text("raise SystemExit('the wrong policies was imported')\n")
    (tmp_path / "sim.py").write_text("raise SystemExit('the wrong sim was imported')\n")
    code = textwrap.dedent(
        f"""
        import mqlsim
        r = mqlsim.run({BASELINE!r}, replications=2, overrides={SMALL!r}, workers=1)
        print(r)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "ExperimentResult 'baseline'" in completed.stdout
    version = subprocess.run(
        [sys.executable, "-m", "mqlsim", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"mqlsim {mqlsim.__version__}"
