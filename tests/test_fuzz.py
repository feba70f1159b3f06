"""A seeded fuzz test of everything a user types or passes around (issue 16): mutated scenario
files through `validate` and `run`, `--set` values, and recorded event logs through `replay`.

Every case must end with exit code 0, or exit code 2 with only ``mqlsim: error:`` lines: no
traceback, no hang past :data:`CASE_SECONDS`, nothing half-written (an output folder holds all
its files or does not exist) and no non-finite number in any output (JSON is strict RFC 8259;
tables say ``n/a``). The cases are drawn from a seeded generator, so a failure names the seed
and the case number that reproduce it.

CI runs :data:`DEFAULT_CASES` cases of each kind (well under a minute in all); a longer campaign:
``MQLSIM_FUZZ_CASES=5000 MQLSIM_FUZZ_SEED=7 python -m pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mqlsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = 300
CASES = int(os.environ.get("MQLSIM_FUZZ_CASES", DEFAULT_CASES))
SEED = int(os.environ.get("MQLSIM_FUZZ_SEED", 20261122))
#: No case may take longer (a hang, or a run that should have been refused for its size).
CASE_SECONDS = 60
#: Runs are short and small, so the fuzz stays quick; a mutated size is judged by the estimate.
RUN_OPTIONS = [
    "--set",
    "scenario.horizon_days=30",
    "--set",
    "scenario.warmup_days=5",
    "--replications",
    "1",
    "--workers",
    "1",
    "--max-memory",
    "512MB",
]
#: Values that have broken parsers and models before: non-finite and huge numbers, wrong types,
#: deep nesting, control characters, hexadecimal, empty things.
INTERESTING: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    0,
    -1,
    0.0,
    -0.0,
    1e-300,
    1e9,
    1e300,
    2**63,
    2**70,
    -(2**64),
    True,
    False,
    "",
    "x",
    "score",
    "this:P",
    "../../etc/shadow",
    "\x1b[2J\x1b]0;pwned\x07",
    "\u202e",
    "a" * 10_000,
    [],
    [1, 2],
    ["score"],
    [[[[[[[[[[1]]]]]]]]]],
    {},
    {"kind": "score"},
    {"kind": []},
    {"a": {"b": {"c": {"d": 1}}}},
]
SET_TEXTS = [
    "nan",
    "inf",
    "-inf",
    "1e400",
    "0x10",
    "0o17",
    "0b101",
    "1_000",
    "[]",
    "{}",
    "[[[[]]]]",
    "{ kind = [] }",
    '"',
    "'",
    "[1,",
    "{a=",
    "true",
    "2024-01-01",
    "09:30:00",
    "1979-05-27T07:32:00Z",
    "x" * 300,
    "[" * 200 + "]" * 200,
    "{a=" * 100 + "1" + "}" * 100,
]
_NON_FINITE = re.compile(r"(?<![\w.])(?:-?inf(?:inity)?|nan)(?![\w.])", re.IGNORECASE)


@dataclass
class Outcome:
    code: int | str
    out: str
    err: str


class Hang(Exception):
    """A case ran longer than :data:`CASE_SECONDS`."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def command(argv: list[str]) -> Outcome:
    """``mqlsim ARGV`` in this process: its exit code (or the exception that escaped), output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with time_limit(CASE_SECONDS):
                code: int | str = main(argv)
        except SystemExit as exit_:
            code = f"SystemExit({exit_.code})"
        except BaseException as error:
            code = f"{type(error).__name__}: {str(error)[:200]}"
    return Outcome(code, out.getvalue(), err.getvalue())


def strict_json(text: str) -> Any:
    """Parse RFC 8259 JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def problems_with(outcome: Outcome, out_dir: Path | None = None, fmt: str = "table") -> list[str]:
    """What is wrong with a case's outcome (empty when it kept every promise)."""
    found = []
    if outcome.code not in (0, 2):
        found.append(f"exit {outcome.code}")
    if "Traceback" in outcome.err + outcome.out:
        found.append("a traceback")
    lines = outcome.err.splitlines()
    allowed = ("mqlsim: error: ", "mqlsim: warning: ")
    if outcome.code == 2 and not lines:
        found.append("exit 2 without an error line")
    if any(not line.startswith(allowed) for line in lines):
        found.append(f"a stderr line that is not an error or warning: {lines}")
    if outcome.code == 0 and any(line.startswith("mqlsim: error: ") for line in lines):
        found.append("an error line with exit 0")
    if outcome.code == 0 and fmt == "json":
        try:
            strict_json(outcome.out)
        except ValueError as error:
            found.append(f"stdout is not strict JSON: {error}")
    if outcome.code == 0 and fmt == "table":
        for row in outcome.out.splitlines()[1:]:  # the first line names the scenario
            if _NON_FINITE.search(row):
                found.append(f"a non-finite number in the table: {row!r}")
    if out_dir is not None:
        found += half_written(out_dir, outcome.code == 0)
    return found


