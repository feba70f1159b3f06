"""Nurture cadences: follow-ups, weekly caps and sunsets by hand, then in the engine: the runs
the engine records obey them, unsubscribed leads get nothing, frequent touches unsubscribe more,
and the first MQLs can be replayed from the recorded journeys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import mqlsim.model.engine
from mqlsim.core.events import EventLog
from mqlsim.core.rng import Streams
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.engine import (
    SEND_SPREAD_HOURS,
    Nurture,
    ReplicationResult,
    run_replication,
    shared_stage,
)
from mqlsim.model.journeys import history_start
from mqlsim.policies import make_policy
from mqlsim.policies.base import LeadView
from mqlsim.policies.nurture import DripCadence
from mqlsim.policies.sections import DripNurtureConfig
from mqlsim.scenario.loading import load_scenario
from tests.builders import event_log

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BASELINE = SCENARIOS / "baseline.toml"
TRIGGER = SCENARIOS / "nurture_trigger.toml"
SMALL = ["population.leads_per_day=10", "scenario.horizon_days=200", "scenario.warmup_days=30"]


def cadence(**settings) -> DripCadence:
    return DripCadence(DripNurtureConfig(**({"max_touches": 0} | settings)))


# --- by hand ----------------------------------------------------------------------------------


def test_follow_up_touch_d_days_after_the_activity() -> None:
    """Pricing view on day 3 -> touch on day 4; webinar on day 10 -> day 12; a visit, an
    activity before the run's start and a follow-up at the horizon bring nothing."""
    organic = event_log(
        [
            (0, 3.0, "pricing_page"),
            (0, 5.0, "web_visit"),
            (1, 1.0, "pricing_page"),
            (1, 10.0, "webinar_attended"),
            (1, 99.5, "pricing_page"),
        ],
        n_leads=2,
    )
    plan = cadence(follow_ups={"pricing_page": 1.0, "webinar_attended": 2.0})
    lead, time = plan.touch_times(np.array([0.0, 2.0]), 100.0, organic)
    assert lead.tolist() == [0, 1]
    assert time.tolist() == [4.0, 12.0]


def test_follow_ups_merge_with_the_drip_in_time_order() -> None:
    organic = event_log([(0, 8.5, "pricing_page"), (1, 0.5, "pricing_page")], n_leads=2)
    plan = cadence(max_touches=2, interval_days=7.0, follow_ups={"pricing_page": 1.0})
    lead, time = plan.touch_times(np.array([0.0, 0.0]), 100.0, organic)
    assert lead.tolist() == [0, 0, 0, 1, 1, 1]
    assert time.tolist() == [7.0, 9.5, 14.0, 1.5, 7.0, 14.0]
    # Without organic events (or follow-ups) it is the plain drip.
    lead, time = plan.touch_times(np.array([0.0, 0.0]), 100.0)
    assert time.tolist() == [7.0, 14.0, 7.0, 14.0]


@pytest.mark.parametrize("activity", ["email_open", "email_click", "unsubscribe"])
def test_touch_answers_cannot_trigger_follow_ups(activity: str) -> None:
    with pytest.raises(ValidationError, match="only organic activity"):
        DripNurtureConfig(follow_ups={activity: 1.0})


def test_weekly_cap_keeps_the_first_touches_of_each_calendar_week() -> None:
    """Daily touches with a cap of 2 a week (week 0 = days [0, 7)): from day 0, days 1, 2 and
    7, 8; from day 5 (days 6..15), day 6, then 7, 8, then 14, 15: each lead on its own."""
    plan = cadence(max_touches=10, interval_days=1.0, max_touches_per_week=2)
    lead, time = plan.touch_times(np.array([0.0, 5.0]), 100.0)
    assert lead.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert time.tolist() == [1.0, 2.0, 7.0, 8.0, 6.0, 7.0, 8.0, 14.0, 15.0]


def test_weekly_cap_applies_to_follow_ups_and_drip_together() -> None:
    organic = event_log([(0, 0.5, "pricing_page"), (0, 1.5, "pricing_page")], n_leads=1)
    plan = cadence(
        max_touches=2, interval_days=3.0, follow_ups={"pricing_page": 1.0}, max_touches_per_week=2
    )
    _, time = plan.touch_times(np.array([0.0]), 100.0, organic)
    assert time.tolist() == [1.5, 2.5]  # the drip touches on days 3 and 6 are dropped


