"""Fuzzing `mqlsim replay` with mutated inputs (issue 16): activity logs, outcomes files,
mapping files and lead snapshots, alone and with `--against` and gates.

Every case must end with exit 0 (stderr: warnings only) or exit 2 (stderr: ``mqlsim: error:``
lines only), never a traceback, within a time bound; with exit 2 nothing is written, with exit 0
both output files are, and no output holds a non-finite number. The cases are drawn from a
fixed seed: ``MQLSIM_FUZZ_CASES`` (default 300) sets how many, ``MQLSIM_FUZZ_SEED`` another
draw.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from mqlsim.cli import main
from mqlsim.experiments.tabular import MAX_FIELD_CHARS

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
LOOSE = str(ROOT / "scenarios" / "loose.toml")
CASES = int(os.environ.get("MQLSIM_FUZZ_CASES", "300"))
SEED = int(os.environ.get("MQLSIM_FUZZ_SEED", "20261207"))
#: The longest one case may take (seconds): a hang fails the test.
TIME_BOUND = 30

LOG = """lead_id,timestamp,activity,value,source,job_level,region
a,2024-03-01T09:00:00Z,web_visit,12,ads,manager,europe
a,2024-03-01T09:05:00+01:00,pricing_page,,ads,,
a,2024-03-02 10:00,demo_request,,ads,,
b,2024-03-01,blog_post,3.5,seo,student,apac
b,2024-03-04T08:00:00.123456789Z,pricing_page,,seo,,
c,2024-03-02,trial_signup,,events,vp,north_america
c,2024-03-03,product_usage,60,events,,
c,2024-03-04,product_usage,30,events,,
d,2024-03-05,deal_won,5000,ads,,
"""
OUTCOMES = (
    "Record ID,Create Date,Original Source,Became a Marketing Qualified Lead Date,"
    "Became a Sales Qualified Lead Date,Became a Customer Date,Recent Deal Amount\n"
    """a,2024-02-28,ads,2024-03-02,2024-03-04,2024-03-20,1000
