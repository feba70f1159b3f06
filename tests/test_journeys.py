"""Populations, journeys, drip cadences and touch answers: shapes and statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mqlsim.core.rng import Purpose, Streams
from mqlsim.core.vocabulary import ACTIVITY_CODE, FIT_ATTRIBUTES
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.engine import run_replication
from mqlsim.model.journeys import (
    _CONTENT_CODES,
    _ORGANIC_CODES,
    RateTable,
    organic_events,
    respond_to_touches,
)
from mqlsim.model.population import (
    Population,
    arrival_times,
    generate_population,
    grade_of,
    icp_points_of,
)
from mqlsim.policies.nurture import DripCadence
from mqlsim.policies.sections import DripNurtureConfig
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import (
    ICP,
    Channel,
    JourneysConfig,
    PopulationConfig,
    Scenario,
    ScenarioMeta,
)

ALPHA = 1e-3  # generous: fixed seeds, and a failure means a real departure from the config
#: A clock without a weekly profile: times within a day uniform (tests/test_calendar.py checks
#: the profile).
UNIFORM = ActivityClock(JourneysConfig(off_hours_activity=1.0))
BASELINE = str(Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml")


# --- drip cadence -----------------------------------------------------------------------------


def test_drip_touches_every_interval_up_to_max_and_horizon() -> None:
    cadence = DripCadence(DripNurtureConfig(interval_days=7.0, max_touches=3))
    lead, time = cadence.touch_times(np.array([0.0, 10.0, 80.0, 95.0]), horizon_days=100.0)
    assert lead.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    np.testing.assert_allclose(time, [7, 14, 21, 17, 24, 31, 87, 94])


def test_drip_without_touches() -> None:
    cadence = DripCadence(DripNurtureConfig(max_touches=0))
    lead, time = cadence.touch_times(np.array([0.0, 1.0]), horizon_days=100.0)
    assert lead.size == 0
    assert time.size == 0


def test_drip_never_touches_at_or_past_horizon() -> None:
    cadence = DripCadence(DripNurtureConfig(interval_days=5.0, max_touches=100))
    starts = np.random.default_rng(1).uniform(0, 100, 200)
    lead, time = cadence.touch_times(starts, horizon_days=100.0)
    assert np.all(time < 100.0)
    counts = np.bincount(lead, minlength=starts.size)
    assert np.all(counts <= 100)
    np.testing.assert_array_equal(counts, np.ceil((100.0 - starts) / 5.0) - 1)
    k = np.round((time - starts[lead]) / 5.0)
    np.testing.assert_allclose(time, starts[lead] + 5.0 * k)
    assert np.all(k >= 1)


# --- arrivals and the population --------------------------------------------------------------


def flat_channel(name: str = "only", share: float = 1.0) -> Channel:
    return Channel(name=name, share=share, weekly_seasonality=[1.0] * 7)


def test_arrival_count_over_long_horizon_matches_mean() -> None:
    """40 leads a day over 3,640 days: the total is within 4 standard deviations of the mean."""
    config = PopulationConfig(leads_per_day=40.0)
    time, channel = arrival_times(config, 3640.0, np.random.default_rng(11), UNIFORM)
    mean = 40.0 * 3640.0
    assert abs(time.size - mean) < 4 * np.sqrt(mean)
    assert np.all(np.diff(time) >= 0)
    assert time.min() >= 0 and time.max() < 3640.0
    assert channel.size == time.size


def test_daily_counts_are_poisson() -> None:
    """Flat seasonality: daily counts have variance equal to their mean (dispersion test)."""
    config = PopulationConfig(leads_per_day=12.0, channels=[flat_channel()])
    time, _ = arrival_times(config, 2000.0, np.random.default_rng(12), UNIFORM)
    counts = np.bincount(np.floor(time).astype(int), minlength=2000)
    assert counts.mean() == pytest.approx(12.0, rel=0.03)
    dispersion = ((counts - counts.mean()) ** 2).sum() / counts.mean()
    p = stats.chi2.sf(dispersion, counts.size - 1)
    assert ALPHA < p < 1 - ALPHA
    # times within a day are uniform
    assert stats.kstest(time % 1.0, "uniform").pvalue > ALPHA


def test_channel_shares_match_config() -> None:
    config = PopulationConfig(leads_per_day=30.0)  # four channels, unequal seasonality
    _, channel = arrival_times(config, 700.0, np.random.default_rng(13), UNIFORM)
    shares = np.array([c.share for c in config.channels])
    observed = np.bincount(channel, minlength=shares.size)
    expected = observed.sum() * shares / shares.sum()
    assert stats.chisquare(observed, expected).pvalue > ALPHA


def test_weekday_seasonality_shows_in_arrivals() -> None:
    """Counts per weekday follow the profile; a flat profile is rejected outright."""
    profile = [1.2, 1.2, 1.15, 1.1, 0.95, 0.2, 0.2]
    config = PopulationConfig(
        leads_per_day=30.0, channels=[Channel(name="c", weekly_seasonality=profile)]
    )
    time, _ = arrival_times(config, 700.0, np.random.default_rng(14), UNIFORM)
    observed = np.bincount(np.floor(time).astype(int) % 7, minlength=7)
    shape = np.array(profile) / sum(profile)
    assert stats.chisquare(observed, observed.sum() * shape).pvalue > ALPHA
    assert stats.chisquare(observed, np.full(7, observed.sum() / 7)).pvalue < 1e-9
    assert observed[5] < observed[0] / 3  # Saturday is quiet


def test_seasonality_is_rescaled_so_volume_is_unchanged() -> None:
    """A spiky profile shapes the week but keeps the mean volume."""
    config = PopulationConfig(
        leads_per_day=20.0,
        channels=[Channel(name="c", weekly_seasonality=[7.0, 0, 0, 0, 0, 0, 0])],
    )
    time, _ = arrival_times(config, 1400.0, np.random.default_rng(15), UNIFORM)
    assert abs(time.size - 28_000) < 4 * np.sqrt(28_000)
    assert np.all(np.floor(time).astype(int) % 7 == 0)


@pytest.fixture(scope="module")
def population() -> tuple[Scenario, Population]:
    scenario = Scenario(
        scenario=ScenarioMeta(horizon_days=700.0, warmup_days=30.0, seed=21),
        # New leads only, who never leave: the stock and attrition are tests/test_database.py's.
        population=PopulationConfig(
            leads_per_day=20.0, initial_stock="none", attrition_per_year=0.0
        ),
    )
    clock = ActivityClock(scenario.journeys)
    return scenario, generate_population(
        scenario.population, scenario.scenario, Streams(21, 0), clock
    )


def test_persona_shares_match_config(population) -> None:
    scenario, pop = population
    shares = np.array([p.share for p in scenario.population.personas])
    observed = np.bincount(pop.persona, minlength=shares.size)
    assert stats.chisquare(observed, observed.sum() * shares / shares.sum()).pvalue > ALPHA


def test_fit_attributes_follow_persona_distributions(population) -> None:
    """Job levels of economic buyers follow the persona's weights; none outside them."""
    scenario, pop = population
    spec = scenario.population.personas[0]
    members = pop.persona == 0
    levels = FIT_ATTRIBUTES["job_level"]
    observed = np.bincount(pop.fit["job_level"][members], minlength=len(levels))
    weights = np.array([spec.job_level.get(level, 0.0) for level in levels])
    assert observed[weights == 0].sum() == 0
    keep = weights > 0
    expected = observed.sum() * weights[keep] / weights.sum()
    assert stats.chisquare(observed[keep], expected).pvalue > ALPHA


