"""Recycled leads are re-evaluated in batches; batching must change nothing but speed."""

from pathlib import Path

import numpy as np
import pytest

import mqlsim.model.engine
from mqlsim.model.engine import ReplicationResult, run_replication
from mqlsim.scenario.loading import load_scenario

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml"
SMALL = ["population.leads_per_day=15", "scenario.horizon_days=240", "scenario.warmup_days=30"]


@pytest.fixture(scope="module")
def small_run() -> ReplicationResult:
    """Replication 0 of the small baseline, batched as the engine batches (both tests read it:
    it is simulated once)."""
    return run_replication(load_scenario(BASELINE, SMALL), 0)


def test_batch_size_does_not_change_results(
    monkeypatch: pytest.MonkeyPatch, small_run: ReplicationResult
) -> None:
    """Batches of 0.01 day (one lead each) and of 1 day against the engine's 30-day batches,
    which ``small_run`` already simulated."""
    assert mqlsim.model.engine.RECYCLE_BATCH_DAYS == 30.0  # what small_run was batched by
    scenario = load_scenario(BASELINE, SMALL)
    results = []
    for batch_days in (0.01, 1.0):
        monkeypatch.setattr(mqlsim.model.engine, "RECYCLE_BATCH_DAYS", batch_days)
        results.append(run_replication(scenario, 0))
    results.append(small_run)
    assert (results[0].sales.pass_index > 0).sum() > 20, "the run must exercise re-MQLs"
    for other in results[1:]:
        assert other.metrics == results[0].metrics
        np.testing.assert_array_equal(other.sales.lead, results[0].sales.lead)
        np.testing.assert_array_equal(other.sales.outcome, results[0].sales.outcome)
        # SimPy schedules at now + delay, so the time of the batch leaves ~1e-14-day rounding.
        np.testing.assert_allclose(other.sales.mql_time, results[0].sales.mql_time, rtol=1e-12)


def test_recycled_leads_come_back_only_after_the_cooldown(small_run: ReplicationResult) -> None:
    scenario = load_scenario(BASELINE, SMALL)
    result = small_run
    sales = result.sales
    cooldown = scenario.nurture.recycle_cooldown_days
    checked = 0
    for episode in np.flatnonzero(sales.pass_index > 0):
        lead = sales.lead[episode]
        earlier = np.flatnonzero(
            (sales.lead == lead) & (sales.pass_index < sales.pass_index[episode])
        )
        if earlier.size == 0:  # an existing lead whose earlier passes came before day 0:
            assert result.first_mql_time[lead] < 0  # recycled then, back after the cool-down
            assert sales.mql_time[episode] >= result.episode_since[episode]
            continue
        previous_end = sales.end[earlier].max()
        assert sales.mql_time[episode] >= previous_end + cooldown
        checked += 1
    assert checked > 20