b,2024-02-28,seo,,,,
c,2024-03-01,events,2024-03-05,2024-03-06,yes,250.5
e,2024-03-01,ads,,,1,
"""
)
MAPPING = """[activities]
deal_won = "customer"
"""
SNAPSHOT = """id,visits,seconds,source,won
p1,3,600,ads,1
p2,0,0,seo,0
p3,,900,ads,yes
"""
SNAPSHOT_MAPPING = """leakage = ["notes"]
[columns]
lead_id = "id"
[snapshot]
counts = { web_visit = "visits" }
values = { web_visit = "seconds" }
[outcomes]
customer = "won"
"""
STAMPS = [
    "1700-03-02T09:00:00Z", "0001-01-01", "2024-13-01", "2024-02-30", "2024-02-29T24:00",
    "2024-03-01T10:00:00+25:00", "9999-12-31T23:59:59Z", "", "2024-03-01T10:00:00.1234567891Z",
    "yesterday", "2024-03-01T10:00Z", "2200-01-01", "1969-12-31T23:59:59-00:30",
]  # fmt: skip
NUMBERS = ["nan", "inf", "-inf", "1e999", "-0", "0x10", "1,5", "1e-400", "", " 7 ", "+.5", "€3"]
SNIPPETS = [
    b"\xff", b"\xfe\xff", b"\x00", b'"', b",", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf",
    b'"\n"', b",,,,,,,,", b"\x1b[31m", "é".encode(), "\u2028".encode(), b"\\",
]  # fmt: skip


def mutate(rng: np.random.Generator, text: str, kind: str) -> bytes:
    """``text`` with one to three random mutations of a CSV file."""
    data = text.encode()
    for _ in range(int(rng.integers(1, 4))):
        choice = int(rng.integers(9))
        lines = data.split(b"\n")
        if choice == 0:  # another line ending
            data = rng.choice([b"\r", b"\r\n", b"\n\n"]).join(lines)
        elif choice == 1:  # stray bytes somewhere
            at = int(rng.integers(len(data) + 1))
            data = data[:at] + SNIPPETS[int(rng.integers(len(SNIPPETS)))] + data[at:]
        elif choice == 2 and len(lines) > 2:  # a field replaced by an odd timestamp or number
            row = int(rng.integers(1, len(lines) - 1))
            fields = lines[row].split(b",")
            column = int(rng.integers(len(fields)))
            pool = STAMPS if rng.random() < 0.5 else NUMBERS
            fields[column] = pool[int(rng.integers(len(pool)))].encode()
            lines[row] = b",".join(fields)
            data = b"\n".join(lines)
        elif choice == 3 and len(lines) > 2:  # a row with fields added or removed
            row = int(rng.integers(1, len(lines) - 1))
            lines[row] = lines[row] + b",x" if rng.random() < 0.5 else lines[row].rsplit(b",", 2)[0]
            data = b"\n".join(lines)
        elif choice == 4:  # the header mangled
            header = lines[0].split(b",")
            header[int(rng.integers(len(header)))] = rng.choice([b"", b"lead_id", b"x", b'"'])
            data = b"\n".join([b",".join(header), *lines[1:]])
        elif choice == 5:  # truncated
            data = data[: int(rng.integers(len(data) + 1))]
        elif choice == 6 and rng.random() < 0.1:  # a field past the limit
            data += b'z,"' + b"y" * (MAX_FIELD_CHARS + 10) + b"\n"
        elif choice == 7:  # rows repeated (a lead many times)
            data += b"\n".join(lines[1:] * int(rng.integers(2, 20)))
        elif choice == 8 and kind == "snapshot":  # an absurd count
            data += (
                b"\np9," + rng.choice([b"1e9", b"-1", b"2.5", b"100001", b"99999"]) + b",1,x,0\n"
            )
    return data


def case_files(rng: np.random.Generator, folder: Path) -> list[str]:
    """The files and arguments of one case."""
    kind = str(rng.choice(["log", "log", "outcomes", "mapping", "snapshot", "against"]))
    log = folder / "input.csv"
    args = ["replay", str(log), "--policy", BASELINE, "--resamples", "20"]
    if kind == "snapshot":
        log.write_bytes(mutate(rng, SNAPSHOT, kind))
        mapping = folder / "mapping.toml"
        mapping.write_text(SNAPSHOT_MAPPING)
        return [*args, "--map", str(mapping)]
    log.write_bytes(mutate(rng, LOG, kind) if kind == "log" or rng.random() < 0.5 else LOG.encode())
    if kind in ("outcomes", "against"):
        outcomes = folder / "outcomes.csv"
        outcomes.write_bytes(
            mutate(rng, OUTCOMES, kind) if rng.random() < 0.7 else OUTCOMES.encode()
        )
        args += ["--outcomes", str(outcomes)]
    if kind == "mapping" or rng.random() < 0.3:
        mapping = folder / "mapping.toml"
        text = MAPPING.encode()
        if kind == "mapping":
            text = mutate(rng, MAPPING, kind)
        mapping.write_bytes(text)
        args += ["--map", str(mapping)]
    if kind == "against":
        gate = rng.choice(["mqls > +5%", "deals_won < -1", "mql_precision < 0.2", "mqls > 1e999"])
        args += ["--against", LOOSE, "--fail-if", str(gate)]
    return args


class Hang(Exception):
    """A case ran past the time bound."""


@contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def no_non_finite(name: str) -> None:
    raise AssertionError(f"{name} in JSON output")


def check_case(case: int, args: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """Run one case and check how it ended; its exit code."""
    try:
        with time_bound(TIME_BOUND):
            code = main([*args, "--format", "json", "--out", str(out)])
    except Hang:
        pytest.fail(f"case {case} ran past {TIME_BOUND} s: {args}")
    printed = capsys.readouterr()
    context = f"case {case}: {args}\n{printed.err[-2000:]}"
    assert "Traceback" not in printed.err and "Exception ignored" not in printed.err, context
    lines = printed.err.splitlines()
    if code == 2:
        assert printed.out == "", context
        assert lines and all(line.startswith("mqlsim: error: ") for line in lines), context
        assert not out.exists(), context
        return code
    assert code in (0, 1), context
    allowed = ("mqlsim: warning: ", "mqlsim: gate failed: ")
    assert all(line.startswith(allowed) for line in lines), context
    written = (out / "replay.json").read_text()
    assert written == printed.out, context
    document = json.loads(written, parse_constant=no_non_finite)
    for value in walk(document):
        assert not (isinstance(value, float) and not math.isfinite(value)), context
    assert (out / "replay.csv").is_file(), context
    if code == 1:
        assert any(line.startswith("mqlsim: gate failed: ") for line in lines), context
    return code


def walk(value: object) -> Iterator[object]:
    """Every scalar in a JSON document."""
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield value


def test_fuzzed_replay_inputs_exit_cleanly(tmp_path, capsys) -> None:
    rng = np.random.default_rng(SEED)
    codes = {0: 0, 1: 0, 2: 0}
    for case in range(CASES):
        folder = tmp_path / str(case)
        folder.mkdir()
        codes[check_case(case, case_files(rng, folder), folder / "out", capsys)] += 1
    # The draw exercises both kinds of ending, not only one.
    assert codes[0] + codes[1] > CASES // 10 and codes[2] > CASES // 10, codes
