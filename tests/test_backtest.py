"""Backtests with outcomes on logs small enough to work out by hand: precision, recall, lift and
timing by stage, segments and rules, the never-worked bias, two policies compared; mapping
files, `value` points, lead snapshots and leakage columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import mqlsim
from mqlsim.cli import main
from mqlsim.core.errors import InputError

HANDRAISE = """
[scenario]
name = "demo requests"
[policy]
kind = "handraise"
activities = ["demo_request"]
"""
EITHER = """
[scenario]
name = "demo or pricing"
[policy]
kind = "any_of"
[[policy.rules]]
kind = "handraise"
activities = ["demo_request"]
[[policy.rules]]
kind = "trigger"
activity = "pricing_page"
count = 2
window_days = inf
"""
LOG = """lead_id,timestamp,activity,source,region
a,2024-03-01,demo_request,ads,europe
b,2024-03-02,demo_request,ads,
c,2024-03-01,pricing_page,seo,europe
c,2024-03-02,pricing_page,seo,
d,2024-03-01,web_visit,seo,apac
e,2024-03-08,demo_request,ads,apac
"""
LIFECYCLE = (
    "Record ID,Original Source,Became a Marketing Qualified Lead Date,"
    "Became a Sales Qualified Lead Date,Became a Customer Date,Recent Deal Amount\n"
    """a,,2024-02-20,2024-03-03,2024-03-05,1000
