"""`mqlsim replay`: the simulator's own event stream replays to the same MQL decisions; bad rows,
`--strict`, formats, atomic outputs, fit columns and time zones."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import mqlsim
from mqlsim.cli import main
from mqlsim.cli.terminal import rich_text
from mqlsim.core.vocabulary import (
    ACTIVITIES,
    ACTIVITY_CODE,
    FIT_ATTRIBUTES,
    UNKNOWN_GRADE,
    UNKNOWN_GRADE_LABEL,
)
from mqlsim.experiments import tabular
from mqlsim.experiments.replay import read_events, replay_file
from mqlsim.model.engine import ReplicationResult, run_replication
from mqlsim.model.population import observed_grade_of
from mqlsim.policies.base import MISSING_CODE
from mqlsim.render import replay as replay_render
from mqlsim.scenario.loading import load_scenario

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml"
SMALL = ["scenario.horizon_days=150", "scenario.warmup_days=0", "population.leads_per_day=20"]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
HEADER = "lead_id,timestamp,activity"


def export(result: ReplicationResult, path: Path) -> None:
    """Write a run's observed events as a recorded log, the way a CRM would export them.

    Times are microseconds after :data:`EPOCH`, written in three notations in turn (UTC with
    ``Z``, +02:00 local time, no zone); fit values only on each lead's first row (empty where
    the lead did not disclose them).
    """
    events = result.observed_events()
    micros = np.round(events.time * 86_400e6).astype(np.int64)
    fit = result.population.fit
    plus_two = timezone(timedelta(hours=2))
    seen: set[int] = set()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HEADER.split(","), "value", *FIT_ATTRIBUTES])
        rows = zip(events.lead.tolist(), micros.tolist(), events.activity.tolist(), strict=True)
        for row, (lead, micro, code) in enumerate(rows):
            moment = EPOCH + timedelta(microseconds=micro)
            stamp = (
                moment.isoformat().replace("+00:00", "Z"),
                moment.astimezone(plus_two).isoformat(),
                moment.replace(tzinfo=None).isoformat(),
            )[row % 3]
            codes = [-1 if lead in seen else fit[a][lead] for a in FIT_ATTRIBUTES]
            values = [
                v[c] if c >= 0 else "" for v, c in zip(FIT_ATTRIBUTES.values(), codes, strict=True)
            ]
            seen.add(lead)
            writer.writerow([f"lead-{lead}", stamp, ACTIVITIES[code], "", *values])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplicationResult, Path]:
    """A small baseline run and its observed event stream as a CSV log."""
    result = run_replication(load_scenario(BASELINE, SMALL), 0)
    path = tmp_path_factory.mktemp("replay") / "observed.csv"
    export(result, path)
    return result, path


def test_replaying_the_simulators_own_events_gives_its_first_mqls(simulated) -> None:
    result, path = simulated
    file = read_events(path)
    out = replay_file(file, load_scenario(BASELINE, SMALL))
    leads = np.array([int(lead_id.removeprefix("lead-")) for lead_id in file.lead_ids])

    # every lead's first MQL, existing leads' before day 0 included (timestamps before EPOCH)
    first = np.flatnonzero(np.isfinite(result.first_mql_time))
    expected = dict(zip(first.tolist(), result.first_mql_time[first].tolist(), strict=True))
    assert any(time < 0 for time in expected.values())
    got = dict(zip(leads[out.mql].tolist(), out.mql_ns[out.mql].tolist(), strict=True))
    assert len(expected) > 100
    assert got.keys() == expected.keys()
    epoch_ns = int(EPOCH.timestamp()) * 10**9
    worst = max(abs(got[lead] - epoch_ns - time * 86_400e9) for lead, time in expected.items())
    assert worst <= 1_000  # ns: timestamps were written to the microsecond

    np.testing.assert_array_equal(out.grade, result.population.observed_grade[leads])
    assert all(reason.startswith("score ") for reason in np.array(out.reasons)[out.mql])
    # The stream holds answers to nurture touches sent before the MQL: the path that must match.
    events = file.events
    answered = np.isin(events.activity, [ACTIVITY_CODE["email_open"], ACTIVITY_CODE["email_click"]])
    mql_time = np.where(out.mql, out.mql_ns, np.iinfo(np.int64).max)
    assert np.any(answered & (file.event_ns <= mql_time[events.lead]))


def test_the_command_writes_the_same_decisions_as_csv_and_json(simulated, tmp_path, capsys) -> None:
    result, path = simulated
    sets = [arg for key_value in SMALL for arg in ("--set", key_value)]
    code = main(["replay", str(path), "--policy", str(BASELINE), *sets, "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    assert "MQL rate" in printed.out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "replay.csv").read_text())))
    document = json.loads((tmp_path / "replay.json").read_text())
    first = np.flatnonzero(np.isfinite(result.first_mql_time))
    expected = {f"lead-{lead}" for lead in first.tolist()}
    assert {row["lead_id"] for row in rows if row["mql"] == "yes"} == expected
    assert {row["lead_id"] for row in document["leads"] if row["mql"]} == expected
    summary = document["summary"]
    assert summary["mqls"] == len(expected)
    assert summary["leads"] == len(rows)
    assert summary["rows_used"] == len(result.observed_events())
    assert summary["rows_skipped"] == summary["fit_values_ignored"] == 0
    waits = [float(row["time_to_mql_days"]) for row in rows if row["mql"] == "yes"]
    assert summary["time_to_mql_days_mean"] == pytest.approx(np.mean(waits))
    assert summary["time_to_mql_days_median"] == pytest.approx(np.median(waits))


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args, "--policy", str(BASELINE)])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


BAD_LOG = [
    HEADER,  # line 1
    "a,2024-03-01T09:00:00Z,demo_request",
    "",  # a blank line: ignored, but it still counts as a line
    "b,2024-03-01T10:00:00Z,web_visit,extra",  # line 4: one field too many
    ",2024-03-01T10:00:00Z,web_visit",  # line 5
    "c,2024-02-30T10:00:00Z,web_visit",  # line 6
    "c,yesterday,web_visit",  # line 7
    "c,2024-03-02T10:00:00Z,web_vist",  # line 8
    "c,2024-03-02T11:00:00Z,pricing_page",
]


def test_bad_rows_are_skipped_counted_and_reported_with_their_line_numbers(
    tmp_path, capsys
) -> None:
    log = write(tmp_path / "events.csv", BAD_LOG)
    code, out, err = run(capsys, str(log), "--format", "json")
    assert code == 0
    summary = json.loads(out)["summary"]
    assert summary["problems"] == [
        f"{log}:4: expected 3 fields, found 4",
        f"{log}:5: lead_id is empty",
        f"{log}:6: timestamp '2024-02-30T10:00:00Z' is not an ISO-8601 date and time"
        " (e.g. 2024-03-01T14:30:00Z)",
        f"{log}:7: timestamp 'yesterday' is not an ISO-8601 date and time"
        " (e.g. 2024-03-01T14:30:00Z)",
        f"{log}:8: unknown activity 'web_vist' (did you mean 'web_visit'?): 1 row, first on this"
        " line, skipped; map it in a mapping file's [activities]",
    ]
    assert (summary["rows_read"], summary["rows_used"], summary["rows_skipped"]) == (7, 2, 5)
    assert summary["problems_not_shown"] == 0
    assert summary["leads"] == 2
    assert err.count("\n") == 1
    assert err.startswith(f"mqlsim: warning: {log}: skipped 5 bad rows (lines 4, 5, 6, 7, 8)")


def test_line_numbers_and_leads_hold_across_many_chunks(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 16)
    lines = [HEADER]
    for index in range(300):
        lines.append(
            f"lead-{index % 7},2024-03-01T{index // 60:02d}:{index % 60:02d}:00Z,web_visit"
        )
    lines[150] = "lead-1,2024-03-01T02:29:00Z,web_visit,x"  # malformed, line 151
    lines[200] = "lead-2,2024-03-01T03:19:00Z,webinar"  # unknown activity, line 201
    lines.insert(100, "")  # blank line 101: everything after it moves down one line
    log = write(tmp_path / "events.csv", lines)
    file = read_events(log)
    assert file.lead_ids == [f"lead-{index}" for index in range(7)]
    assert [line for line, _ in file.problems] == [152, 202]
    assert len(file.events) == 298
    assert np.all(np.diff(file.events.lead) >= 0)


def test_strict_fails_on_any_problem_and_writes_nothing(tmp_path, capsys) -> None:
    log = write(tmp_path / "events.csv", BAD_LOG)
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, str(log), "--strict", "--out", str(out_dir))
    assert code == 2
    assert out == ""
    assert not out_dir.exists()
    assert err.splitlines()[0] == f"mqlsim: error: {log}:4: expected 3 fields, found 4"
    assert len(err.splitlines()) == 5
    assert "Traceback" not in err


def test_only_the_first_twenty_problems_are_listed(tmp_path, capsys) -> None:
    lines = [HEADER, "a,2024-03-01,demo_request", *(["a,yesterday,web_visit"] * 25)]
    log = write(tmp_path / "events.csv", lines)
    code, _, err = run(capsys, str(log), "--strict")
    assert code == 2
    errors = err.splitlines()
    assert len(errors) == 21
    assert errors[19].startswith(f"mqlsim: error: {log}:22: timestamp 'yesterday' is not")
    assert errors[20] == f"mqlsim: error: {log}: 5 more problems not shown"
    code, out, _ = run(capsys, str(log), "--format", "json")
    summary = json.loads(out)["summary"]
    assert (len(summary["problems"]), summary["problems_not_shown"]) == (20, 5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "events.csv: file not found"),
        ("", "events.csv: the file is empty; expected a header line lead_id,timestamp,activity"),
        (HEADER + "\n", "events.csv: no valid rows"),
        ("lead_id,time,activity\na,2024-03-01,web_visit\n", "missing required column 'timestamp'"),
        (HEADER + "\n,2024-03-01,web_visit\n", "events.csv:2: lead_id is empty"),
        (
            HEADER.encode() + b"\nb\xff,2024-03-01,web_visit\n",
            "events.csv:2: lead_id is not UTF-8 text; save the file as UTF-8",
        ),
        (HEADER.encode() + b"\xff\n", "events.csv:1: the header is not UTF-8 text"),
    ],
)
def test_unusable_files_are_clean_exit_2_errors(
    tmp_path, capsys, monkeypatch, content, message
) -> None:
    monkeypatch.chdir(tmp_path)
    if isinstance(content, bytes):
        Path("events.csv").write_bytes(content)
    elif content is not None:
        Path("events.csv").write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "events.csv", "--out", "out")
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert not Path("out").exists()


def test_formats(tmp_path, capsys) -> None:
    lines = [HEADER] + [f"lead-{i},2024-03-0{1 + i % 9}T10:00:00Z,web_visit" for i in range(25)]
    lines.append("lead-3,2024-03-04T10:15:00Z,pricing_page")
    lines.append("lead-3,2024-03-04T12:30:00+02:00,demo_request")
    log = write(tmp_path / "events.csv", lines)

    _, out, _ = run(capsys, str(log), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(replay_render.ROW_COLUMNS)
    assert len(rows) == 25
    assert rows[3]["mql"] == "yes"
    assert rows[3]["mql_at"] == "2024-03-04T10:30:00Z"
    assert float(rows[3]["time_to_mql_days"]) == pytest.approx(0.5 / 24)
    assert rows[3]["reason"].startswith("score ")
    no_fit = UNKNOWN_GRADE_LABEL  # a log without fit columns: the grade is unknown
    assert rows[0] == {
        "lead_id": "lead-0",
        "mql": "no",
        "mql_at": "",
        "time_to_mql_days": "",
        "grade": no_fit,
        "rule": "",
        "reason": "",
    }

    _, out, _ = run(capsys, str(log), "--format", "json")
    document = json.loads(out)
    assert document["summary"]["mql_rate"] == pytest.approx(1 / 25)
    assert document["leads"][3]["mql"] is True
    assert document["leads"][0]["time_to_mql_days"] is None

    _, out, _ = run(capsys, str(log))  # table: captured stdout is not a terminal, so plain
    assert "\x1b[" not in out
    assert "MQL rate            4.0 %" in out
    assert "lead-19" in out and "lead-20" not in out
    assert out.rstrip().endswith("... and 5 more leads (--format csv or --out for all)")
    result = mqlsim.replay(log, BASELINE)
    on_terminal = rich_text(replay_render.to_table(result, result.to_records()))
    assert "MQL rate" in on_terminal and "lead-3" in on_terminal and "lead-20" not in on_terminal


def test_outputs_are_written_atomically(tmp_path, capsys) -> None:
    log = write(tmp_path / "events.csv", [HEADER, "a,2024-03-01,demo_request"])
    out_dir = tmp_path / "out"
    assert run(capsys, str(log), "--out", str(out_dir), "--format", "csv")[0] == 0
    written = {name: (out_dir / name).read_text() for name in ("replay.csv", "replay.json")}
    # a demo request (100 points) from a lead without fit data (unknown grade: 0 points)
    assert json.loads(written["replay.json"])["summary"]["mqls"] == 1

    broken = write(tmp_path / "broken.csv", [HEADER, "a,2024-03-01,nope"])
    assert run(capsys, str(broken), "--out", str(out_dir))[0] == 2
    assert {path.name: path.read_text() for path in out_dir.iterdir()} == written

    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, str(log), "--out", str(blocker / "out"))
    assert code == 2
    assert f"--out {blocker / 'out'}: cannot create it: {blocker} is a file" in err


def test_the_csv_on_stdout_equals_replay_csv(tmp_path, capsys) -> None:
    log = write(tmp_path / "events.csv", [HEADER, "a,2024-03-01,demo_request", "b,2024-03-02,x"])
    _, out, _ = run(capsys, str(log), "--out", str(tmp_path / "out"), "--format", "csv")
    assert (tmp_path / "out" / "replay.csv").read_text() == out
    _, out, _ = run(capsys, str(log), "--format", "json")
    assert (tmp_path / "out" / "replay.json").read_text() == out


def test_an_unknown_fit_value_keeps_its_row_and_counts_as_missing(tmp_path, capsys) -> None:
    log = write(
        tmp_path / "events.csv",
        [
            HEADER + ",job_level,industry",
            "a,2024-03-01T10:00:00Z,demo_request,vp,aerospace",
            "b,2024-03-01T10:00:00Z,web_visit,,software",
        ],
    )
    file = read_events(log)
    assert len(file.events) == 2
    assert file.fit["industry"].tolist() == [
        MISSING_CODE,
        FIT_ATTRIBUTES["industry"].index("software"),
    ]
    assert file.fit["job_level"].tolist() == [FIT_ATTRIBUTES["job_level"].index("vp"), MISSING_CODE]
    assert file.fit["region"].tolist() == [MISSING_CODE, MISSING_CODE]
    assert file.fit_values_ignored == 1
    assert file.problem_lines() == [
        f"{log}:2: industry: unknown value 'aerospace' (expected one of "
        + ", ".join(FIT_ATTRIBUTES["industry"])
        + "); treated as missing"
    ]

    scenario = load_scenario(BASELINE)
    icp = scenario.population.icp
    out = replay_file(file, scenario)
    # a vp (15 points) whose company size, industry and region are unknown could be A or D
    assert icp.job_level_points["vp"] == 15
    assert out.grade[0] == UNKNOWN_GRADE
    assert out.grade[1] == observed_grade_of(file.fit, icp)[1]

    code, _, err = run(capsys, str(log))
    assert code == 0
    assert "treated 1 unknown fit value as missing (line 2)" in err
    assert run(capsys, str(log), "--strict")[0] == 2


def test_a_leads_fit_is_its_latest_non_empty_value(tmp_path) -> None:
    log = write(
        tmp_path / "events.csv",
        [
            HEADER + ",job_level",
            "a,2024-03-05,web_visit,director",  # latest by time, though not last in the file
            "a,2024-03-01,web_visit,manager",
            "a,2024-03-09,web_visit,",
            "b,2024-03-01,web_visit,vp",
            "b,2024-03-02,web_visit,vp",
        ],
    )
    file = read_events(log)
    levels = FIT_ATTRIBUTES["job_level"]
    assert file.fit["job_level"].tolist() == [levels.index("director"), levels.index("vp")]
    assert file.leads_with_conflicting_fit == 1


def test_time_zones_are_converted_and_naive_times_are_utc(tmp_path) -> None:
    log = write(
        tmp_path / "events.csv",
        [
            HEADER,
            "a,2024-03-01T12:00:00+02:00,web_visit",
            "b,2024-03-01T10:00:00Z,web_visit",
            "c,2024-03-01 10:00,web_visit",
            "d,2024-03-01T05:00:00.000000-0500,web_visit",
            "e,2024-03-01T15:30+05:30,web_visit",
        ],
    )
    file = read_events(log)
    assert len(set(file.event_ns.tolist())) == 1
    assert file.event_ns[0] == int(datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp()) * 10**9
    assert file.events.time.tolist() == [0.0] * 5


def test_events_are_ordered_by_time_within_each_lead(tmp_path) -> None:
    log = write(
        tmp_path / "events.csv",
        [
            HEADER,
            "a,2024-03-02T00:00:00Z,pricing_page",
            "a,2024-03-01T23:00:00-02:00,demo_request",  # 01:00Z on the 2nd: after the visit
            "a,2024-03-01T00:00:00Z,web_visit",
        ],
    )
    file = read_events(log)
    order = [ACTIVITIES[code] for code in file.events.activity]
    assert order == ["web_visit", "pricing_page", "demo_request"]
    assert file.since.tolist() == [0.0]


def test_a_log_longer_than_the_policy_can_decay_over_is_an_error(tmp_path, capsys) -> None:
    # The scenario itself spans 730 days (365 simulated, 365 of existing leads' history): a
    # half-life of 1 day fits it, not a log of three years.
    lines = [HEADER, "a,2024-03-01,web_visit", "a,2027-03-01,web_visit"]
    log = write(tmp_path / "events.csv", lines)
    code, _, err = run(capsys, str(log), "--set", "policy.decay_half_life_days=1")
    assert code == 2
    assert "mqlsim: error: policy: policy.decay_half_life_days must be at least" in err
    assert "the longest lead history in" in err and "spans 1095 days" in err
    # and a half-life the scenario's own span cannot carry is refused with the scenario
    code, _, err = run(capsys, str(log), "--set", "policy.decay_half_life_days=0.5")
    assert code == 2
    assert "with the stationary stock the span is horizon_days plus" in err


def test_overrides_change_the_policy(tmp_path, capsys) -> None:
    log = write(tmp_path / "events.csv", [HEADER, "a,2024-03-01,pricing_page"])
    args = ["replay", str(log), "--policy", str(BASELINE), "--format", "json"]
    main([*args, "--set", "policy.threshold=20"])
    assert json.loads(capsys.readouterr().out)["summary"]["mqls"] == 1
    main(args)
    assert json.loads(capsys.readouterr().out)["summary"]["mqls"] == 0
