"""The README's first screen stays true: its two commands exist and CI runs the test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", README, flags=re.DOTALL)


def test_first_screen_has_the_run_and_the_test_command() -> None:
    first_screen = README.split("---", 1)[0]
    assert "python -m pip install . && mqlsim run scenarios/baseline.toml" in first_screen
    assert "python -m pip install -e '.[dev]' && python -m pytest" in first_screen


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_the_run_command_names_a_shipped_scenario() -> None:
    scenario = _commands()[0].split()[-1]
    assert (ROOT / scenario).is_file()