c,,,2024-03-04,2024-03-11,500
d,,2024-02-25,,2024-03-03,200
e,,2024-02-27,,2024-03-06,300
f,partner,2024-03-01,2024-03-02,,
"""
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "log": tmp_path / "events.csv",
        "outcomes": tmp_path / "lifecycle.csv",
        "a": tmp_path / "handraise.toml",
        "b": tmp_path / "either.toml",
    }
    for key, text in (("log", LOG), ("outcomes", LIFECYCLE), ("a", HANDRAISE), ("b", EITHER)):
        paths[key].write_text(text)
    return paths


def test_precision_recall_lift_and_timing_by_hand(files) -> None:
    result = mqlsim.replay(files["log"], files["a"], outcomes=files["outcomes"])
    assert result.file.lead_ids == ["a", "b", "c", "d", "e", "f"]  # f: only in the outcomes
    assert result.a.mql.tolist() == [True, True, False, False, True, False]
    report = result.report
    assert report is not None and report.converted_stage == "customer"
    customer = report.headline
    assert (customer.converters, customer.flagged) == (4, 2)  # a c d e; a e
    assert customer.base_rate == pytest.approx(4 / 6)
    assert customer.precision == pytest.approx(2 / 3)
    assert customer.recall == pytest.approx(2 / 4)
    assert customer.lift == pytest.approx((2 / 3) / (4 / 6))
    # a: MQL on 1 March, customer on 5 March (4 days ahead); e: MQL after it converted.
    assert (customer.flagged_before, customer.flagged_after) == (1, 1)
    assert customer.lead_days_median == pytest.approx(4.0)
    sql = next(stage for stage in report.stages if stage.stage == "sql")
    assert (sql.converters, sql.flagged, sql.precision) == (3, 1, pytest.approx(1 / 3))
    # Worked by sales: a CRM MQL or a later stage. b never was: its outcome is unknown.
    worked = report.worked
    assert (worked.worked, worked.worked_converted, worked.never_worked) == (2, 2, 1)
    metrics = report.metrics
    assert (metrics["mqls"], metrics["deals_won"], metrics["sqls"]) == (3, 2, 1)
    assert metrics["revenue_won"] == 1300  # a and e
    assert metrics["mql_precision"] == pytest.approx(2 / 3)
    assert math.isnan(metrics["sals"]) and math.isnan(metrics["wasted_sales_hours"])


def test_segments_by_source_rule_and_a_fit_column(files) -> None:
    result = mqlsim.replay(
        files["log"], files["b"], outcomes=files["outcomes"], by=["source", "rule", "region"]
    )
    assert result.report is not None
    by_source = {row.value: row for row in result.report.segments["source"]}
    # f takes its source from the outcomes file; the log's own sources come first.
    assert list(by_source) == ["ads", "seo", "partner"]
    seo = by_source["seo"]
    assert (seo.leads, seo.converters, seo.mqls, seo.flagged) == (2, 2, 1, 1)
    assert seo.lift == pytest.approx(1.0 / (4 / 6))
    rules = {row.value: row.mqls for row in result.report.segments["rule"]}
    assert rules == {"rules.0 (handraise)": 3, "rules.1 (trigger)": 1, "(not MQL)": 0}
    regions = {row.value: row.leads for row in result.report.segments["region"]}
    assert regions == {"(none)": 2, "apac": 2, "europe": 2}
    assert result.a.rules[2] == "rules.1 (trigger)"


def test_two_policies_on_one_log(files) -> None:
    result = mqlsim.replay(
        files["log"], files["a"], against=files["b"], outcomes=files["outcomes"], resamples=50
    )
    assert result.comparison is not None
    overlap = {group.group: group for group in result.comparison.overlap}
    assert overlap["both"].leads == 3 and overlap["only A"].leads == 0
    assert (overlap["only B"].leads, overlap["only B"].converted) == (
        1,
        {"sql": 1, "customer": 1},
    )
    assert overlap["both"].never_worked == 1  # b
    assert overlap["neither"].converted == {"sql": 1, "customer": 1}  # f, d
    deals = result.comparison.metrics["deals_won"]
    assert (deals.a_mean, deals.b_mean, deals.difference) == (2, 3, 1)
    assert deals.n == 6


def test_the_converted_stage_can_be_chosen(files, capsys) -> None:
    result = mqlsim.replay(files["log"], files["a"], outcomes=files["outcomes"], converted="sql")
    assert result.report is not None and result.report.converted_stage == "sql"
    assert result.report.metrics["mql_recall"] == pytest.approx(1 / 3)
    args = ["replay", str(files["log"]), "--policy", str(files["a"])]
    assert main([*args, "--outcomes", str(files["outcomes"]), "--converted", "sal"]) == 2
    assert "--converted sal: the outcomes do not record that stage" in capsys.readouterr().err


def test_the_report_says_how_the_never_worked_bias_shows(files, capsys) -> None:
    args = ["replay", str(files["log"]), "--policy", str(files["a"])]
    assert main([*args, "--outcomes", str(files["outcomes"])]) == 0
    out = capsys.readouterr().out
    assert (
        "Caveat: leads sales never worked never converted. Of the policy's 3 MQLs, 2 were worked"
        " by sales then (precision among them 100.0 %); 1 never were" in out
    )
    lifecycle = files["outcomes"]
    lifecycle.write_text(LIFECYCLE.replace("Became a Marketing Qualified Lead Date", "other"))
    assert main([*args, "--outcomes", str(lifecycle)]) == 0
    assert "the outcomes do not say which leads were worked" in capsys.readouterr().out


def test_a_mapping_file_maps_columns_activities_and_outcome_rows(tmp_path, capsys) -> None:
    log = tmp_path / "crm.csv"
    log.write_text(
        "Contact,When,What,Amount,Channel\n"
        "x,2024-03-01,Viewed pricing,,web\n"
        "x,2024-03-02,Asked for a demo,,web\n"
        "x,2024-04-01,Closed won,950,web\n"
        "y,2024-03-01,Bounced,,mail\n"
        "y,2024-03-03,Webinar,,mail\n"
        "y,2024-03-04,Webinar,,mail\n"
        "z,2024-03-01,Mystery,,mail\n"
    )
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        """
[columns]
lead_id = "Contact"
timestamp = "When"
activity = "What"
value = "Amount"
source = "Channel"

