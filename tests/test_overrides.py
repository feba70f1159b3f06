"""One merge rule everywhere, `--set` on list items and kinds, `validate --set`, `mqlsim show`,
and the right source blamed (issue 17, points 4 and 6; issue 16, item 8)."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

import mqlsim
from mqlsim.cli import main
from mqlsim.core.errors import InputError
from mqlsim.policies.sections import _default_points
from mqlsim.scenario.loading import load_scenario, resolve_scenario
from mqlsim.scenario.models import Scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline.toml"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path | str, *overrides: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, overrides)
    return caught.value.lines


# --- point 4: nested policy tables merge like top-level ones ---------------------------------


EXPECTED_POINTS = {**_default_points(), "demo_request": 0.0}


def test_top_level_points_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "top.toml", "[policy]\npoints = { demo_request = 0 }\n")
    assert load_scenario(path).policy.points == EXPECTED_POINTS


def test_points_in_an_any_of_rule_merge_over_the_score_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "any.toml",
        """
        [policy]
        kind = "any_of"

        [[policy.rules]]
        kind = "score"
        points = { demo_request = 0 }

        [[policy.rules]]
        kind = "all_of"
        rules = [{ kind = "score", points = { demo_request = 0 } }, { kind = "handraise" }]
        """,
    )
    policy = load_scenario(path).policy
    assert policy.rules[0].points == EXPECTED_POINTS  # 15 other values kept, not dropped
    assert policy.rules[0].frequency_caps == load_scenario(BASELINE).policy.frequency_caps
    assert policy.rules[1].rules[0].points == EXPECTED_POINTS  # combinations nest


def test_points_in_a_gate_rule_merge_over_the_score_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gate.toml",
        """
        [policy]
        kind = "gate"

        [policy.rule]
        kind = "score"
        points = { demo_request = 0 }
        """,
    )
    assert load_scenario(path).policy.rule.points == EXPECTED_POINTS


def test_a_top_level_section_of_another_kind_merges_over_that_kinds_defaults(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "matrix.toml",
        """
        extends = "base.toml"
        [policy]
        kind = "matrix"
        cells = { A = 60, C = inf }
        engagement = { points = { demo_request = 0 } }
        """,
    )
    write(tmp_path, "base.toml", "[policy]\nthreshold = 90\n")
    policy = load_scenario(path).policy
    assert policy.cells == {"A": 60.0, "B": 50.0, "C": float("inf")}
    assert policy.engagement.points == EXPECTED_POINTS
    assert policy.engagement.grade_points == {}


def test_set_of_a_kinded_table_merges_over_its_kinds_defaults() -> None:
    scenario = load_scenario(
        BASELINE,
        [
            'policy={kind="any_of", rules=[{kind="score", points={demo_request=0}}]}',
        ],
    )
    assert scenario.policy.rules[0].points == EXPECTED_POINTS


def test_set_replaces_a_plain_table_whole() -> None:
    # Documented: --set replaces the value at KEY; the only way to drop a table's entries.
    scenario = load_scenario(BASELINE, ["policy.frequency_caps={web_visit=3}"])
    assert scenario.policy.frequency_caps == {"web_visit": 3}


def test_set_of_another_kind_starts_from_that_kinds_defaults() -> None:
    scenario = load_scenario(BASELINE, ["policy.kind=trigger", "policy.count=3"])
    assert scenario.policy.kind == "trigger" and scenario.policy.count == 3
    assert load_scenario(BASELINE, ["nurture.kind=none"]).nurture.kind == "none"
    same = load_scenario(BASELINE, ["policy.kind=score", "policy.threshold=80"])
    assert same.policy.threshold == 80 and same.policy.points["pricing_page"] == 30


# --- point 6: list items, validate --set, show ----------------------------------------------


def test_set_overrides_one_list_item() -> None:
    scenario = load_scenario(BASELINE, ["population.personas.1.share=0.3"])
    shares = [persona.share for persona in scenario.population.personas]
    assert shares == [0.25, 0.3, 0.15, 0.15]
    assert scenario.population.personas[1].name == "practitioner"
    rule = load_scenario(SCENARIOS / "policy_any_of.toml", ["policy.rules.0.threshold=80"])
    assert rule.policy.rules[0].threshold == 80


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("population.personas.4.share=0.3", "population.personas has 4 items (0 to 3)"),
        ("population.personas.x.share=0.3", "population.personas is an array: address an item"),
        ("population.personas.1.share=-1", "population.personas.1.share: expected a value >= 0"),
    ],
)
def test_a_bad_list_item_override_is_one_line(override: str, words: str) -> None:
    [line] = problems(BASELINE, override)
    assert words in line and line.startswith("--set")


def test_validate_takes_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(BASELINE), "--set", "sales.reps=4"]) == 0
    assert capsys.readouterr().out == f"OK {BASELINE}\n"
    assert main(["validate", str(BASELINE), "--set", "sales.reps=0"]) == 2
    assert capsys.readouterr().err == (
        "mqlsim: error: --set: sales.reps: expected a value >= 1, found 0\n"
    )


def test_show_prints_toml_with_each_values_source(capsys: pytest.CaptureFixture[str]) -> None:
    loose = SCENARIOS / "loose.toml"
    args = ["--set", "sales.reps=4", "--set", "population.personas.1.share=0.3"]
    assert main(["show", str(loose), *args]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"# mqlsim show {loose} --set sales.reps=4 --set population.")
    expected = load_scenario(loose, ["sales.reps=4", "population.personas.1.share=0.3"])
    assert Scenario.model_validate(tomllib.loads(text)) == expected  # it loads back
    lines = {
        line.split("#")[0].strip(): line.rsplit("# ", 1)[1]
        for line in text.splitlines()
        if " = " in line and "# " in line
    }
    assert lines["reps = 4"] == "--set"
    assert lines["threshold = 80.0"] == str(loose)
    assert lines["horizon_days = 365.0"] == str(SCENARIOS / "baseline.toml")
    assert lines['decay = "half_life"'] == "default"
    assert lines["share = 0.3"] == "--set"  # the persona's share, not the whole array


def test_show_is_in_the_api() -> None:
    text = mqlsim.show(str(SCENARIOS / "policy_gate.toml"), overrides={"sales.reps": 5})
    assert "# mqlsim show " in text and "reps = 5" in text
    resolved = resolve_scenario(SCENARIOS / "policy_gate.toml", {"sales.reps": 5})
    assert resolved.source_of(("sales", "reps")) == "overrides['sales.reps']"
    assert resolved.source_of(("policy", "rule", "points", "web_visit")) == "default"


# --- issue 16, item 8: the right source is blamed ---------------------------------------------


def test_a_tables_check_blames_the_key_it_names_in_validate_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "h.toml", f'extends = "{BASELINE}"\n[scenario]\nhorizon_days = 20\n')
    expected = (
        f"mqlsim: error: {path}: scenario: warmup_days (30) must be less than horizon_days (20)"
        " (line 3)\n"
    )
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == expected
    for extra in (["--seed", "3"], ["--replications", "2"], ["--set", "sales.reps=4"]):
        assert main(["run", str(path), *extra]) == 2
        assert capsys.readouterr().err == expected, extra
    # The key the check names that was set last is to blame: here the override.
    [line] = problems(BASELINE, "scenario.warmup_days=400")
    assert line.startswith("--set: scenario: warmup_days (400) must be less")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("policy={}", "--set: policy.kind: required key is missing"),
        ('policy={kind="gate"}', "--set: policy.rule: required key is missing"),
    ],
)
def test_an_empty_or_incomplete_table_from_set_is_blamed_on_set(override: str, words: str) -> None:
    [line] = problems(BASELINE, override)
    assert line.startswith(words)


@pytest.mark.parametrize(
    "override",
    [
        "policy.threshold=[" + "1," * 50_000,  # malformed TOML
        'policy.threshold="' + "1" * 300_000 + '"',  # a string where a number goes
        "policy." + "k" * 300_000 + "=1",  # an unknown key
        "population.personas." + "9" * 10_000 + ".share=1",  # an index
    ],
)
def test_a_huge_value_is_cut_in_the_error_line(override: str) -> None:
    lines = problems(BASELINE, override)
    assert len(lines) == 1 and len(lines[0]) < 500
    assert "characters)" in lines[0] or "out of range" in lines[0]
