"""The README stays true: its first screen's two commands exist, CI runs the test command, and
the run output it quotes is what the shipped baseline prints."""

import re
import subprocess
import sys
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


def test_the_quoted_run_output_is_what_the_baseline_prints() -> None:
    """The excerpt under "What a run gives you" is real output: every line of it appears, as
    printed, in the table of `mqlsim run scenarios/baseline.toml` (five replications)."""
    excerpt = re.search(
        r"`mqlsim run scenarios/baseline.toml` prints.+?```text\n(.+?)\n```",
        README,
        flags=re.DOTALL,
    )
    assert excerpt is not None
    completed = subprocess.run(
        [sys.executable, "-m", "mqlsim", "run", "scenarios/baseline.toml", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    printed = completed.stdout.splitlines()
    missing = [line for line in excerpt.group(1).splitlines() if line not in printed]
    assert not missing, f"README lines not in the run's output: {missing}"
