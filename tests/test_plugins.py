"""Third-party plug-ins: named as module:Class or by entry point, params validated, clean errors."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from plugin_example import BusyLeadPolicy, FortnightCadence

import mqlsim
import mqlsim.policies as policies
from mqlsim.cli import main
from mqlsim.core.errors import InputError
from mqlsim.core.events import EventLog
from mqlsim.core.vocabulary import ACTIVITY_CODE
from mqlsim.experiments.cache import scenario_key
from mqlsim.policies.base import LeadView
from mqlsim.policies.sections import make_cadence, make_policy
from mqlsim.scenario.loading import load_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHORT = ["--set", "scenario.horizon_days=60", "--set", "scenario.warmup_days=10"]
BUSY = "plugin_example:BusyLeadPolicy"
FORTNIGHT = "plugin_example:FortnightCadence"


@pytest.fixture(autouse=True)
def plugins_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example plug-in module lives beside the tests, as if it were installed."""
    monkeypatch.syspath_prepend(str(HERE))


def scenario_file(folder: Path, text: str) -> Path:
    path = folder / "s.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, plugins="any")
    return caught.value.lines


def fail_one_line(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``mqlsim run --allow-plugins`` exits 2 with exactly one error line and no traceback (it
    fails while loading: nothing runs): that line."""
    assert main(["run", str(path), "--allow-plugins"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def small_view() -> LeadView:
    """Lead 0: 3 events (days 1, 2, 4); lead 1: 1 event; lead 2 counts only from day 3."""
    rows = [
        (0, 1.0, "web_visit"),
        (0, 2.0, "blog_post"),
        (0, 4.0, "pricing_page"),
        (1, 1.0, "web_visit"),
        (2, 1.0, "web_visit"),
        (2, 2.0, "web_visit"),
        (2, 5.0, "web_visit"),
    ]
    return LeadView(
        events=EventLog.from_unsorted(
            np.array([r[0] for r in rows]),
            np.array([r[1] for r in rows]),
            np.array([ACTIVITY_CODE[r[2]] for r in rows], dtype=np.int8),
            3,
        ),
        grade=np.zeros(3, dtype=np.int8),
        fit={},
        since=np.array([0.0, 0.0, 3.0]),
    )


# --- naming a plug-in -----------------------------------------------------------------------


def test_module_class_policy_loads_with_validated_params(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{BUSY}"\n[policy.params]\nevents = 2\n')
    scenario = load_scenario(path, plugins="any")
    assert scenario.policy.kind == BUSY
    assert scenario.policy.params == {"events": 2}
    policy = make_policy(scenario.policy)
    assert isinstance(policy, BusyLeadPolicy)
    assert policy.config.events == 2
    decision = policy.qualify(small_view())
    np.testing.assert_array_equal(decision.time, [2.0, np.nan, np.nan])
    assert policy.explain(small_view(), 0) == "busy lead: 2 activities by day 2.0"


def test_params_default_from_the_plugin_config(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path, f'[policy]\nkind = "{BUSY}"\n'), plugins="any")
    assert make_policy(scenario.policy).config.events == 5


def test_plugin_without_config_gets_the_params_dict(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, f'[nurture]\nkind = "{FORTNIGHT}"\nparams = {{ touches = 2 }}\n')
    cadence = make_cadence(load_scenario(path, plugins="any").nurture)
    assert isinstance(cadence, FortnightCadence)
    lead, time = cadence.touch_times(np.array([0.0, 10.0]), 30.0)
    np.testing.assert_array_equal(lead, [0, 0, 1])
    np.testing.assert_array_equal(time, [14.0, 28.0, 24.0])


def test_plugin_runs_end_to_end_and_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(
        tmp_path,
        f"""
        [policy]
        kind = "{BUSY}"
        params = {{ events = 8 }}

        [nurture]
        kind = "{FORTNIGHT}"
        """,
    )
    out = tmp_path / "out"
    argv = ["run", str(path), "--allow-plugins", "--replications", "1", *SHORT, "--format", "json"]
    argv += ["--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["metrics"]["mqls"]["mean"] > 0
    resolved = json.loads((out / "results.json").read_text())["scenario"]
    assert resolved["policy"] == {"kind": BUSY, "params": {"events": 8}}
    assert resolved["nurture"]["kind"] == FORTNIGHT


def test_plugin_inside_a_combination(tmp_path: Path) -> None:
    path = scenario_file(
        tmp_path,
        f"""
        [policy]
        kind = "any_of"
        rules = [{{ kind = "{BUSY}", params = {{ events = 3 }} }}, {{ kind = "handraise" }}]
        """,
    )
    policy = make_policy(load_scenario(path, plugins="any").policy)
    np.testing.assert_array_equal(policy.qualify(small_view()).time, [4.0, np.nan, np.nan])
    assert policy.explain(small_view(), 0) == (
        f"any_of: rules.0 ({BUSY}) on day 4.00 [busy lead: 3 activities by day 4.0]"
    )


def test_entry_point_names_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    declared = {
        "mqlsim.policies": [
            importlib.metadata.EntryPoint("busy", BUSY, "mqlsim.policies"),
            importlib.metadata.EntryPoint("score", BUSY, "mqlsim.policies"),
        ],
        "mqlsim.cadences": [
            importlib.metadata.EntryPoint("fortnight", FORTNIGHT, "mqlsim.cadences")
        ],
    }
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: declared.get(group, []))
    path = scenario_file(
        tmp_path,
        '[policy]\nkind = "busy"\nparams = { events = 1 }\n[nurture]\nkind = "fortnight"\n',
    )
    scenario = load_scenario(path)
    assert isinstance(make_policy(scenario.policy), BusyLeadPolicy)
    assert isinstance(make_cadence(scenario.nurture), FortnightCadence)
    # built-in kinds win over entry points of the same name
    shadowed = load_scenario(scenario_file(tmp_path, '[policy]\nkind = "score"\n')).policy
    assert type(shadowed).__name__ == "ScorePolicyConfig"


# --- the opt-in: a scenario file alone never makes mqlsim import code -------------------------

SENTINEL = "sentinel_plugin:BusyLeadPolicy"


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A plug-in module that leaves a file when it is imported: proof that its code ran."""
    marker = tmp_path / "sentinel-imported"
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "sentinel_plugin.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom plugin_example import BusyLeadPolicy\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("sentinel_plugin", None)
    yield marker
    sys.modules.pop("sentinel_plugin", None)


def test_validate_imports_nothing(
    sentinel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(
        tmp_path,
        f"""
        [policy]
        kind = "any_of"
        rules = [{{ kind = "{SENTINEL}", params = {{ events = 0 }} }}, {{ kind = "this:P" }}]
        [nurture]
        kind = "antigravity:x"
        """,
    )
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"OK {path} (plug-in '{SENTINEL}', 'this:P', 'antigravity:x' not imported: its params"
        " are checked when it runs)\n"
    )
    assert not sentinel.exists()
    assert "Beautiful is better than ugly" not in out  # `this` prints the Zen of Python
    assert "antigravity" not in sys.modules  # it would open a browser
    assert mqlsim.validate(path).policy.rules[0].kind == SENTINEL
    assert not sentinel.exists()


def test_validate_checks_the_form_of_a_plugin_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, '[policy]\nkind = "../evil:P"\n')
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"mqlsim: error: {path}: policy.kind: expected 'package.module:Class', found '../evil:P'"
        " (line 2)\n"
    )


