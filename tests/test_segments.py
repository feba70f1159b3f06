"""Breakdowns by segment (`--by`): segments add up to the totals, rules label episodes, the
command line prints and writes them, and channel quality shows as the Olist data shows it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mqlsim import api
from mqlsim.cli import main
from mqlsim.core.metric_catalog import EPISODE_SEGMENT_METRICS, SEGMENT_METRICS
from mqlsim.model.engine import ReplicationResult, run_replication
from mqlsim.scenario.loading import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BASELINE = str(SCENARIOS / "baseline.toml")
SMALL = ["population.leads_per_day=12", "scenario.horizon_days=200", "scenario.warmup_days=30"]
#: Metrics that add up over the segments of a dimension that labels leads.
ADDITIVE = (
    "leads",
    "mqls",
    "mql_events",
    "sals",
    "sqls",
    "opportunities",
    "deals_won",
    "pipeline_value",
    "revenue_won",
    "sales_hours",
    "wasted_sales_hours",
    "missed_opportunities",
    "missed_never_mql",
    "missed_mql_too_late",
    "missed_waited_in_queue",
    "missed_not_reached",
    "lost_pipeline_value",
)


@pytest.fixture(scope="module")
def baseline() -> ReplicationResult:
    return run_replication(load_scenario(BASELINE, SMALL), 0)


@pytest.mark.parametrize("dimension", ["channel", "persona", "grade"])
def test_lead_segments_add_up_to_the_totals(baseline: ReplicationResult, dimension: str) -> None:
    segments = baseline.segments[dimension]
    for name in ADDITIVE:
        total = sum(segment[name] for segment in segments.values())
        assert total == pytest.approx(baseline.metrics[name], rel=1e-9, abs=1e-9), name
    assert baseline.metrics["mqls"] > 100


def test_a_segment_rate_is_its_own_counts_divided(baseline: ReplicationResult) -> None:
    for segment in baseline.segments["channel"].values():
        assert segment["mql_to_sql_rate"] == pytest.approx(segment["sqls"] / segment["mqls"])
        assert segment["lead_to_mql_rate"] == pytest.approx(segment["mqls"] / segment["leads"])
        assert segment["sql_to_won_rate"] == pytest.approx(segment["deals_won"] / segment["sqls"])


def test_one_rule_policy_has_one_segment_equal_to_the_totals(baseline: ReplicationResult) -> None:
    (only,) = baseline.segments["rule"].values()
    assert list(baseline.segments["rule"]) == ["score"]
    for name in EPISODE_SEGMENT_METRICS:
        assert only[name] == pytest.approx(baseline.metrics[name], nan_ok=True), name
    for name in set(SEGMENT_METRICS) - set(EPISODE_SEGMENT_METRICS):
        assert math.isnan(only[name]), name


def test_combined_policy_segments_by_the_rule_that_decided() -> None:
    scenario = load_scenario(SCENARIOS / "policy_any_of.toml", SMALL)
    result = run_replication(scenario, 0)
    rules = result.segments["rule"]
    assert list(rules) == [
        f"rules.{i} ({rule.kind})" for i, rule in enumerate(scenario.policy.rules)
    ]
    assert sum(rule["mql_events"] for rule in rules.values()) == result.metrics["mql_events"]
    assert sum(rule["mql_events"] > 0 for rule in rules.values()) >= 2
    # each episode's rule is the one that fires first when the policy judges it again
    counts = np.bincount(result.episode_rule[result.sales.mql_time >= 30], minlength=len(rules))
    np.testing.assert_array_equal(counts, [rule["mql_events"] for rule in rules.values()])


def test_unknown_grade_is_a_segment_when_fields_are_hidden() -> None:
    scenario = load_scenario(SCENARIOS / "policy_gate.toml", SMALL)
    result = run_replication(scenario, 0)
    assert list(result.segments["grade"]) == ["A", "B", "C", "D", "unknown"]
    assert result.segments["grade"]["unknown"]["leads"] > 0


def test_run_by_prints_and_writes_segments(tmp_path: Path, capsys) -> None:
    args = ["run", BASELINE, *(f"--set={s}" for s in SMALL), "--replications", "3"]
    assert (
        main(
            [
                *args,
                "--workers",
                "1",
                "--by",
                "channel,grade",
                "--by",
                "channel",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "By channel: mean ± half-width of the 95 % interval over 3 replications" in out
    assert "By grade:" in out and "By persona" not in out
    header = next(
        line for line in out.splitlines() if line.startswith("metric") and "paid_search" in line
    )
    assert header.split() == [
        "metric",
        "paid_search",
        "organic_content",
        "events",
        "partner_referral",
        "unit",
    ]
    document = json.loads((tmp_path / "results.json").read_text())
    assert list(document["segments"]) == ["channel", "grade"]
    cell = document["segments"]["channel"]["paid_search"]["mql_to_sql_rate"]
    assert set(cell) == {"mean", "ci_low", "ci_high", "values"} and len(cell["values"]) == 3
    assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"]


def test_run_without_by_writes_no_segments(tmp_path: Path, capsys) -> None:
    args = ["run", BASELINE, *(f"--set={s}" for s in SMALL), "--replications", "2"]
    assert main([*args, "--workers", "1", "--out", str(tmp_path)]) == 0
    assert "By " not in capsys.readouterr().out
    assert "segments" not in json.loads((tmp_path / "results.json").read_text())


def test_bad_dimension_is_one_line_and_exit_2(capsys) -> None:
    assert main(["run", BASELINE, "--by", "region"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mqlsim: error: --by 'region': expected one of channel, persona, grade, rule, lane"
        " (or several, comma-separated)"
    ]


def test_compare_by_pairs_segments(capsys) -> None:
    loose = str(SCENARIOS / "loose.toml")
    args = ["compare", BASELINE, loose, *(f"--set={s}" for s in SMALL), "--replications", "3"]
    assert main([*args, "--workers", "1", "--by", "persona", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    personas = document["segments"]["persona"]
    assert list(personas) == ["economic_buyer", "practitioner", "small_business", "researcher"]
    mqls = personas["practitioner"]["mqls"]
    assert mqls["b_mean"] > mqls["a_mean"]  # looser criteria qualify more practitioners
    assert main([*args, "--workers", "1", "--by", "persona"]) == 0
    assert "By persona (headline metrics" in capsys.readouterr().out


def test_report_by_adds_a_section(tmp_path: Path) -> None:
    html = api.report(
        BASELINE, by=["channel"], overrides=SMALL, replications=2, workers=1, cache=False
    )
    assert '<section id="by-channel"><h2>By channel</h2>' in html
    assert "partner_referral" in html


@pytest.mark.slow
def test_channel_quality_orders_as_the_olist_funnel() -> None:
    """`mqlsim run scenarios/channel_quality.toml --by channel`: search closes more of its MQLs
    than social, and social more than e-mail, as Olist's MQLs do (14.5 %, 6.1 %, 3.9 % for
    December 2017 - May 2018 first contacts; ../shared/data/olist_marketing_funnel/facts.md).
    Deals won per MQL, pooled over 10 replications; each gap is several standard errors."""
    result = api.run(SCENARIOS / "channel_quality.toml", replications=10, workers=1, cache=False)
    won: dict[str, float] = {}
    for channel in ("organic_search", "paid_search", "social", "email"):
        deals = sum(row["channel"][channel]["deals_won"] for row in result.segments)
        mqls = sum(row["channel"][channel]["mqls"] for row in result.segments)
        won[channel] = deals / mqls
    search = min(won["organic_search"], won["paid_search"])
    assert search > won["social"] > won["email"], won
