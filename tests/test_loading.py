"""Scenario loading: TOML, extends, --set, and the error lines users see."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqlsim.core.errors import InputError
from mqlsim.scenario.loading import load_scenario, parse_override
from mqlsim.scenario.models import Scenario


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, overrides)
    return caught.value.lines


# --- files ------------------------------------------------------------------------------------


def test_valid_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.toml",
        """
        [scenario]
        name = "small"
        horizon_days = 120
        warmup_days = 20

        [policy]
        threshold = 80

        [sales]
        reps = 5
        queue_discipline = "grade"

        [[population.channels]]
        name = "web"
        cost_per_lead = 12.5
        """,
    )
    scenario = load_scenario(path)
    assert scenario.scenario.name == "small"
    assert scenario.scenario.horizon_days == 120
    assert scenario.policy.threshold == 80
    assert scenario.sales.reps == 5
    assert scenario.sales.queue_discipline == "grade"
    assert [c.name for c in scenario.population.channels] == ["web"]
    assert scenario.nurture == Scenario().nurture


def test_empty_file_is_the_default_scenario(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, "empty.toml", "")) == Scenario()


def test_extends_deep_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.toml",
        """
        [sales]
        reps = 4
        sla_hours = 2

        [population]
        leads_per_day = 12

        [[population.channels]]
        name = "a"

        [[population.channels]]
        name = "b"
        """,
    )
    child = write(
        tmp_path,
        "child.toml",
        """
        extends = "base.toml"

        [sales]
        reps = 6

        [[population.channels]]
        name = "c"
        """,
    )
    scenario = load_scenario(child)
    assert scenario.sales.reps == 6
    assert scenario.sales.sla_hours == 2
    assert scenario.population.leads_per_day == 12
    assert [c.name for c in scenario.population.channels] == ["c"]


def test_extends_chain_of_three_with_relative_folders(tmp_path: Path) -> None:
    write(tmp_path, "shared/root.toml", "[sales]\nreps = 2\nsla_hours = 8\ncall_hours = 1.5\n")
    write(tmp_path, "shared/middle.toml", 'extends = "root.toml"\n[sales]\nsla_hours = 6\n')
    top = write(tmp_path, "runs/top.toml", 'extends = "../shared/middle.toml"\n[sales]\nreps = 9\n')
    sales = load_scenario(top).sales
    assert (sales.reps, sales.sla_hours, sales.call_hours) == (9, 6, 1.5)


def test_extends_cycle_is_reported_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    [line] = problems(tmp_path / "a.toml")
    assert "circular extends" in line
    assert "a.toml -> " in line
    assert line.endswith("b.toml -> " + str(tmp_path / "a.toml") + " (line 1)")


def test_extends_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "self.toml", 'extends = "self.toml"\n')
    [line] = problems(path)
    assert line.startswith(f"{path}: extends: circular extends")


def test_missing_extends_target_names_file_and_folder(tmp_path: Path) -> None:
    path = write(tmp_path, "child.toml", '\nextends = "nowhere/base.toml"\n')
    [line] = problems(path)
    folder = (tmp_path / "nowhere").resolve()
    assert line == (
        f"{path}: extends: file 'nowhere/base.toml' not found (looked in {folder}) (line 2)"
    )


def test_extends_must_be_a_string(tmp_path: Path) -> None:
    [line] = problems(write(tmp_path, "s.toml", "extends = ['a.toml']\n"))
    assert "extends: expected a file name (a string), found ['a.toml']" in line


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert problems(path) == [f"{path}: file not found"]


def test_folder_is_an_input_error(tmp_path: Path) -> None:
    assert problems(tmp_path) == [f"{tmp_path}: is a folder, expected a TOML file"]


def test_non_utf8_file_is_an_input_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\nname = "caf\xe9"\n')
    [line] = problems(path)
    assert line.startswith(f"{path}:2: not UTF-8 text")


def test_toml_syntax_error_has_the_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", "[sales]\nreps = 3\nsla_hours = = 4\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: TOML syntax error: ")
    assert "(at line" not in line


def test_toml_syntax_error_in_a_parent_names_the_parent(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", "[sales\n")
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n')
    [line] = problems(child)
    assert line.startswith(f"{tmp_path / 'base.toml'}:1: TOML syntax error")


# --- validation messages ----------------------------------------------------------------------


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[policy]\nthresold = 80\n")
    assert problems(path) == [
        f"{path}: policy.thresold: unknown key 'thresold' (did you mean 'threshold'?) (line 2)"
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed(tmp_path: Path) -> None:
    [line] = problems(write(tmp_path, "s.toml", "[costs]\nzzz = 1\n"))
    assert (
        "unknown key 'zzz' (allowed: fixed_marketing_cost_per_day, cost_per_touch, "
        "cost_per_rep_per_year, cost_per_mql_worked)"
    ) in line


def test_unknown_table_key_suggests_the_vocabulary(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[policy.points]\npricing_pag = 30\n")
    assert problems(path) == [
        f"{path}: policy.points.pricing_pag: unknown key 'pricing_pag' "
        "(did you mean 'pricing_page'?) (line 2)"
    ]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", '[policy]\nthreshold = "abc"\n')
    assert problems(path) == [f"{path}: policy.threshold: expected a number, found 'abc' (line 2)"]


def test_negative_rate_names_the_path_and_bound(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[population]\n\nleads_per_day = -1\n")
    assert problems(path) == [
        f"{path}: population.leads_per_day: expected a value >= 0, found -1 (line 3)"
    ]


@pytest.mark.parametrize(("value", "hint"), [("random", ""), ("scroe", " (did you mean 'score'?)")])
def test_literal_lists_the_choices(tmp_path: Path, value: str, hint: str) -> None:
    path = write(tmp_path, "s.toml", f'sales.queue_discipline = "{value}"\n')
    assert problems(path) == [
        f"{path}: sales.queue_discipline: expected one of 'fifo', 'score', 'grade', "
        f"'deadline', found {value!r}{hint} (line 1)"
    ]


def test_error_inside_an_array_of_tables_keeps_the_index(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.toml",
        """\
        [[population.personas]]
        name = "a"

        [[population.personas]]
        name = "b"
        share = -2
        """,
    )
    assert problems(path) == [
        f"{path}: population.personas.1.share: expected a value >= 0, found -2 (line 6)"
    ]


def test_model_validator_error_names_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[scenario]\nhorizon_days = 100\nwarmup_days = 100\n")
    assert problems(path) == [
        f"{path}: scenario: warmup_days (100) must be less than horizon_days (100) (line 3)"
    ]


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.toml",
        """\
        [policy]
        thresold = 80
        [sales]
        reps = 0
        queue_discipline = "lifo"
        [population]
        leads_per_day = "many"
        """,
    )
    lines = problems(path)
    assert len(lines) == 4
    for key in ("policy.thresold", "sales.reps", "sales.queue_discipline", "leads_per_day"):
        assert any(key in line for line in lines), key


# --- provenance -------------------------------------------------------------------------------


def test_errors_name_the_file_or_flag_that_set_the_value(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", "[sales]\nreps = 0\nsla_hours = 4\n")
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[sales]\nsla_hours = -1\n')
    lines = problems(child, "population.leads_per_day=-5")
    assert lines == [
        "--set: population.leads_per_day: expected a value >= 0, found -5",
        f"{base}: sales.reps: expected a value >= 1, found 0 (line 2)",
        f"{child}: sales.sla_hours: expected a value > 0, found -1 (line 3)",
    ]


def test_child_value_replaces_a_bad_parent_value(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", "[sales]\nreps = 0\n")
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[sales]\nreps = 2\n')
    assert load_scenario(child).sales.reps == 2


def test_error_in_an_inherited_array_names_the_parent(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", "[[population.channels]]\nshare = -1\n")
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[sales]\nreps = 2\n')
    assert problems(child) == [
        f"{base}: population.channels.0.share: expected a value >= 0, found -1 (line 2)"
    ]


def test_set_can_fix_a_bad_file_value(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[sales]\nreps = 0\n")
    assert load_scenario(path, ["sales.reps=3"]).sales.reps == 3


# --- --set ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("policy.threshold=80", ["policy", "threshold"], 80),
        ("policy.threshold = 72.5", ["policy", "threshold"], 72.5),
        ("sales.always_working=true", ["sales", "always_working"], True),
        ("nurture.kind=drip", ["nurture", "kind"], "drip"),
        ("scenario.name=my run", ["scenario", "name"], "my run"),
        ('scenario.name="2025"', ["scenario", "name"], "2025"),
        ("sales.win_probability={A = 0.5}", ["sales", "win_probability"], {"A": 0.5}),
        ("a.b=[1, 2]", ["a", "b"], [1, 2]),
        ('population.icp.company_size_points."5000+"=3', None, 3),
    ],
)
def test_parse_override(text: str, keys: list[str] | None, value: object) -> None:
    parsed_keys, parsed_value = parse_override(text)
    if keys is not None:
        assert parsed_keys == keys
    assert parsed_value == value
    assert type(parsed_value) is type(value)


@given(st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans())
def test_parse_override_reads_toml_scalars(value: int | float | bool) -> None:
    literal = str(value).lower() if isinstance(value, bool) else repr(value)
    assert parse_override(f"x.y={literal}") == (["x", "y"], value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("foo", "no '=' found"),
        ("=1", "KEY is empty"),
        ("a..b=1", "KEY 'a..b' has an empty part"),
        ("x=[1,", "'[1,': invalid value"),
        ("x=", "VALUE is empty"),
        ('x="open', "unterminated string"),
    ],
)
def test_malformed_set_is_one_clear_line(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, "s.toml", "")
    [line] = problems(path, text)
    assert line.startswith(f"--set {text!r}: expected KEY=VALUE with VALUE a TOML literal (")
    assert reason in line


def test_all_malformed_sets_are_reported_with_file_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[sales\n")
    lines = problems(path, "foo", "a..b=1")
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}:1: TOML syntax error")


def test_set_values_reach_the_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[sales]\nreps = 2\n")
    scenario = load_scenario(
        path,
        [
            "policy.threshold=80",
            "scenario.name=my run",
            "sales.always_working=true",
            "sales.win_probability={A = 0.5}",
            "population.icp.company_size_points.201-1000=20",
            "sales.reps=4",
            "sales.reps=5",
        ],
    )
    assert scenario.policy.threshold == 80
    assert scenario.scenario.name == "my run"
    assert scenario.sales.always_working is True
    assert scenario.sales.win_probability == {"A": 0.5}
    defaults = Scenario().population.icp.company_size_points
    assert scenario.population.icp.company_size_points == {**defaults, "201-1000": 20}
    assert scenario.sales.reps == 5


def test_a_table_entry_in_a_file_keeps_the_other_default_entries(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[policy.points]\npricing_page = 40\n")
    points = load_scenario(path).policy.points
    assert points["pricing_page"] == 40
    assert points["case_study"] == Scenario().policy.points["case_study"]


def test_set_replaces_an_array_of_tables_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "")
    scenario = load_scenario(path, ['population.channels=[{name = "web", share = 2}]'])
    assert [(c.name, c.share) for c in scenario.population.channels] == [("web", 2)]


def test_set_is_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "[sales]\nreps = 2\n")
    assert problems(path, "sales.reps=0") == ["--set: sales.reps: expected a value >= 1, found 0"]


@pytest.mark.parametrize("in_file", [True, False])
def test_set_under_a_non_table_is_an_error(tmp_path: Path, in_file: bool) -> None:
    path = write(tmp_path, "s.toml", "[sales]\nreps = 2\n" if in_file else "")
    assert problems(path, "sales.reps.x=1") == [
        "--set 'sales.reps.x=1': sales.reps holds an integer, not a table"
    ]


def test_set_into_an_array_of_values_explains_how_to_replace_it(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "")
    [line] = problems(path, "population.channels.0.weekly_seasonality.2=1")
    assert "population.channels.0.weekly_seasonality holds an array, not a table" in line
    assert "replace it whole: population.channels.0.weekly_seasonality=[...]" in line
    [line] = problems(path, "population.channels.7.share=1")
    assert "population.channels has 4 items (0 to 3); index 7 is out of range" in line


def test_set_unknown_key_suggests(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "s.toml", ""), "polcy.threshold=1") == [
        "--set: polcy: unknown key 'polcy' (did you mean 'policy'?)"
    ]