def test_validate_does_not_load_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Point(importlib.metadata.EntryPoint):
        def load(self) -> object:
            raise AssertionError("validate loaded an entry point")

    point = Point("busy", BUSY, "mqlsim.policies")
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [point] if group == point.group else []
    )
    path = scenario_file(tmp_path, '[policy]\nkind = "busy"\n')
    assert main(["validate", str(path)]) == 0
    assert "plug-in 'busy' not imported" in capsys.readouterr().out


def events_log(folder: Path) -> Path:
    path = folder / "events.csv"
    path.write_text("lead_id,timestamp,activity\nann,2024-03-01,web_visit\n")
    return path


def git_repository(folder: Path, scenario: Path) -> Path:
    """A repository with ``scenario`` committed as ``s.toml``."""
    repository = folder / "repo"
    repository.mkdir()
    (repository / "s.toml").write_text(scenario.read_text())
    for command in (
        ["init", "-q"],
        ["add", "s.toml"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "s"],
    ):
        subprocess.run(["git", *command], cwd=repository, check=True, capture_output=True)
    return repository


SET_SENTINEL = f'policy={{ kind = "{SENTINEL}" }}'
COMMANDS = {
    "run": lambda s, d: ["run", s, *SHORT],
    "set": lambda s, d: [
        "run",
        str(ROOT / "scenarios" / "baseline.toml"),
        "--set",
        f'policy={{ kind = "{SENTINEL}" }}',
    ],
    "compare": lambda s, d: ["compare", str(ROOT / "scenarios" / "baseline.toml"), s, *SHORT],
    "sweep": lambda s, d: ["sweep", s, "--param", "sales.reps=1,2", "--out", str(d / "sw")],
    "replay": lambda s, d: ["replay", str(events_log(d)), "--policy", s],
    "explain": lambda s, d: ["explain", s],
    "report": lambda s, d: ["report", s, "--out", str(d / "r.html")],
}


