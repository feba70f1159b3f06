"""Backtests on real public data (../shared/data, beside the repository; never copied into it):
the Olist marketing funnel (an activity log with won deals) and the X Education lead snapshot.
The numbers are checked against direct pandas computations on the raw files, and the outputs
quoted in docs/replay.md against what the commands print."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

import mqlsim
from mqlsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OLIST = DATA / "olist_marketing_funnel"
X_EDUCATION = DATA / "x_education_leads"
EXAMPLES = ROOT / "examples"
DOCS = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")

pd = pytest.importorskip("pandas", reason="pandas (the dev extra) computes the expected rates")
needs_olist = pytest.mark.skipif(
    not OLIST.is_dir(), reason=f"../shared/data is absent: no {OLIST} to backtest on"
)
needs_x_education = pytest.mark.skipif(
    not X_EDUCATION.is_dir(), reason=f"../shared/data is absent: no {X_EDUCATION} to backtest on"
)
FLAGGED_ORIGINS = {"organic_search", "paid_search", "unknown"}  # examples/olist/search_origins.toml


def olist_rates() -> pd.DataFrame:
    """MQLs, deals and the deal rate per origin, as the data's own funnel_facts.py computes
    them from the raw MQL and closed-deal files."""
    mqls = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    mqls["origin"] = mqls.origin.fillna("(missing)")
    joined = mqls.merge(deals, on="mql_id", how="left")
    joined["is_won"] = joined.won_date.notna()
    return joined.groupby("origin").agg(
        mqls=("mql_id", "size"), deals=("is_won", "sum"), rate=("is_won", "mean")
    )


@needs_olist
def test_olist_per_origin_precision_recall_and_lift_match_funnel_facts() -> None:
    result = mqlsim.replay(
        OLIST / "olist_events_replay.csv",
        EXAMPLES / "olist" / "search_origins.toml",
        mapping=EXAMPLES / "olist" / "mapping.toml",
        by=["source"],
    )
    expected = olist_rates()
    overall = expected.deals.sum() / expected.mqls.sum()
    assert expected.mqls.sum() == 8000 and expected.deals.sum() == 842
    report = result.report
    assert report is not None and report.converted_stage == "customer"
    assert report.headline.base_rate == pytest.approx(overall, rel=1e-12)
    rows = {row.value: row for row in report.segments["source"]}
    assert set(rows) == set(expected.index)
    for origin, facts in expected.iterrows():
        row = rows[origin]
        assert (row.leads, row.converters) == (facts.mqls, facts.deals), origin
        assert row.base_rate == pytest.approx(facts.rate, rel=1e-12), origin
        if origin in FLAGGED_ORIGINS:
            assert row.mqls == facts.mqls, origin
            assert row.precision == pytest.approx(facts.rate, rel=1e-12), origin
            assert row.recall == 1.0, origin
            assert row.lift == pytest.approx(facts.rate / overall, rel=1e-12), origin
        else:
            assert (row.mqls, row.recall) == (0, 0.0), origin
            assert np.isnan(row.precision) and np.isnan(row.lift), origin
    flagged = expected.loc[sorted(FLAGGED_ORIGINS)]
    headline = report.headline
    assert headline.precision == pytest.approx(flagged.deals.sum() / flagged.mqls.sum())
    assert headline.recall == pytest.approx(flagged.deals.sum() / expected.deals.sum())
    # The one deal the data dates before its lead's first contact counts as flagged late.
    assert headline.flagged_after == 1


def x_education_expected(threshold: float) -> tuple[int, float, float]:
    """Leads at or above ``threshold`` seconds on the site, and their precision and recall."""
    leads = pd.read_csv(X_EDUCATION / "Leads.csv")
    flagged = leads["Total Time Spent on Website"] >= threshold
    converted = leads.Converted == 1
    return (
        int(flagged.sum()),
        float(converted[flagged].mean()),
        float(converted[flagged].sum() / converted.sum()),
    )


@needs_x_education
def test_x_education_time_on_site_at_the_top_30_percent_matches_pandas() -> None:
    leads = pd.read_csv(X_EDUCATION / "Leads.csv")
    seconds = np.sort(leads["Total Time Spent on Website"].to_numpy())[::-1]
    threshold = float(seconds[round(0.3 * len(leads)) - 1])  # the 2,772nd lead's time
    assert threshold == 715  # examples/x_education/time_on_site.toml says so
    result = mqlsim.replay(
        X_EDUCATION / "Leads.csv",
        EXAMPLES / "x_education" / "time_on_site.toml",
        mapping=EXAMPLES / "x_education" / "mapping.toml",
    )
    count, precision, recall = x_education_expected(threshold)
    assert int(result.a.mql.sum()) == count == 2773  # ties at 715 s: one lead over 30 %
    report = result.report
    assert report is not None
    assert report.headline.precision == pytest.approx(precision, rel=1e-12)
    assert report.headline.recall == pytest.approx(recall, rel=1e-12)
    assert report.headline.precision == pytest.approx(0.69, abs=0.01)
    assert report.headline.recall == pytest.approx(0.54, abs=0.01)
    assert result.a.untimed == (
        "score decay (half_life, decay_half_life_days = 60): every point counts in full",
    )


@needs_x_education
@pytest.mark.parametrize(
    "column", ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity"]
)
def test_x_education_refuses_a_rule_on_a_leakage_column(tmp_path, capsys, column) -> None:
    mapping = tmp_path / "mapping.toml"
    text = (EXAMPLES / "x_education" / "mapping.toml").read_text()
    mapping.write_text(text.replace('source = "Lead Source"', f"source = {column!r}"))
    policy = tmp_path / "by_tag.toml"
    policy.write_text("[policy]\nsource_points = { 'Will revert after reading the email' = 200 }\n")
    leads = str(X_EDUCATION / "Leads.csv")
    assert main(["replay", leads, "--policy", str(policy), "--map", str(mapping)]) == 2
    assert capsys.readouterr().err == (
        f"mqlsim: error: {leads}: columns.source = {column!r} is listed in leakage: it is written"
        " after the outcome and leaks it; a backtest cannot use it as a policy input\n"
    )


def docs_command(start: str) -> list[str]:
    """The arguments of the command in docs/replay.md that starts with ``start``, with
    ../shared/data read from where the tests find it."""
    line = next(line for line in DOCS.splitlines() if line.startswith(f"$ {start}"))
    args = shlex.split(line.removeprefix("$ mqlsim "))
    return [arg.replace("../shared/data", str(DATA)) for arg in args]


@needs_olist
@needs_x_education
@pytest.mark.parametrize(
    "start", ["mqlsim replay ../shared/data/olist", "mqlsim replay ../shared/data/x_"]
)
def test_the_outputs_quoted_in_the_docs_are_what_the_commands_print(
    capsys, monkeypatch, start
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(docs_command(start)) == 0
    printed = capsys.readouterr().out.replace(str(DATA), "../shared/data")
    assert printed in DOCS, "refresh the quoted output in docs/replay.md"


@needs_x_education
def test_the_snapshot_json_has_no_timing(tmp_path, capsys) -> None:
    args = [
        "replay", str(X_EDUCATION / "Leads.csv"),
        "--policy", str(EXAMPLES / "x_education" / "time_on_site.toml"),
        "--map", str(EXAMPLES / "x_education" / "mapping.toml"), "--format", "json",
    ]  # fmt: skip
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["input"] == "lead snapshot"
    assert document["outcomes"]["stages"][0]["flagged_before_converting"] is None