def test_sunset_after_n_unanswered_touches_in_a_row() -> None:
    """N = 3: lead 0 answers its third touch, so the run stops after touches 4, 5, 6 go
    unanswered (the sixth is still sent); lead 1 stops at its third."""
    plan = cadence(sunset_after_unanswered=3)
    lead = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    answered = np.array([0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    running = plan.running(lead, answered)
    assert running.tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0]
    assert cadence().running(lead, answered).all()  # 0: never


# --- in the engine ----------------------------------------------------------------------------


def run(path: Path, *overrides: str) -> ReplicationResult:
    return run_replication(load_scenario(path, [*SMALL, *overrides]), 0)


@pytest.fixture(scope="module")
def trigger_run() -> ReplicationResult:
    return run(TRIGGER)


@pytest.fixture(scope="module")
def history_run() -> ReplicationResult:
    """The trigger cadence with a score that keeps its history across recycles (two tests
    read it: it is simulated once)."""
    return run(TRIGGER, "policy.reset_on_recycle=false")


def single_run_leads(result: ReplicationResult) -> np.ndarray:
    """Touch mask of leads that never reached sales, before or during the run: their touches
    are one nurture run."""
    qualified_before = result.first_mql_time < 0  # an existing lead recycled before day 0
    lead = result.touches.lead
    return ~np.isin(lead, result.sales.lead) & ~qualified_before[lead]


def test_engine_runs_obey_weekly_cap_and_sunset(trigger_run: ReplicationResult) -> None:
    config = load_scenario(TRIGGER).nurture
    n = config.sunset_after_unanswered

    def touches_after_sunset(result: ReplicationResult) -> int:
        """Touches that follow N unopened ones in a row of the same lead."""
        touches = result.touches.select(single_run_leads(result))
        order = np.lexsort((touches.time, touches.lead))
        lead, opened = touches.lead[order], touches.opened[order]
        windows = np.lib.stride_tricks.sliding_window_view(np.arange(lead.size), n + 1)
        same_lead = lead[windows[:, 0]] == lead[windows[:, -1]]
        return int(np.sum(same_lead & ~opened[windows[:, :-1]].any(axis=1)))

    assert touches_after_sunset(trigger_run) == 0
    assert touches_after_sunset(run(TRIGGER, "nurture.sunset_after_unanswered=0")) > 100
    touches = trigger_run.touches
    assert len(touches) > 1000
    # A touch planned in quiet hours goes out in the hour after the next opening and counts
    # in the week it was planned in (docs/model.md, "Business hours"): leave out those sent
    # in such an hour.
    clock = ActivityClock(load_scenario(TRIGGER).journeys)
    hour = touches.time % 1.0
    opening = (hour >= clock.start) & (hour < clock.start + SEND_SPREAD_HOURS / 24)
    assert 0 < opening.sum() < len(touches) / 2
    kept = touches.select(~opening)
    week = np.floor(kept.time / 7.0)
    _, per_week = np.unique(np.stack([kept.lead, week]), axis=1, return_counts=True)
    assert per_week.max() == config.max_touches_per_week


def test_engine_sends_follow_ups_after_organic_activity(trigger_run: ReplicationResult) -> None:
    """Follow-ups exist: touches that are not on the drip's weekly grid from arrival."""
    touches = trigger_run.touches
    age = touches.time - trigger_run.population.arrival[touches.lead]
    off_grid = np.abs(age / 7.0 - np.round(age / 7.0)) > 1e-6
    assert off_grid.sum() > 100


def test_first_mqls_replay_from_the_recorded_journeys(trigger_run: ReplicationResult) -> None:
    """The policy on organic events plus the answers to the touches really sent (stopped at the
    MQL, the unsubscribe, the sunset) finds the same first MQLs as the engine."""
    result = trigger_run
    scenario = load_scenario(TRIGGER, SMALL)
    first = result.sales.pass_index == 0  # the engine's first MQLs are the floor's pass 0
    first_mql = np.nan_to_num(result.first_mql_time, nan=np.inf)
    np.testing.assert_array_equal(first_mql[result.sales.lead[first]], result.sales.mql_time[first])
    touches = result.touches.select(result.touches.time <= first_mql[result.touches.lead])
    lead, time, activity = touches.events()
    answers = EventLog.from_unsorted(lead, time, activity, result.population.size)
    pop = result.population
    view = LeadView(
        events=EventLog.concatenate([result.organic, answers]),
        grade=pop.observed_grade,
        fit=pop.fit,
        since=history_start(pop, scenario.population.stock_history_days),
    )
    replayed = make_policy(scenario.policy).qualify(view).time
    assert first.sum() > 300
    np.testing.assert_array_equal(np.nan_to_num(replayed, nan=np.inf), first_mql)


def test_unsubscribed_leads_get_no_touches_when_recycled() -> None:
    scenario = load_scenario(TRIGGER, SMALL)
    stage = shared_stage(scenario, 0)
    nurture = Nurture(scenario, stage, Streams(scenario.scenario.seed, 0))
    nurture.first_mqls(stage)
    leads = np.array([3, 4, 5])
    nurture.unsubscribed[4] = True
    nurture.resume(leads, np.ones(3, dtype=np.int64), np.full(3, 10.0))
    sent = nurture.sent[-1]
    assert set(sent.lead.tolist()) == {3, 5}


def test_frequent_touches_raise_the_unsubscribe_rate() -> None:
    """Follow-ups half a day after every visit, blog post and pricing view flood leads with
    touches; a weekly cap of 1 holds them back. Fatigue makes each touch of the flood likelier
    to cause an unsubscribe, not only more touches."""
    flood = [
        "nurture.follow_ups={ web_visit = 0.5, blog_post = 0.5, pricing_page = 0.5 }",
        "nurture.sunset_after_unanswered=0",
    ]
    uncapped = run(TRIGGER, *flood, "nurture.max_touches_per_week=0")
    capped = run(TRIGGER, *flood, "nurture.max_touches_per_week=1")
    assert uncapped.metrics["unsubscribe_rate"] > 2 * capped.metrics["unsubscribe_rate"]
    per_touch = [result.touches.unsubscribed.mean() for result in (uncapped, capped)]
    assert per_touch[0] > 1.2 * per_touch[1]


def test_batches_change_nothing_with_follow_ups_sunset_and_history(
    monkeypatch: pytest.MonkeyPatch, history_run: ReplicationResult
) -> None:
    """As in tests/test_recycling.py, with this cadence and a score that keeps its history:
    batches of 0.01 day (one lead each) against the engine's 30-day batches, which
    ``history_run`` already simulated."""
    assert mqlsim.model.engine.RECYCLE_BATCH_DAYS == 30.0  # what history_run was batched by
    monkeypatch.setattr(mqlsim.model.engine, "RECYCLE_BATCH_DAYS", 0.01)
    results = [run(TRIGGER, "policy.reset_on_recycle=false"), history_run]
    assert (results[0].sales.pass_index > 0).sum() > 20
    assert results[1].metrics == results[0].metrics
    np.testing.assert_array_equal(results[1].sales.lead, results[0].sales.lead)
    np.testing.assert_allclose(results[1].sales.mql_time, results[0].sales.mql_time, rtol=1e-12)


def test_history_brings_recycled_leads_back_sooner(
    trigger_run: ReplicationResult, history_run: ReplicationResult
) -> None:
    """With the history counting, a recycled lead needs less to be MQL again."""
    reset, history = trigger_run, history_run
    assert history.metrics["mql_events"] > reset.metrics["mql_events"]
    # First MQLs do not depend on it: the first run starts at arrival either way.
    first = reset.sales.pass_index == 0
    first_history = history.sales.pass_index == 0
    reset_first = dict(zip(reset.sales.lead[first], reset.sales.mql_time[first], strict=True))
    for lead, time in zip(
        history.sales.lead[first_history], history.sales.mql_time[first_history], strict=True
    ):
        assert reset_first[lead] == time


def test_no_nurture_sends_nothing_and_leaves_organic_activity_alone() -> None:
    """`nurture.kind = "none"` (the `nurture.kind=drip,none` sweep of docs/experiments.md): no
    touches, no touch answers, and the same organic journeys as the drip (common random
    numbers), so the difference between the two is the nurture's effect."""
    none = run_replication(load_scenario(BASELINE, [*SMALL, "nurture.kind=none"]), 0)
    drip = run_replication(load_scenario(BASELINE, SMALL), 0)
    assert none.touches.lead.size == 0 and drip.touches.lead.size > 0
    assert none.metrics["unsubscribe_rate"] == 0 < drip.metrics["unsubscribe_rate"]
    assert none.metrics["leads"] == drip.metrics["leads"]
    assert np.array_equal(none.population.arrival, drip.population.arrival)
