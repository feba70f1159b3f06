"""The shell commands in README.md and docs/*.md run as written, so the docs cannot rot.

Every fenced block names its kind (```bash, ```text, ```toml ...). A shell block (``bash``,
``sh``, ``console``) is either run by :func:`test_shell_block_runs` or marked as illustrative
by an HTML comment on the line above it, ``<!-- illustrative: why -->``; a block expected to
fail says so the same way, ``<!-- exits 1: why -->``. Blocks run with bash from a scratch
folder that holds the shipped ``scenarios/``, with ``$HOME`` there too (``~/...`` outputs) and
one replication cache shared by all blocks, as a workshop's warmed cache would be. The check
is on exit codes; the numbers quoted in the docs are checked where a test quotes them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "console"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>\S*)[ \t]*$")
MARKER = re.compile(r"^\s*<!-- (?P<kind>illustrative|exits (?P<code>\d+)): \S.*-->\s*$")
#: How long one block may take before the test fails (the longest runs a few sweeps).
TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    info: str
    body: str
    marker: str | None
    exit_code: int

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def blocks() -> list[Block]:
    """Every fenced block of the pages, with the marker on the line above it, if any."""
    found = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            indent = opening.group("indent")
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            body = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
            above = MARKER.match(lines[index - 1]) if index else None
            found.append(
                Block(
                    page=str(page.relative_to(ROOT)),
                    line=index + 1,
                    info=opening.group("info"),
                    body=body + "\n",
                    marker=above.group("kind") if above else None,
                    exit_code=int(above.group("code")) if above and above.group("code") else 0,
                )
            )
            index = end + 1
    return found


RUNNABLE = [block for block in blocks() if block.info in SHELL and block.marker != "illustrative"]


def test_every_block_names_its_kind() -> None:
    unnamed = [block.name for block in blocks() if not block.info]
    assert unnamed == [], "label these fences (```bash, ```text, ...)"


def test_console_transcripts_are_illustrative() -> None:
    """A ``console`` block shows prompts and output, which bash cannot run as is."""
    running = [block.name for block in RUNNABLE if block.info == "console"]
    assert running == [], "mark these <!-- illustrative: why --> or make them ```bash"


def test_there_are_commands_to_run() -> None:
    assert len(RUNNABLE) >= 20
    assert sum(block.page == "docs/workshop.md" for block in RUNNABLE) >= 18


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("docs-commands")
    (folder / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    env = {
        **os.environ,
        "HOME": str(folder),
        "MQLSIM_CACHE_DIR": str(folder / ".cache-mqlsim"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return folder, env


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_shell_block_runs(block: Block, sandbox: tuple[Path, dict[str, str]]) -> None:
    folder, env = sandbox
    completed = subprocess.run(
        ["bash", "-e", "-c", block.body],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == block.exit_code, (
        f"{block.name} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
    )
    assert "Traceback" not in completed.stderr
