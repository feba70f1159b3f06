"""`mqlsim explain`: every MQL of a run, first and recycled, has its policy's reason."""

import re
from pathlib import Path

import numpy as np
import pytest

from mqlsim.cli import main
from mqlsim.experiments.explain import mql_reasons
from mqlsim.model.engine import run_replication
from mqlsim.policies.base import LeadView
from mqlsim.scenario.loading import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SMALL = ["population.leads_per_day=12", "scenario.horizon_days=200", "scenario.warmup_days=30"]


@pytest.mark.parametrize("name", ["baseline", "policy_any_of", "policy_trigger"])
def test_every_mql_episode_has_a_reason(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.toml", SMALL)
    result = run_replication(scenario, 0)
    episodes = np.arange(result.sales.lead.size)
    assert episodes.size > 20
    reasons = mql_reasons(scenario, result, episodes)
    assert all(r.reason and r.reason != "not MQL" for r in reasons)
    np.testing.assert_array_equal([r.mql_day for r in reasons], result.sales.mql_time)


def test_recycled_episodes_are_explained_from_their_resume() -> None:
    """Judged from the start of its nurture run, as the run recorded it, the policy fires
    exactly at the episode's MQL: the reason explains that decision, not the lead's first MQL.
    The start is the lead's arrival for a first run, the previous episode's end plus the
    cool-down for a recycled one, and, for an existing lead, what was played before day 0."""
    scenario = load_scenario(SCENARIOS / "baseline.toml", SMALL)
    result = run_replication(scenario, 0)
    sales, since = result.sales, result.episode_since
    cooldown = scenario.nurture.recycle_cooldown_days
    history = scenario.population.stock_history_days
    for lead in np.unique(sales.lead):
        episodes = np.flatnonzero(sales.lead == lead)
        if sales.pass_index[episodes[0]] == 0:  # from arrival, or from an existing lead's
            start = max(result.population.arrival[lead], -history)  # drawn history
            assert since[episodes[0]] == start
        np.testing.assert_allclose(since[episodes[1:]], sales.end[episodes[:-1]] + cooldown)
    events, pop = result.observed_events(), result.population
    recycled = np.flatnonzero(result.sales.pass_index > 0)
    assert recycled.size > 5
    assert np.any(pop.arrival[sales.lead[recycled]] < 0)  # existing leads are among them
    for episode in recycled:
        lead = result.sales.lead[episode]
        view = LeadView(events, pop.observed_grade, pop.fit, pop.arrival)
        view = view.subset(np.array([lead]))
        view = LeadView(view.events, view.grade, view.fit, np.array([since[episode]]))
        fired = result.policy.qualify(view).time[0]
        assert fired == pytest.approx(result.sales.mql_time[episode], abs=1e-9)
    for reason in mql_reasons(scenario, result, recycled):
        score = float(re.match(r"score ([\d.]+) >= 100", reason.reason).group(1))
        assert score >= scenario.policy.threshold


def test_command_prints_csv_and_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", str(SCENARIOS / "baseline.toml"), *(f"--set={s}" for s in SMALL)]
    assert main([*args, "--format", "csv", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "lead,pass,mql_day,outcome,reason" and len(lines) == 4
    assert main([*args, "--replication", "9"]) == 2
    assert "replication 9: expected 0 to 4" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--replications=3", "--workers=2", "--no-cache"])
def test_options_explain_would_ignore_are_refused(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 17, point 7: explain re-runs one replication in this process; options about how
    # many replications run, and where, would be silently ignored, so argparse refuses them.
    with pytest.raises(SystemExit) as exited:
        main(["explain", str(SCENARIOS / "baseline.toml"), flag])
    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
