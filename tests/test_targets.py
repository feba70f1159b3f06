"""Targets files for `mqlsim calibrate`: forms, bands, one-line errors and contradictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqlsim.cli import main
from mqlsim.core.errors import InputError
from mqlsim.scenario.targets import (
    DEFAULT_RELATIVE_TOLERANCE,
    load_targets,
    wilson_interval,
)

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


def write(tmp_path: Path, body: str, name: str = "targets.toml") -> Path:
    path = tmp_path / name
    path.write_text("[targets]\n" + body, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_targets(path)
    return caught.value.lines


def test_the_three_forms_and_their_bands(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "period_days = 30\n"
        "leads = 900\n"
        "lead_to_mql_rate = { value = 0.18, n = 1000 }\n"
        "mql_to_sql_rate = { low = 0.25, high = 0.35 }\n",
    )
    targets = load_targets(path)
    assert targets.period_days == 30
    assert targets.metrics == ("leads", "lead_to_mql_rate", "mql_to_sql_rate")
    leads, rate, interval = targets.items
    half = DEFAULT_RELATIVE_TOLERANCE * 900
    assert (leads.value, leads.low, leads.high) == (900, 900 - half, 900 + half)
    # Wilson 95 % for 180 of 1000, by hand: centre (0.18 + 0.00192) / 1.00384 = 0.18122,
    # half-width 1.96 * sqrt(0.18 * 0.82 / 1000 + 3.84 / 4e6) / 1.00384 = 0.02380.
    assert rate.value == 0.18
    assert rate.low == pytest.approx(0.1574, abs=1e-4)
    assert rate.high == pytest.approx(0.2050, abs=1e-4)
    assert (interval.value, interval.low, interval.high) == (pytest.approx(0.30), 0.25, 0.35)
    assert rate.text() == "18.0 % of 1,000"
    assert interval.text() == "25.0–35.0 %"


def test_the_wilson_band_stays_in_0_1_and_is_never_empty() -> None:
    low, high = wilson_interval(0.02, 50)
    assert 0 < low < 0.02 < high
    low, high = wilson_interval(0.0, 100)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.037, abs=1e-3)
    low, high = wilson_interval(1.0, 100)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.963, abs=1e-3)


def test_within_is_a_z_of_at_most_one(tmp_path: Path) -> None:
    target = load_targets(write(tmp_path, "lead_to_mql_rate = { value = 0.2, n = 400 }\n")).items[0]
    assert target.z(target.high) == pytest.approx(1.0)
    assert target.z(target.low) == pytest.approx(-1.0)
    assert target.within(target.high) and not target.within(target.high + 1e-9)
    assert target.z(target.value) == 0.0


def test_totals_are_per_period_days(tmp_path: Path) -> None:
    targets = load_targets(
        write(tmp_path, "period_days = 30\nleads = 900\nspeed_to_lead_hours_median = 4\n")
    )
    assert targets.per_period("leads", 8250.0, 275.0) == pytest.approx(900.0)
    assert targets.per_period("speed_to_lead_hours_median", 4.5, 275.0) == 4.5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "lead_to_mql_rate = 18\n",
            "targets.lead_to_mql_rate: expected a fraction between 0 and 1, found 18"
            " (write 18 % as 0.18) (line 2)",
        ),
        (
            "lead_to_mql = 0.2\n",
            "targets.lead_to_mql: unknown key 'lead_to_mql' (did you mean 'lead_to_mql_rate'?)"
            " (line 2)",
        ),
        (
            'mql_to_sql_rate = "0.3"\n',
            "targets.mql_to_sql_rate: expected a number, { value = ..., n = ... } or"
            " { low = ..., high = ... }, found '0.3' (line 2)",
        ),
        (
            "mql_to_sql_rate = { value = 0.3, hi = 0.4 }\n",
            "targets.mql_to_sql_rate.hi: unknown key 'hi' (did you mean 'high'?) (line 2)",
        ),
        (
            "mql_to_sql_rate = { value = 0.3, low = 0.2 }\n",
            "targets.mql_to_sql_rate: expected a number, { value = ..., n = ... } or"
            " { low = ..., high = ... }, found keys value, low (line 2)",
        ),
        (
            "sql_to_won_rate = { value = 0.2, n = 0 }\n",
            "targets.sql_to_won_rate: n: expected a count >= 1, found 0 (line 2)",
        ),
        (
            "sql_to_won_rate = { value = 0.2, n = 10.5 }\n",
            "targets.sql_to_won_rate.n: expected an integer, found 10.5 (line 2)",
        ),
        (
            "time_to_mql_days_median = { value = 20, n = 100 }\n",
            "targets.time_to_mql_days_median: n is for rates (the count a rate was measured"
            " on); give a count or a duration as { low = ..., high = ... } (line 2)",
        ),
        (
            "speed_to_lead_hours_median = { low = 5, high = 2 }\n",
            "targets.speed_to_lead_hours_median: expected low < high, found low 5, high 2 (line 2)",
        ),
        (
            "speed_to_lead_hours_median = -1\n",
            "targets.speed_to_lead_hours_median: expected a value >= 0, found -1 (line 2)",
        ),
        (
            "speed_to_lead_hours_median = inf\n",
            "targets.speed_to_lead_hours_median: expected a finite number, found inf (line 2)",
        ),
        (
            "sqls = 0\n",
            "targets.sqls: a target of 0 has no relative tolerance: give { low = 0, high = ... }"
            " (line 2)",
        ),
        (
            "mql_recall = 0.5\n",
            "targets.mql_recall: cannot be a target: it needs the leads' hidden buying intent,"
            " which no CRM records (line 2)",
        ),
        (
            "leads = 900\n",
            "targets.period_days: required with totals (leads): they are counted per"
            " period_days, e.g. period_days = 30 (line 1)",
        ),
        (
            "period_days = 0\nleads = 900\n",
            "targets.period_days: expected a value > 0, found 0 (line 2)",
        ),
        ("", "targets: no targets; expected metric names such as leads, lead_to_mql_rate,"),
    ],
)
def test_bad_targets_are_one_line_each(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    lines = problems(path)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {expected}")


def test_a_file_without_a_targets_table(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("leads = 900\n", encoding="utf-8")
    assert problems(path) == [
        f"{path}: targets: required key is missing",
        f"{path}: leads: unknown key 'leads' (allowed: targets) (line 1)",
    ]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    assert problems(tmp_path / "none.toml") == [f"{tmp_path / 'none.toml'}: file not found"]
    path = tmp_path / "bad.toml"
    path.write_text("[targets\n", encoding="utf-8")
    (line,) = problems(path)
    assert line.startswith(f"{path}:1: TOML syntax error")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "mql_to_sal_rate = 0.2\nmql_to_sql_rate = 0.3\n",
            "targets.mql_to_sql_rate (30.0 %) exceeds targets.mql_to_sal_rate (20.0 %): an SQL"
            " is an MQL that sales accepted (line 3)",
        ),
        (
            "period_days = 30\nleads = 900\nmqls = 1000\n",
            "targets.mqls (1,000) exceeds targets.leads (900): each funnel stage counts leads"
            " of the stage before it (line 4)",
        ),
        (
            "period_days = 30\nleads = 900\nmqls = 162\nlead_to_mql_rate = 0.25\n",
            "targets.lead_to_mql_rate (25.0 %) disagrees with targets.mqls (162) /"
            " targets.leads (900) = 18.0 %: give two of the three, or bands that overlap"
            " (line 5)",
        ),
        (
            "speed_to_lead_hours_median = 10\nspeed_to_lead_hours_p90 = 5\n",
            "targets.speed_to_lead_hours_median (10.0) exceeds targets.speed_to_lead_hours_p90"
            " (5.00): a median is at most the 90th percentile (line 2)",
        ),
    ],
)
def test_contradictions_are_refused_naming_the_targets(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    assert problems(path) == [f"{path}: {expected}"]


def test_targets_that_agree_within_their_bands_are_accepted(tmp_path: Path) -> None:
    # 170 / 900 = 18.9 %: inside the rate's band once the counts' own 5 % are allowed for.
    path = write(tmp_path, "period_days = 30\nleads = 900\nmqls = 170\nlead_to_mql_rate = 0.18\n")
    assert load_targets(path).metrics == ("leads", "mqls", "lead_to_mql_rate")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "lead_to_mql_rate = 18\nmql_to_sql = 0.3\nsqls = -2\n")
    assert len(problems(path)) == 3


def test_the_command_refuses_bad_targets_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = write(tmp_path, "mql_to_sal_rate = 0.2\nmql_to_sql_rate = 0.3\n")
    out = tmp_path / "fitted.toml"
    code = main(["calibrate", str(BASELINE), "--targets", str(targets), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mqlsim: error: {targets}: targets.mql_to_sql_rate (30.0 %) exceeds")
    assert "Traceback" not in err
    assert not out.exists()


def test_per_channel_targets_are_read_checked_and_keyed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "period_days = 30\nmqls = 1000\n"
        "[targets.channel.paid_search]\nmqls = 400\nmql_to_won_rate = { value = 0.15, n = 800 }\n"
        "[targets.channel.events]\nmql_to_won_rate = 0.05\n",
    )
    targets = load_targets(path)
    assert [t.key for t in targets] == [
        "mqls",
        "channel.paid_search.mqls",
        "channel.paid_search.mql_to_won_rate",
        "channel.events.mql_to_won_rate",
    ]
    assert targets.metrics == ("mqls",)
    assert targets.channels == ("paid_search", "events")
    assert [t.metric for t in targets.of_channel("events")] == ["mql_to_won_rate"]
    # Channel tables hold the metrics a breakdown by channel measures, checked as the others.
    bad = write(
        tmp_path,
        "[targets.channel.events]\nrep_utilization = 0.5\nmql_to_won_rate = 15\n",
        "bad.toml",
    )
    lines = problems(bad)
    assert any("targets.channel.events.rep_utilization" in line for line in lines), lines
    assert any("write 15 % as 0.15" in line for line in lines), lines
    # Contradictions are found inside each channel, named by their key.
    clash = write(
        tmp_path,
        "[targets.channel.events]\nmql_to_won_rate = 0.3\nmql_to_sql_rate = 0.2\n",
        "clash.toml",
    )
    (line,) = problems(clash)
    assert "targets.channel.events.mql_to_won_rate (30.0 %) exceeds" in line, line
