"""The leads' week: the activity clock, and activity, arrivals and sends in business hours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mqlsim.core.rng import Purpose, Streams
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.engine import run_replication, shared_stage
from mqlsim.model.journeys import RateTable, organic_events
from mqlsim.model.population import arrival_times, generate_population
from mqlsim.model.sales import WorkingCalendar
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import JourneysConfig, PopulationConfig, Scenario, ScenarioMeta

BASELINE = str(Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml")
ALPHA = 1e-3
HOUR = 1.0 / 24.0


def profile_share(clock: ActivityClock, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The share of the week's activity between ``start`` and ``end`` (days within a week)."""
    return (clock.activity_time(end) - clock.activity_time(start)) / 7.0


@pytest.fixture(scope="module")
def clock() -> ActivityClock:
    return ActivityClock(JourneysConfig())


def test_the_clock_keeps_weeks_and_volume(clock: ActivityClock) -> None:
    """W(t + 7) = W(t) + 7, W is non-decreasing, and W⁻¹ undoes it."""
    t = np.random.default_rng(1).uniform(-400, 400, 50_000)
    np.testing.assert_allclose(clock.activity_time(t + 7), clock.activity_time(t) + 7, atol=1e-9)
    grid = np.linspace(-14, 14, 10_001)
    assert np.all(np.diff(clock.activity_time(grid)) >= 0)
    s = np.random.default_rng(2).uniform(-400, 400, 50_000)
    np.testing.assert_allclose(clock.activity_time(clock.calendar_time(s)), s, atol=1e-9)
    assert np.all(np.isinf(clock.activity_time(np.array([np.inf]))))


def test_default_profile_puts_62_percent_of_activity_in_business_hours(clock) -> None:
    """Level 1 from 8:00 to 17:00 Monday to Friday (45 h) and 0.22 at the other 123 h: the
    business hours hold 45 / (45 + 0.22 × 123) = 62.4 %, the weekend 48 × 0.22 / 72.06 = 14.7 %."""
    expected = 45.0 / (45.0 + 0.22 * 123.0)
    assert clock.share_active() == pytest.approx(expected)
    days = np.arange(5.0)
    business = profile_share(clock, days + 8 * HOUR, days + 17 * HOUR).sum()
    assert business == pytest.approx(expected)
    assert profile_share(clock, np.array([5.0]), np.array([7.0]))[0] == pytest.approx(
        48 * 0.22 / (45.0 + 0.22 * 123.0)
    )


def test_a_uniform_profile_is_the_calendar(clock: ActivityClock) -> None:
    uniform = ActivityClock(JourneysConfig(off_hours_activity=1.0))
    t = np.random.default_rng(3).uniform(-50, 50, 1000)
    np.testing.assert_allclose(uniform.activity_time(t), t, atol=1e-12)
    np.testing.assert_allclose(uniform.calendar_time(t), t, atol=1e-12)


def test_quiet_hours_are_skipped_by_the_inverse() -> None:
    """With no activity off hours, every event mapped back lands in business hours."""
    clock = ActivityClock(JourneysConfig(off_hours_activity=0.0))
    s = np.random.default_rng(4).uniform(-30, 30, 20_000)
    t = clock.calendar_time(s)
    assert np.all(clock.active(t) | np.isclose(t % 1.0, 8 * HOUR))


def test_next_active_is_the_first_business_moment(clock: ActivityClock) -> None:
    t = np.random.default_rng(5).uniform(-30, 30, 20_000)
    opened = clock.next_active(t)
    assert np.all(opened >= t)
    assert np.all(clock.active(opened))
    inside = clock.active(t)
    np.testing.assert_array_equal(opened[inside], t[inside])
    # Nothing active is skipped: halfway between t and its opening, it is still closed.
    later = ~inside
    assert not np.any(clock.active((t[later] + opened[later]) / 2))
    friday_evening = 4 + 18 * HOUR
    assert clock.next_active(np.array([friday_evening]))[0] == pytest.approx(7 + 8 * HOUR)