def test_grades_and_icp_points_of_population_agree(population) -> None:
    scenario, pop = population
    icp = scenario.population.icp
    np.testing.assert_array_equal(pop.icp_points, icp_points_of(pop.fit, icp))
    np.testing.assert_array_equal(pop.grade, grade_of(pop.icp_points, icp))
    assert set(np.unique(pop.grade)) == {0, 1, 2, 3}


def test_in_market_share_and_windows(population) -> None:
    """Windows start after arrival and end after they start; out-of-market leads have none."""
    scenario, pop = population
    assert np.all(pop.window_start[pop.in_market] >= pop.arrival[pop.in_market])
    assert np.all(pop.window_end[pop.in_market] > pop.window_start[pop.in_market])
    assert np.all(np.isinf(pop.window_start[~pop.in_market]))
    probabilities = np.array([p.in_market_probability for p in scenario.population.personas])
    raised = np.array([c.arrive_in_market_probability for c in scenario.population.channels])
    hand = raised[pop.channel]
    expected = (hand + (1 - hand) * probabilities[pop.persona]).sum()
    assert abs(pop.in_market.sum() - expected) < 4 * np.sqrt(expected)


def test_grade_cutoffs_on_hand_picked_points() -> None:
    icp = ICP()  # A >= 30, B >= 20, C >= 10
    points = np.array([100, 30, 29.99, 20, 19.5, 10, 9.99, 0, -40])
    assert grade_of(points, icp).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_icp_points_of_hand_picked_leads() -> None:
    """Director, 201-1000, software, North America: 10+15+10+5 = 40 (A); a student: D."""
    fit = {
        "job_level": np.array(
            [FIT_ATTRIBUTES["job_level"].index(v) for v in ("director", "student")]
        ),
        "company_size": np.array(
            [FIT_ATTRIBUTES["company_size"].index(v) for v in ("201-1000", "1-10")]
        ),
        "industry": np.array([FIT_ATTRIBUTES["industry"].index(v) for v in ("software", "retail")]),
        "region": np.array([FIT_ATTRIBUTES["region"].index(v) for v in ("north_america", "apac")]),
    }
    points = icp_points_of(fit, ICP())
    assert points.tolist() == [40.0, -30.0]
    assert grade_of(points, ICP()).tolist() == [0, 3]


