"""What `mqlsim replay` does with awkward CSV files (issue 16, item 9): line endings, bytes
that are not UTF-8, impossible years, quoted line breaks, huge fields, huge files. Every
problem is named by its true line; nothing crashes; memory does not grow with the file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mqlsim.cli import main
from mqlsim.experiments.replay import read_events
from mqlsim.experiments.tabular import MAX_FIELD_CHARS

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
HEADER = "lead_id,timestamp,activity"


def replay(capsys, log: Path, *args: str) -> tuple[int, str, str]:
    code = main(["replay", str(log), "--policy", BASELINE, "--format", "json", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def problems(out: str) -> list[str]:
    return json.loads(out)["summary"]["problems"]


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_any_line_ending_is_a_line(tmp_path, capsys, ending) -> None:
    """A lone carriage return (old Mac, some exports) ends a line like the others."""
    lines = [
        HEADER,
        "a,2024-03-01T09:00:00Z,demo_request",
        "b,2024-03-01,web_vist",
        "c,2024-03-02,web_visit",
    ]
    log = tmp_path / "events.csv"
    log.write_bytes(ending.join(lines).encode() + ending.encode())
    code, out, err = replay(capsys, log)
    assert code == 0 and "Traceback" not in err
    assert json.loads(out)["summary"]["leads"] == 2
    assert problems(out)[0].startswith(f"{log}:3: unknown activity 'web_vist'")


def test_mixed_line_endings_count_every_line(tmp_path, capsys) -> None:
    log = tmp_path / "events.csv"
    log.write_bytes(
        b"lead_id,timestamp,activity\r\na,2024-03-01,web_visit\rb,2024-03-01,web_visit\n"
        b"c,2024-03-01,nope\r\nd,2024-03-01,web_visit\n"
    )
    _, out, _ = replay(capsys, log)
    assert problems(out)[0].startswith(f"{log}:4: unknown activity 'nope'")


def test_a_row_with_a_wrong_field_count_and_bad_bytes_is_one_skipped_row(tmp_path, capsys) -> None:
    log = tmp_path / "events.csv"
    log.write_bytes(
        HEADER.encode()
        + b"\na,2024-03-01T09:00:00Z,demo_request"
        + b"\nb\xff,2024-03-01,web_visit,extra"  # line 3: 4 fields and not UTF-8
        + b"\nc\xfe,2024-03-01,web_visit"  # line 4: not UTF-8
        + b"\nd,2024-03-01,web_visit,\xff\xfe"  # line 5: 4 fields
        + b"\ne,2024-03-01,web_visit\n"
    )
    code, out, err = replay(capsys, log)
    assert code == 0
    assert "Exception ignored" not in err and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("mqlsim: warning:")
    assert problems(out) == [
        f"{log}:3: expected 3 fields, found 4",
        f"{log}:4: lead_id is not UTF-8 text; save the file as UTF-8",
        f"{log}:5: expected 3 fields, found 4",
    ]
    summary = json.loads(out)["summary"]
    assert (summary["rows_read"], summary["rows_used"], summary["rows_skipped"]) == (5, 2, 3)
    code, out, err = replay(capsys, log, "--strict")
    assert code == 2 and out == "" and len(err.splitlines()) == 3


def test_bytes_that_are_not_utf8_in_a_column_not_read_are_harmless(tmp_path) -> None:
    log = tmp_path / "events.csv"
    log.write_bytes(HEADER.encode() + b",note\na,2024-03-01,web_visit,caf\xe9\n")
    file = read_events(log)
    assert file.problem_count == 0 and len(file.events) == 1


@pytest.mark.parametrize(
    "stamp",
    ["1700-03-02T09:00:00Z", "0001-01-01", "1969-12-31T23:00:00", "2262-04-12", "9999-12-31"],
)
def test_a_year_out_of_range_is_a_problem_not_a_silent_loss(tmp_path, capsys, stamp) -> None:
    """A mistyped year once overflowed nanoseconds and silently lost a demo request."""
    log = tmp_path / "events.csv"
    log.write_text(f"{HEADER}\na,2024-03-01T09:00:00Z,web_visit\na,{stamp},demo_request\n")
    code, out, _ = replay(capsys, log)
    assert code == 0
    year = stamp[:4]
    assert problems(out) == [
        f"{log}:3: timestamp {stamp!r}: year {year} is outside 1970 to 2199 (a typo or an unset"
        " date?)"
    ]
    summary = json.loads(out)["summary"]
    assert summary["rows_used"] == 1 and summary["first_event"] == "2024-03-01T09:00:00Z"
    assert replay(capsys, log, "--strict")[0] == 2


def test_the_years_at_both_ends_are_accepted(tmp_path) -> None:
    log = tmp_path / "events.csv"
    log.write_text(
        f"{HEADER}\na,1970-01-01T00:30:00+01:00,web_visit\na,2199-12-31T23:59:59Z,web_visit\n"
    )
    file = read_events(log)
    assert file.problem_count == 0
    assert file.event_ns is not None and file.event_ns[0] == -30 * 60 * 10**9


def test_line_numbers_after_quoted_line_breaks(tmp_path, capsys) -> None:
    log = tmp_path / "events.csv"
    log.write_bytes(
        b'lead_id,timestamp,activity,"note\nwith a break"\n'  # lines 1-2
        b'a,2024-03-01,web_visit,"two\r\nlines"\n'  # lines 3-4
        b'"b\rc",2024-03-01,web_visit,\n'  # lines 5-6 (a lone CR inside quotes)
        b"\n"  # line 7: blank
        b"d,2024-03-01,nope,x\n"  # line 8
        b'e,yesterday,web_visit,"x\n\ny"\n'  # lines 9-11
        b"f,2024-03-01,web_visit,x,extra\n"  # line 12
    )
    file = read_events(log)
    assert [line for line, _ in file.problems] == [8, 9, 12]
    assert file.lead_ids == ["a", "b\rc"]


def random_log(rng: np.random.Generator, path: Path) -> int:
    """A log with quoted line breaks of every kind, blank lines and one bad row; returns the
    line the bad row starts on (counted while writing)."""
    breaks = ["\n", "\r\n", "\r"]
    line = 1
    chunks = ['lead_id,timestamp,activity,"no' + breaks[rng.integers(3)] + 'te"\n']
    line += 1 + 1  # the header spans two lines
    bad_at = int(rng.integers(1, 40))
    bad_line = 0
    for row in range(60):
        if rng.random() < 0.1:
            chunks.append("\n")
            line += 1
        note = "".join(
            f"x{breaks[rng.integers(3)]}" if rng.random() < 0.3 else "x"
            for _ in range(int(rng.integers(1, 4)))
        )
        activity = "nope" if row == bad_at else "web_visit"
        if row == bad_at:
            bad_line = line
        chunks.append(f'l{row % 7},2024-03-{1 + row % 28:02d},{activity},"{note}"\n')
        line += 1 + note.count("\n") + note.count("\r") - note.count("\r\n")
    path.write_bytes("".join(chunks).encode())
    return bad_line


def test_line_numbers_are_exact_in_a_hundred_random_logs(tmp_path) -> None:
    """The issue counted 76 right of 102 checks; every one must be right."""
    rng = np.random.default_rng(20261207)
    for case in range(102):
        path = tmp_path / f"log{case}.csv"
        expected = random_log(rng, path)
        file = read_events(path)
        assert [line for line, _ in file.problems] == [expected], case


def test_a_field_over_the_limit_names_its_line(tmp_path, capsys) -> None:
    """An unclosed quote swallows the rest of the file into one field: stop, naming the line
    the row starts on, instead of reading on without a line or running out of memory."""
    log = tmp_path / "events.csv"
    rows = "".join("c,2024-03-01,web_visit\n" for _ in range(MAX_FIELD_CHARS // 20))
    log.write_text(f'{HEADER}\na,2024-03-01,web_visit\nb,"2024-03-01,web_visit\n{rows}')
    code, out, err = replay(capsys, log, "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err == (
        f"mqlsim: error: {log}:3: a field longer than {MAX_FIELD_CHARS:,} characters starts in"
        " the row on this line (a quote left open?); nothing after it was read\n"
    )
    assert not (tmp_path / "out").exists()


MEASURE = textwrap.dedent(
    """
    import sys, tracemalloc
    import numpy, pyarrow, pyarrow.compute, pyarrow.csv
    from mqlsim.experiments.replay import read_events
    tracemalloc.start()
    file = read_events(sys.argv[1])
    peak = tracemalloc.get_traced_memory()[1] + pyarrow.default_memory_pool().max_memory()
    print(peak, len(file.events))
    """
)


def synthetic_log(path: Path, rows: int) -> None:
    """``rows`` events of 4,000 leads over a year, with fit columns (about 90 bytes a row)."""
    rng = np.random.default_rng(rows)
    lead = rng.integers(0, 4000, rows)
    seconds = rng.integers(0, 365 * 86_400, rows)
    stamps = np.datetime_as_string(
        np.datetime64("2025-01-01T00:00:00") + seconds.astype("timedelta64[s]"), timezone="UTC"
    )
    activity = np.array(["web_visit", "pricing_page", "email_open", "blog_post"])[lead % 4]
    with open(path, "w") as handle:
        handle.write("lead_id,timestamp,activity,job_level,company_size,industry,region\n")
        for row in range(rows):
            handle.write(
                f"lead-{lead[row]},{stamps[row]},{activity[row]},manager,51-200,software,europe\n"
            )


def test_memory_grows_with_the_rows_kept_not_with_the_file(tmp_path) -> None:
    """Allocations (Python, numpy and pyarrow's pool) while reading a log of N and of 4N rows:
    the extra rows cost their compact arrays and the sort (about 19 bytes a row, the file
    itself about 90); the reader's own buffers do not grow. The pyarrow reader this replaced
    took about 147 bytes a row here."""
    peaks = {}
    for rows in (40_000, 160_000):
        path = tmp_path / f"log{rows}.csv"
        synthetic_log(path, rows)
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert int(out[1]) == rows
        peaks[rows] = int(out[0])
    per_row = (peaks[160_000] - peaks[40_000]) / 120_000
    assert per_row < 64, f"{per_row:.0f} bytes per row"