[activities]
"Viewed pricing" = "pricing_page"
"Asked for a demo" = "demo_request"
"Closed won" = "customer"
Bounced = "ignore"
"""
    )
    policy = tmp_path / "demo.toml"
    policy.write_text(HANDRAISE)
    result = mqlsim.replay(log, policy, mapping=mapping)
    file = result.file
    assert file.lead_ids == ["x"]  # y and z did nothing the vocabulary or the mapping knows
    assert file.unknown_activities == {"Webinar": 2, "Mystery": 1}
    assert file.ignored_activities == {"Bounced": 1}
    assert [line for line, _ in file.problems] == [6, 8]  # each name once, at its first line
    assert file.problems[0][1].startswith("unknown activity 'Webinar': 2 rows, first on this")
    assert file.outcomes is not None and file.outcomes.deal_value[0] == 950
    assert result.report is not None and result.report.headline.flagged == 1
    assert result.report.headline.lead_days_median == pytest.approx(30.0)
    mapping.write_text('unknown_activities = "ignore"\n' + mapping.read_text())
    quiet = mqlsim.replay(log, policy, mapping=mapping)
    assert quiet.file.problem_count == 0
    assert quiet.file.ignored_activities == {"Bounced": 1, "Webinar": 2, "Mystery": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[activities]\nvisit = 'web_vizit'",
            "activities: 'visit' = 'web_vizit': expected a model activity, an outcome stage",
        ),
        ("[columns]\nlead = 'x'", "columns.lead: unknown key"),
        ("unknown_activities = 'drop'", "unknown_activities: expected 'report' or 'ignore'"),
        ("[columns\n", "TOML syntax error"),
    ],
)
def test_a_bad_mapping_file_is_one_clear_line(tmp_path, files, capsys, text, message) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(text)
    args = ["replay", str(files["log"]), "--policy", str(files["a"]), "--map", str(mapping)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mqlsim: error: {mapping}") and message in err
    assert "Traceback" not in err


def test_points_can_read_the_value_column(tmp_path) -> None:
    log = tmp_path / "events.csv"
    log.write_text(
        "lead_id,timestamp,activity,value\n"
        "fast,2024-03-01T10:00:00Z,web_visit,30\n"
        "slow,2024-03-01T10:00:00Z,web_visit,400\n"
        "slow,2024-03-01T11:00:00Z,web_visit,\n"
        "odd,2024-03-01T10:00:00Z,web_visit,1e999\n"
    )
    policy = tmp_path / "time_on_page.toml"
    policy.write_text(
        "[policy]\nthreshold = 40\npoints = { web_visit = 1 }\ngrade_points = { D = 0 }\n"
        "value_points = { web_visit = 0.1 }\n"
    )
    result = mqlsim.replay(log, policy)
    assert result.a.mql.tolist() == [False, True, False]  # 1 + 3 < 40; 1 + 40 >= 40
    assert result.a.reasons[1] == "score 41 >= 40: web_visit +41, fit +0"
    assert result.file.values_ignored == 1
    assert result.file.problems[0][1] == (
        "value '1e999' is not a finite decimal number; treated as missing"
    )


SNAPSHOT = """Prospect,Origin,Visits,Seconds,Stage,Converted,Tags
p1,Ads,3,600,Closed,1,hot
p2,Ads,0,0,,0,cold
p3,Search,,900,,1,hot
p4,Search,1,10,,0,cold
p5,Ads,two,5,,0,
"""
SNAPSHOT_MAP = """leakage = ["Tags", "Stage"]

[columns]
lead_id = "Prospect"
source = "Origin"

[snapshot]
counts = { web_visit = "Visits" }
values = { web_visit = "Seconds" }