# --- organic journeys -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def journeys(population):
    scenario, pop = population
    horizon = scenario.scenario.horizon_days
    rates = RateTable(scenario.journeys, scenario.population)
    organic = organic_events(
        pop, scenario.journeys, rates, horizon, Streams(21, 0).generator(Purpose.JOURNEYS)
    )
    return scenario, pop, organic


def test_no_activity_before_arrival_or_past_horizon(journeys) -> None:
    scenario, pop, organic = journeys
    assert organic.n_leads == pop.size
    assert np.all(organic.time >= pop.arrival[organic.lead])
    assert np.all(organic.time < scenario.scenario.horizon_days)
    assert np.all(np.diff(organic.lead) >= 0)
    same_lead = np.diff(organic.lead) == 0
    assert np.all(np.diff(organic.time)[same_lead] >= 0)


def test_every_lead_converts_at_arrival(journeys) -> None:
    """A form fill at arrival, or a demo request for a hand-raiser: its first event."""
    _, pop, organic = journeys
    conversion = np.where(
        pop.hand_raiser, ACTIVITY_CODE["demo_request"], ACTIVITY_CODE["form_fill"]
    )
    at_arrival = (organic.activity == conversion[organic.lead]) & (
        organic.time == pop.arrival[organic.lead]
    )
    np.testing.assert_array_equal(np.unique(organic.lead[at_arrival]), np.arange(pop.size))
    # and it is the lead's first event
    assert np.all(organic.time[organic.starts[:-1]] == pop.arrival)
    assert 0 < pop.hand_raiser.sum() < pop.size


def test_no_touch_answers_in_organic_events(journeys) -> None:
    """Opens, clicks and unsubscribes only answer touches; organic logs have none."""
    _, _, organic = journeys
    for name in ("email_open", "email_click", "unsubscribe"):
        assert not np.any(organic.activity == ACTIVITY_CODE[name])


def per_lead_times(organic, name: str) -> dict[int, np.ndarray]:
    mask = organic.activity == ACTIVITY_CODE[name]
    leads, times = organic.lead[mask], organic.time[mask]
    return {int(lead): times[leads == lead] for lead in np.unique(leads)}


def assert_each_follows(
    later: dict[int, np.ndarray], earlier: dict[int, np.ndarray], days: float
) -> None:
    """Each time in ``later`` falls within ``days`` after (or at) one of its lead's times in
    ``earlier``."""
    for lead, times in later.items():
        starts = earlier.get(lead, np.array([]))
        for t in times:
            assert np.any((starts <= t) & (t < starts + days)), (lead, t)


def test_webinar_attendance_follows_a_registration(journeys) -> None:
    scenario, _, organic = journeys
    lead_time = scenario.journeys.webinar_lead_time_days
    registered = per_lead_times(organic, "webinar_registered")
    attended = per_lead_times(organic, "webinar_attended")
    assert attended, "no attendance at all: the check below would be vacuous"
    assert_each_follows(attended, registered, lead_time)
    for lead, times in attended.items():
        assert times.size <= registered[lead].size


def test_attendance_share_matches_probability(journeys) -> None:
    scenario, _, organic = journeys
    registrations = (organic.activity == ACTIVITY_CODE["webinar_registered"]).sum()
    attendances = (organic.activity == ACTIVITY_CODE["webinar_attended"]).sum()
    p = scenario.journeys.webinar_attendance_probability
    # registrations in the last two weeks may lose their attendance past the horizon
    assert registrations > 500
    assert attendances == pytest.approx(p * registrations, rel=0.1)