def test_arrivals_follow_the_profile_within_their_days(clock: ActivityClock) -> None:
    """Weekday arrivals fall in business hours 9/(9 + 0.22 × 15) = 73.2 % of the time."""
    config = PopulationConfig(leads_per_day=200.0)
    time, _ = arrival_times(config, 700.0, np.random.default_rng(6), clock)
    weekday = np.floor(time) % 7 < 5
    inside = clock.active(time[weekday])
    expected = 9 / (9 + 0.22 * 15)
    n = inside.size
    assert abs(inside.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    # weekends are flat: hours uniform
    weekend_hour = (time[~weekday] % 1.0) * 24
    assert stats.kstest(weekend_hour / 24, "uniform").pvalue > ALPHA


def test_organic_activity_follows_the_profile_by_hour_of_week(clock: ActivityClock) -> None:
    """Events by hour of the week match the profile (chi-square over the 168 hours)."""
    scenario = Scenario(
        scenario=ScenarioMeta(horizon_days=350.0, warmup_days=30.0, seed=7),
        population=PopulationConfig(leads_per_day=20.0, initial_stock="none"),
    )
    streams = Streams(7, 0)
    pop = generate_population(scenario.population, scenario.scenario, streams, clock)
    rates = RateTable(scenario.journeys, scenario.population)
    organic = organic_events(
        pop, scenario.journeys, rates, 350.0, streams.generator(Purpose.JOURNEYS)
    )
    later = organic.time > pop.arrival[organic.lead]  # not the conversion itself
    hour = np.floor((organic.time[later] % 7.0) * 24).astype(int)
    observed = np.bincount(hour, minlength=168)
    starts = np.arange(168) / 24.0
    expected = observed.sum() * profile_share(clock, starts, starts + HOUR)
    assert stats.chisquare(observed, expected).pvalue > ALPHA
    assert clock.active(organic.time[later]).mean() == pytest.approx(clock.share_active(), abs=0.01)


def test_nurture_sends_go_out_in_business_hours() -> None:
    scenario = load_scenario(BASELINE, ["population.leads_per_day=10", "scenario.horizon_days=200"])
    stage = shared_stage(scenario, 0)
    clock = ActivityClock(scenario.journeys)
    assert len(stage.first_run) > 1000
    assert np.all(clock.active(stage.first_run.time))


def test_share_of_mqls_in_rep_hours_and_what_breaches_the_sla() -> None:
    """With reps that always have time (200 reps), an MQL breaches the 4 h SLA exactly when
    the next shift opens more than 4 h after it: shifts alone. The baseline's own 3 reps add
    the breaches that capacity makes (docs/model.md, "Where the default numbers come from")."""
    ample = load_scenario(BASELINE, ["sales.reps=200", "scenario.replications=1"])
    result = run_replication(ample, 0)
    sales = result.sales
    begin = ample.scenario.warmup_days
    period = (sales.mql_time >= begin) & np.isfinite(sales.first_touch)
    calendar = WorkingCalendar(ample.sales)
    mql = sales.mql_time[period]
    opening = mql + np.array([calendar.until_open(t) for t in mql])
    np.testing.assert_allclose(sales.first_touch[period], opening, atol=1e-9)
    shifts_only = (opening - mql) * 24 > ample.sales.sla_hours
    assert result.metrics["sla_breach_rate"] == pytest.approx(shifts_only.mean(), abs=0.002)
    in_rep_hours = opening == mql
    # MQLs follow the leads' profile: the reps' 8-18 weekdays hold the leads' 45 full hours and
    # 5 off hours at 0.22, 46.1 of the profile's 72.06 level-hours a week (64.0 %).
    assert in_rep_hours.mean() == pytest.approx((45 + 0.22 * 5) / (45 + 0.22 * 123), abs=0.04)