@pytest.mark.parametrize("command", [*COMMANDS, "compare REV:path"])
def test_without_the_opt_in_no_command_imports_a_module(
    command: str,
    sentinel: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{SENTINEL}"\n')
    if command == "compare REV:path":
        monkeypatch.chdir(git_repository(tmp_path, path))
        argv = ["compare", "HEAD:s.toml", str(ROOT / "scenarios" / "baseline.toml"), *SHORT]
    else:
        argv = COMMANDS[command](str(path), tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("mqlsim: error: ")
    assert line.endswith(
        f"policy.kind: '{SENTINEL}' names code to import and run; to allow it (only for a"
        " module you trust), give --allow-plugins (Python API: allow_plugins=True), or install"
        " it as an entry point (docs/plugins.md)" + ("" if command == "set" else " (line 2)")
    )
    assert not sentinel.exists()
    assert not (tmp_path / "sw").exists() and not (tmp_path / "r.html").exists()


def test_the_opt_in_imports_the_module(
    sentinel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{SENTINEL}"\nparams = {{ events = 3 }}\n')
    assert main(["explain", str(path), "--allow-plugins", *SHORT, "--limit", "1"]) == 0
    assert "busy lead: 3 activities" in capsys.readouterr().out
    assert sentinel.exists()


def test_the_python_api_needs_the_same_opt_in(sentinel: Path, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{SENTINEL}"\n')
    with pytest.raises(InputError, match="allow_plugins=True"):
        mqlsim.load(path)
    with pytest.raises(InputError, match="allow_plugins=True"):
        mqlsim.run(path, replications=1, workers=1, cache=False)
    assert not sentinel.exists()
    assert mqlsim.load(path, allow_plugins=True).policy.kind == SENTINEL
    assert sentinel.exists()


def test_an_allowed_plugin_runs_in_worker_processes(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{BUSY}"\nparams = {{ events = 6 }}\n')
    small = {"scenario.horizon_days": 40, "scenario.warmup_days": 10}
    options = {"replications": 2, "overrides": small, "cache": False, "allow_plugins": True}
    pooled = mqlsim.run(path, workers=2, **options)
    serial = mqlsim.run(path, workers=1, **options)
    np.testing.assert_equal(pooled.replications, serial.replications)  # nan equals nan
    assert pooled.summaries["mqls"].mean > 0


def test_the_cache_key_follows_the_plugins_source(tmp_path: Path, sentinel: Path) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{SENTINEL}"\n')
    scenario = mqlsim.load(path, allow_plugins=True)
    key = scenario_key(scenario)
    assert scenario_key(scenario) == key
    module = tmp_path / "plugins" / "sentinel_plugin.py"
    module.write_text(module.read_text() + "# edited\n")
    assert scenario_key(scenario) != key


# --- bad plug-ins: one line each, exit 2 -----------------------------------------------------


@pytest.mark.parametrize(
    "kind, message",
    [
        (
            "nope.mod:Policy",
            "policy.kind: cannot import 'nope.mod:Policy' (No module named 'nope')",
        ),
        (
            "plugin_example:Missing",
            "policy.kind: cannot import 'plugin_example:Missing' "
            "('plugin_example' has no attribute 'Missing')",
        ),
        (
            "plugin_example:FortnightCadence",
            "policy.kind: 'plugin_example:FortnightCadence' is not usable here: "
            "it needs the methods qualify(), explain()",
        ),
        (":Policy", "policy.kind: expected 'package.module:Class', found ':Policy'"),
    ],
)
def test_unusable_plugin_is_one_clear_line(
    kind: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, f'[policy]\nkind = "{kind}"\nparams = {{ x = 1 }}\n')
    assert fail_one_line(path, capsys) == f"mqlsim: error: {path}: {message} (line 2)"


def test_plugin_module_that_fails_on_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text('raise RuntimeError("boom")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    path = scenario_file(tmp_path, '[policy]\nkind = "broken_plugin:P"\n')
    line = fail_one_line(path, capsys)
    assert line.endswith(
        "policy.kind: cannot import 'broken_plugin:P' (RuntimeError: boom) (line 2)"
    )


def test_config_that_is_not_pydantic_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "odd_plugin.py").write_text(
        "class P:\n    Config = dict\n    def qualify(self, view): ...\n"
        "    def explain(self, view, lead): ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = scenario_file(tmp_path, '[policy]\nkind = "odd_plugin:P"\n')
    assert fail_one_line(path, capsys).endswith(
        "policy.kind: 'odd_plugin:P': its Config must be a pydantic model (line 2)"
    )


def test_bad_params_name_their_dotted_keys(tmp_path: Path) -> None:
    path = scenario_file(
        tmp_path,
        f"""
        [policy]
        kind = "any_of"

        [[policy.rules]]
        kind = "{BUSY}"
        params = {{ events = 0, evnts = 3 }}
        """,
    )
    lines = problems(path)
    assert len(lines) == 2, lines
    assert any("policy.rules.0.params.events: expected a value >= 1, found 0" in x for x in lines)
    assert any("policy.rules.0.params.evnts: unknown key 'evnts'" in x for x in lines)


def test_unknown_plain_kind_lists_the_built_in_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    path = scenario_file(tmp_path, '[policy]\nkind = "trgger"\nthreshold = 3\n')
    line = fail_one_line(path, capsys)
    assert re.search(
        r"policy\.kind: expected one of 'score', 'trigger', .*'gate', or a plug-in", line
    )
    assert line.endswith("found 'trgger' (did you mean 'trigger'?) (line 2)")


def test_entry_point_that_fails_to_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    point = importlib.metadata.EntryPoint("gone", "gone_pkg.rules:P", "mqlsim.policies")
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [point] if group == "mqlsim.policies" else [],
    )
    path = scenario_file(tmp_path, '[policy]\nkind = "gone"\n')
    assert fail_one_line(path, capsys).endswith(
        "policy.kind: cannot load entry point 'gone' = 'gone_pkg.rules:P' of group "
        "mqlsim.policies (No module named 'gone_pkg') (line 2)"
    )


def test_bad_cadence_plugin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_file(tmp_path, f'[nurture]\nkind = "{BUSY}"\n')
    assert fail_one_line(path, capsys).endswith(
        f"nurture.kind: '{BUSY}' is not usable here: it needs the methods touch_times(), "
        "running() (line 2)"
    )


# --- what ships ---------------------------------------------------------------------------


def kinds_in(section: object) -> list[str]:
    """Every ``kind`` in a validated policy section, nested rules included."""
    found = [section.kind]
    for rule in [*getattr(section, "rules", []), *filter(None, [getattr(section, "rule", None)])]:
        found += kinds_in(rule)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_never_name_code(path: Path) -> None:
    scenario = load_scenario(path)
    assert set(kinds_in(scenario.policy)) <= set(policies.POLICIES)
    assert scenario.nurture.kind in policies.CADENCES


def test_docs_example_is_the_tested_plugin() -> None:
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert (HERE / "plugin_example.py").read_text(encoding="utf-8") in blocks
    assert "imports and runs" in page and '[project.entry-points."mqlsim.policies"]' in page