def test_product_usage_only_within_a_trial(journeys) -> None:
    scenario, _, organic = journeys
    length = scenario.journeys.trial_length_days
    trials = per_lead_times(organic, "trial_signup")
    usage = per_lead_times(organic, "product_usage")
    assert usage, "no product usage at all: the check below would be vacuous"
    assert_each_follows(usage, trials, length)


def test_a_lead_able_to_buy_uses_the_product_more_inside_its_window(population) -> None:
    """Product usage per trial, for leads with a single trial: inside a buying window, leads
    with budget and authority use the product ``product_usage_able_lift`` times as much as the
    others; outside a window, as much (the lift needs a window)."""
    scenario, pop = population
    rates = {**scenario.journeys.organic_rates_per_day, "trial_signup": 0.002}
    journeys = scenario.journeys.model_copy(
        update={"organic_rates_per_day": rates, "product_usage_able_lift": 4.0}
    )
    organic = organic_events(
        pop,
        journeys,
        RateTable(journeys, scenario.population),
        scenario.scenario.horizon_days,
        Streams(21, 0).generator(Purpose.JOURNEYS),
    )
    trial = organic.activity == ACTIVITY_CODE["trial_signup"]
    trials = np.bincount(organic.lead[trial], minlength=pop.size)
    uses = np.bincount(
        organic.lead[organic.activity == ACTIVITY_CODE["product_usage"]], minlength=pop.size
    )
    single = np.flatnonzero(trials == 1)
    start = np.zeros(pop.size)
    start[organic.lead[trial]] = organic.time[trial]  # for single-trial leads, their trial
    start = start[single]
    in_window = (start >= pop.window_start[single]) & (start < pop.window_end[single])
    able = pop.able_to_buy[single]
    # Trials near the horizon are cut short: leave out the last trial length.
    whole = start < scenario.scenario.horizon_days - journeys.trial_length_days

    def usage_per_trial(group: np.ndarray) -> float:
        assert (group & whole).sum() > 100
        return float(uses[single][group & whole].mean())

    inside = usage_per_trial(able & in_window) / usage_per_trial(~able & in_window)
    outside = usage_per_trial(able & ~in_window) / usage_per_trial(~able & ~in_window)
    assert inside == pytest.approx(4.0, rel=0.15)
    assert outside == pytest.approx(1.0, rel=0.15)


def test_pricing_page_rate_higher_inside_buying_window(journeys) -> None:
    """Pricing-page views per lead-day inside windows exceed those outside several-fold."""
    scenario, pop, organic = journeys
    horizon = scenario.scenario.horizon_days
    start = np.clip(pop.window_start, pop.arrival, horizon)
    end = np.clip(pop.window_end, pop.arrival, horizon)
    inside_days = (end - start).sum()
    outside_days = (horizon - pop.arrival).sum() - inside_days
    pricing = organic.activity == ACTIVITY_CODE["pricing_page"]
    lead, time = organic.lead[pricing], organic.time[pricing]
    inside = (time >= pop.window_start[lead]) & (time < pop.window_end[lead])
    inside_rate = inside.sum() / inside_days
    outside_rate = (~inside).sum() / outside_days
    assert inside.sum() > 100 and (~inside).sum() > 100
    assert inside_rate > 5 * outside_rate