def half_written(out_dir: Path, succeeded: bool) -> list[str]:
    if not succeeded:
        return [f"{out_dir} exists after a failure"] if out_dir.exists() else []
    names = sorted(path.name for path in out_dir.iterdir())
    if names != ["replications.csv", "results.json"]:
        return [f"{out_dir} holds {names}"]
    try:
        document = strict_json((out_dir / "results.json").read_text(encoding="utf-8"))
    except ValueError as error:
        return [f"results.json is not strict JSON: {error}"]
    numbers = list(_numbers(document["metrics"]))
    if not numbers or not all(math.isfinite(value) for value in numbers):
        return ["results.json holds a non-finite metric"]
    if re.search(r"(?i)\binf", (out_dir / "replications.csv").read_text(encoding="utf-8")):
        return ["replications.csv holds an infinity"]
    return []


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


# --- generating scenario files ------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (nan and inf as TOML spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(key)} = {toml_value(item)}" for key, item in value.items())
        return "{ " + items + " }" if items else "{}"
    return json.dumps(str(value))


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in data.items())


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value in ``value`` (tables and arrays included)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaves(item, (*path, index))
    return found


def replace_at(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def mutate_value(rng: random.Random, data: dict[str, Any]) -> str:
    """A value somewhere in the file (or a new key) replaced by an interesting one."""
    targets = leaves(data) or [("scenario",)]
    path = rng.choice(targets)
    if rng.random() < 0.1:
        path = (*path[:-1], rng.choice(["kind", "extends", "typo_key", "params", "rules"]))
    value = rng.choice(INTERESTING)
    try:
        old: Any = data
        for part in path:
            old = old[part]
    except (TypeError, IndexError, KeyError):
        old = None
    if isinstance(old, int | float) and not isinstance(old, bool) and rng.random() < 0.5:
        # Often still valid: the runs see extreme but accepted values.
        value = type(old)(old * rng.choice([0, 10, 1000, 1e-3, -1]) if old else 1e6)
    try:
        replace_at(data, path, value)
    except (TypeError, IndexError, KeyError):
        data[str(path[0])] = value
    return toml_document(data)


def mutate_text(rng: random.Random, text: str) -> str:
    """The file's text cut, spliced, or given odd bytes and lines."""
    choice = rng.randrange(8)
    if choice == 0:
        return text[: rng.randrange(len(text) + 1)]
    lines = text.splitlines()
    index = rng.randrange(len(lines) + 1)
    if choice == 1 and lines:
        del lines[min(index, len(lines) - 1)]
    elif choice == 2 and lines:
        lines.insert(index, rng.choice(lines))
    elif choice == 3:
        extends = rng.choice(
            ['"/dev/zero"', '"s.toml"', '"missing.toml"', '"../../etc/passwd"', "3", "[]"]
        )
        lines.insert(0, f"extends = {extends}")
    elif choice == 4:
        depth = rng.choice([40, 400, 2000])
        lines.append("deep = " + "[" * depth + "]" * depth)
    elif choice == 5:
        lines.insert(index, rng.choice(["[policy]", "[[population.channels]]", "[sales", "x ="]))
    elif choice == 6:
        position = rng.randrange(len(text) + 1)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        return text[:position] + junk.decode("latin-1") + text[position:]
    else:
        return text.replace("=", rng.choice(["==", "= =", "="]), 1)
    return "\n".join(lines) + "\n"


def scenario_case(rng: random.Random, corpus: dict[str, str]) -> str:
    name = rng.choice(sorted(corpus))
    text = corpus[name]
    if rng.random() < 0.6:
        return mutate_value(rng, tomllib.loads(text))
    return mutate_text(rng, text)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The shipped scenarios, so mutated files can extend baseline.toml as theirs do."""
    for path in (ROOT / "scenarios").glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def run_cases(count: int, case: Callable[[random.Random, int], list[str]], kind: str) -> list[str]:
    """``count`` cases; a line per broken promise, naming the seed and case to reproduce."""
    failures = []
    for index in range(count):
        rng = random.Random(f"{SEED}:{kind}:{index}")
        failures += [f"{kind} case {index} (seed {SEED}): {line}" for line in case(rng, index)]
    return failures


def test_mutated_scenario_files_through_validate_and_run(folder: Path) -> None:
    corpus = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.toml")}
    runs = 0

    def case(rng: random.Random, index: int) -> list[str]:
        nonlocal runs
        path = folder / f"fuzz{index}.toml"
        text = scenario_case(rng, corpus)
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        checked = command(["validate", str(path)])
        found = [f"validate: {line}" for line in problems_with(checked)]
        if checked.code == 0 or rng.random() < 0.2:
            runs += 1
            out = folder / f"out{index}"
            fmt = rng.choice(["table", "json", "markdown"])
            argv = ["run", str(path), *RUN_OPTIONS, "--out", str(out), "--format", fmt]
            ran = command(argv)
            found += [f"run: {line}" for line in problems_with(ran, out, fmt)]
        return [f"{problem}; input: {text[:300]!r}" for problem in found]

    failures = run_cases(CASES, case, "scenario file")
    assert not failures, "\n".join(failures[:10])
    assert runs >= CASES // 10  # enough mutated files got as far as a run


def test_set_values_through_run(folder: Path) -> None:
    baseline = folder / "baseline.toml"
    keys = [
        ".".join(str(part) for part in path)
        for path in leaves(tomllib.loads(baseline.read_text(encoding="utf-8")))
        if all(isinstance(part, str) for part in path)
    ]
    keys += ["policy", "nurture.kind", "policy.rules", "scenario", "unknown.key", "a.b.c"]

    def case(rng: random.Random, index: int) -> list[str]:
        sets = []
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(keys)
            if rng.random() < 0.5:
                value = rng.choice(SET_TEXTS)
            else:
                value = toml_value(rng.choice(INTERESTING))
            if rng.random() < 0.05:
                key = rng.choice(["", ".", "a..b", '"x', "policy."])
            sets += ["--set", f"{key}={value}" if rng.random() > 0.03 else key]
        out = folder / f"set{index}"
        fmt = rng.choice(["table", "json"])
        argv = ["run", str(baseline), *sets, *RUN_OPTIONS, "--out", str(out), "--format", fmt]
        outcome = command(argv)
        return [f"{line}; --set: {sets[1::2]!r}"[:500] for line in problems_with(outcome, out, fmt)]

    failures = run_cases(CASES, case, "--set")
    assert not failures, "\n".join(failures[:10])


def test_mutated_event_logs_through_replay(folder: Path) -> None:
    header = "lead_id,timestamp,activity,value,job_level"
    good = [
        "ann,2024-03-01T09:00:00,web_visit,,manager",
        "ann,2024-03-02,pricing_page,,manager",
        "bob,2024-03-01 10:00,demo_request,,vp",
        'carl,"2024-03-05",form_fill,1,director',
    ]
    odd = [
        "\r",
        "\r\n",
        "\x00",
        "\xff\xfe",
        '"',
        ",,,,,,,",
        "1700-01-01",
        "9999-12-31T23:59:59",
        "nan",
        "inf",
        "\x1b[2J",
        "x" * 5000,
        "é",
    ]

    def case(rng: random.Random, index: int) -> list[str]:
        rows = [header, *rng.sample(good, rng.randrange(1, len(good) + 1))]
        for _ in range(rng.randrange(1, 4)):
            row = rng.randrange(len(rows))
            position = rng.randrange(len(rows[row]) + 1)
            rows[row] = rows[row][:position] + rng.choice(odd) + rows[row][position:]
        log = folder / f"log{index}.csv"
        data = rng.choice(["\n", "\r\n", "\r"]).join(rows) + "\n"
        log.write_bytes(data.encode("utf-8", "surrogateescape"))
        argv = ["replay", str(log), "--policy", str(folder / "baseline.toml"), "--format"]
        fmt = rng.choice(["table", "json", "csv"])
        strict = ["--strict"] if rng.random() < 0.3 else []
        outcome = command([*argv, fmt, *strict])
        found = problems_with(outcome, None, fmt if fmt == "json" else "csv")
        return [f"{line}; log: {data[:200]!r}" for line in found]

    failures = run_cases(CASES // 2, case, "replay log")
    assert not failures, "\n".join(failures[:10])