[outcomes]
customer = "Converted"
"""


def test_a_lead_snapshot_is_backtested_on_time_free_parts(tmp_path) -> None:
    table, mapping = tmp_path / "leads.csv", tmp_path / "snapshot.toml"
    table.write_text(SNAPSHOT)
    mapping.write_text(SNAPSHOT_MAP)
    policy = tmp_path / "time.toml"
    policy.write_text(
        "[policy]\nthreshold = 500\npoints = { web_visit = 0, form_fill = 0 }\n"
        "grade_points = { D = 0 }\nvalue_points = { web_visit = 1 }\n"
    )
    result = mqlsim.replay(table, policy, mapping=mapping, by=["source"])
    file = result.file
    assert not file.timed
    assert file.lead_ids == ["p1", "p2", "p3", "p4"]  # p5's count is not a number
    assert file.problem_lines() == [
        f"{table}:6: Visits 'two' is not a count (a whole number from 0 to 100,000); row skipped"
    ]
    # p3 has 900 seconds and no visit count: one visit carries them (a note says so).
    assert file.notes == ("1 lead has a value but a count of 0 for its activity: 1 event each",)
    assert result.a.mql.tolist() == [True, False, True, False]
    assert result.a.untimed == (
        "score decay (half_life, decay_half_life_days = 60): every point counts in full",
    )
    report = result.report
    assert report is not None
    assert (report.headline.precision, report.headline.recall) == (1.0, 1.0)
    assert report.headline.flagged_before is None  # no dates, no timing
    assert [(row.value, row.mqls) for row in report.segments["source"]] == [
        ("Ads", 1),
        ("Search", 1),
    ]
    assert result.to_records()[0]["mql_at"] is None


def test_time_dependent_parts_are_listed_for_each_family() -> None:
    trigger = mqlsim.load(Path(__file__).resolve().parents[1] / "scenarios/policy_any_of.toml")
    assert trigger.policy.untimed_parts() == [
        "rules.0: score decay (half_life, decay_half_life_days = 60): every point counts in full",
        "rules.2: trial timing (usage after a trial_signup, 7-day window): usage counts whenever"
        " it happened, once the lead has a trial_signup",
    ]
    root = Path(__file__).resolve().parents[1]
    forever = {"policy.window_days": math.inf}
    assert mqlsim.load(root / "scenarios/policy_trigger.toml", forever).policy.untimed_parts() == []
    content = mqlsim.load(root / "scenarios/policy_content.toml").policy
    assert content.untimed_parts() == ["content window (14 days): assets count in any span"]


def test_a_policy_input_from_a_leakage_column_is_refused(tmp_path, capsys) -> None:
    table, mapping = tmp_path / "leads.csv", tmp_path / "snapshot.toml"
    table.write_text(SNAPSHOT)
    mapping.write_text(SNAPSHOT_MAP.replace('source = "Origin"', 'source = "Tags"'))
    policy = tmp_path / "hot.toml"
    policy.write_text("[policy]\nsource_points = { hot = 200 }\n")
    code = main(["replay", str(table), "--policy", str(policy), "--map", str(mapping)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"mqlsim: error: {table}: columns.source = 'Tags' is listed in leakage: it is written"
        " after the outcome and leaks it; a backtest cannot use it as a policy input\n"
    )
    # An outcome column is never an input either, listed or not.
    mapping.write_text(SNAPSHOT_MAP.replace('web_visit = "Visits"', 'web_visit = "Converted"'))
    with pytest.raises(InputError, match=r"snapshot.counts.web_visit = 'Converted' is an outcome"):
        mqlsim.replay(table, policy, mapping=mapping)


def test_json_is_strict_and_csv_has_the_outcome_columns(files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = ["replay", str(files["log"]), "--policy", str(files["a"]), "--against", str(files["b"])]
    args += ["--outcomes", str(files["outcomes"]), "--out", str(out), "--resamples", "20"]
    assert main(args) == 0
    capsys.readouterr()
    text = (out / "replay.json").read_text()
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert document["outcomes"]["stages"][0]["stage"] == "sql"
    header = (out / "replay.csv").read_text().splitlines()[0]
    assert header.endswith("b_reason,reached_mql,reached_sql,reached_customer")


def test_a_by_column_must_exist_and_policy_sources_absent_from_the_log_are_said(
    files, capsys
) -> None:
    args = ["replay", str(files["log"]), "--policy", str(files["a"])]
    assert main([*args, "--by", "regoin"]) == 2
    assert "--by regoin: no column 'regoin'" in capsys.readouterr().err
    policy = files["a"].with_name("sourced.toml")
    policy.write_text("[policy]\nsource_points = { ads = 100, tv = 50 }\n")
    result = mqlsim.replay(files["log"], policy)
    assert result.a.sources_not_in_log == ("tv",)
    assert result.a.mql.tolist() == [True, True, False, False, True]  # the ads leads


def test_a_snapshot_leads_events_are_its_creation_and_its_counts(tmp_path) -> None:
    table, mapping = tmp_path / "leads.csv", tmp_path / "snapshot.toml"
    table.write_text(SNAPSHOT)
    mapping.write_text(SNAPSHOT_MAP)
    policy = tmp_path / "any.toml"
    policy.write_text("[policy]\nkind = 'handraise'\nactivities = ['form_fill']\n")
    events = mqlsim.replay(table, policy, mapping=mapping).file.events
    # p1: created + 3 visits; p2: created; p3: created + 1 visit for its seconds; p4: 1 + 1.
    assert [int(n) for n in np.diff(events.starts)] == [4, 1, 2, 2]
    assert events.value is not None and events.value[1] == 600 and np.isnan(events.value[2])
    mapping.write_text(SNAPSHOT_MAP.replace("[snapshot]", '[snapshot]\ncreated_activity = "none"'))
    result = mqlsim.replay(table, policy, mapping=mapping)
    assert [int(n) for n in np.diff(result.file.events.starts)] == [3, 0, 1, 1]
    assert not result.a.mql.any()  # no lead has a form fill now