def test_journeys_are_reproducible(population) -> None:
    scenario, pop = population
    rates = RateTable(scenario.journeys, scenario.population)
    logs = [
        organic_events(
            pop, scenario.journeys, rates, 700.0, Streams(21, 0).generator(Purpose.JOURNEYS)
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(logs[0].time, logs[1].time)
    np.testing.assert_array_equal(logs[0].activity, logs[1].activity)


def test_rate_table_draw_is_the_inverse_cdf_of_each_group(population) -> None:
    """The bucket lookup gives what a search of the group's cumulative distribution gives, also
    for uniforms on the distribution's values and on bucket edges, and for zero rates."""
    scenario, _ = population
    journeys = scenario.journeys.model_copy(
        update={"organic_rates_per_day": {"web_visit": 0.3, "pricing_page": 1e-9, "blog_post": 0}}
    )
    rates = RateTable(journeys, scenario.population)
    rng = np.random.default_rng(3)
    for content_only, codes in ((False, _ORGANIC_CODES), (True, _CONTENT_CODES)):
        table = rates.rates[:, :, np.isin(_ORGANIC_CODES, codes)]
        cumulative = np.cumsum(table, axis=2)
        cumulative /= np.maximum(cumulative[:, :, -1:], np.finfo(float).tiny)
        u = np.concatenate(
            (rng.random(20_000), cumulative.ravel(), np.nextafter(cumulative.ravel(), 0.0))
        )
        u = np.concatenate((u, np.arange(4096) / 4096, [0.0, np.nextafter(1.0, 0.0), 5e-324]))
        u = u[u < 1.0]
        persona = rng.integers(0, table.shape[0], u.size).astype(np.int16)
        in_window = rng.integers(0, 2, u.size).astype(np.int8)
        expected = np.array(
            [
                np.searchsorted(cumulative[p, w], x, side="right")
                for p, w, x in zip(persona, in_window, u, strict=True)
            ]
        )
        drawn = rates.draw(persona, in_window, u, content_only=content_only)
        np.testing.assert_array_equal(drawn, codes[np.minimum(expected, len(codes) - 1)])


# --- touches ----------------------------------------------------------------------------------


def answers(population, journeys_config: JourneysConfig, interval: float, touches: int, seed=5):
    """Every lead gets ``touches`` touches ``interval`` days apart from day 1; same uniforms."""
    scenario, pop = population
    rates = RateTable(journeys_config, scenario.population)
    lead = np.repeat(np.arange(pop.size), touches)
    time = 1.0 + np.tile(np.arange(touches) * interval, pop.size)
    uniforms = np.random.default_rng(seed).random((lead.size, 4))
    return respond_to_touches(pop, journeys_config, rates, lead, time, uniforms)


def test_no_touch_after_unsubscribe(population) -> None:
    config = JourneysConfig(unsubscribe_probability=0.05)
    sent = answers(population, config, interval=7.0, touches=12)
    unsubscribed = np.flatnonzero(sent.unsubscribed)
    assert unsubscribed.size > 100
    # the unsubscribing touch is its lead's last, and leads unsubscribe at most once
    assert np.unique(sent.lead[unsubscribed]).size == unsubscribed.size
    last_of_lead = np.r_[sent.lead[1:] != sent.lead[:-1], True]
    assert np.all(last_of_lead[unsubscribed])
    # leads that never unsubscribed got all 12 touches
    counts = np.bincount(sent.lead, minlength=population[1].size)
    stayed = ~np.isin(np.arange(counts.size), sent.lead[unsubscribed])
    assert np.all(counts[stayed] == 12)


def test_answers_are_consistent(population) -> None:
    sent = answers(population, JourneysConfig(), interval=7.0, touches=4)
    assert not np.any(sent.clicked & ~sent.opened)
    assert np.all((sent.landing >= 0) == sent.clicked)
    _, _, activity = sent.events()
    assert (activity == ACTIVITY_CODE["email_open"]).sum() == sent.opened.sum()


def test_frequent_touches_raise_unsubscribes(population) -> None:
    """Same uniforms, same number of touches: daily touches unsubscribe more than weekly ones."""
    config = JourneysConfig()
    weekly = answers(population, config, interval=7.0, touches=8)
    daily = answers(population, config, interval=1.0, touches=8)
    weekly_leads = set(weekly.lead[weekly.unsubscribed].tolist())
    daily_leads = set(daily.lead[daily.unsubscribed].tolist())
    assert len(daily_leads) > 2 * len(weekly_leads)
    assert weekly_leads <= daily_leads  # fatigue only raises each touch's chance


def test_frequent_nurture_raises_unsubscribe_rate_in_engine() -> None:
    base = [
        "population.leads_per_day=10",
        "scenario.horizon_days=200",
        "scenario.warmup_days=30",
        "nurture.max_touches=10",
    ]
    rates = {}
    for interval in (1.0, 7.0):
        scenario = load_scenario(BASELINE, [*base, f"nurture.interval_days={interval}"])
        result = run_replication(scenario, 0)
        rates[interval] = result.metrics["unsubscribe_rate"]
        # no touch after a lead's unsubscribe, in the engine's record of touches sent
        touches = result.touches
        order = np.lexsort((touches.time, touches.lead))
        lead, time = touches.lead[order], touches.time[order]
        unsub = touches.unsubscribed[order]
        first_unsub = np.full(result.population.size, np.inf)
        np.minimum.at(first_unsub, lead[unsub], time[unsub])
        assert np.all(time <= first_unsub[lead])
    assert rates[1.0] > 1.5 * rates[7.0]
