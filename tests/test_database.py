"""The lead database: attrition, the stationary stock, fading interest, hand-raisers, channels
that differ in who arrives, and missing fit data that is unknown rather than the worst grade."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mqlsim.core.rng import Purpose, Streams
from mqlsim.core.vocabulary import ACTIVITY_CODE, FIT_ATTRIBUTES, UNKNOWN_GRADE
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.engine import run_replication
from mqlsim.model.journeys import RateTable, organic_events
from mqlsim.model.population import (
    attrition_hazard,
    generate_population,
    grade_of,
    icp_points_of,
    observed_grade_of,
    persona_mix,
    with_channel_odds,
)
from mqlsim.model.sales import SQL_OUTCOMES
from mqlsim.policies import make_policy
from mqlsim.policies.base import MISSING_CODE, LeadView
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import ICP, JourneysConfig, PopulationConfig, Scenario, ScenarioMeta
from tests.builders import event_log

ROOT = Path(__file__).resolve().parents[1]
BASELINE = str(ROOT / "scenarios" / "baseline.toml")
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom_email" / "hillstrom.csv"
ALPHA = 1e-3
DAYS_PER_MONTH = 365.25 / 12


def population(**config: object):
    """A baseline-like population of 20 leads a day over 400 days, with its stock."""
    scenario = Scenario(
        scenario=ScenarioMeta(horizon_days=400.0, warmup_days=30.0, seed=31),
        population=PopulationConfig(**{"leads_per_day": 20.0, **config}),
    )
    clock = ActivityClock(scenario.journeys)
    pop = generate_population(scenario.population, scenario.scenario, Streams(31, 0), clock)
    return scenario, pop


@pytest.fixture(scope="module")
def stocked():
    return population()


# --- attrition and the stationary stock -------------------------------------------------------


def test_hazard_makes_the_annual_share_leave() -> None:
    config = PopulationConfig(attrition_per_year=0.225)
    assert 1 - math.exp(-attrition_hazard(config) * 365.25) == pytest.approx(0.225)


def test_new_leads_stay_an_exponential_time(stocked) -> None:
    """Time from arrival to leaving: exponential with the hazard (KS test, uncensored)."""
    _, pop = stocked
    new = ~pop.existing
    hazard = attrition_hazard(PopulationConfig())
    assert (
        stats.kstest(pop.exit[new] - pop.arrival[new], "expon", args=(0, 1 / hazard)).pvalue > ALPHA
    )


def test_the_stock_is_the_stationary_database(stocked) -> None:
    """Existing leads number leads_per_day / hazard (Poisson), their ages are exponential
    with the hazard, what is left of their time is too, and their channels keep the shares."""
    scenario, pop = stocked
    config = scenario.population
    hazard = attrition_hazard(config)
    old = pop.existing
    expected = config.leads_per_day / hazard
    assert abs(old.sum() - expected) < 4 * math.sqrt(expected)
    ages = -pop.arrival[old]
    # whole days: the weekday pattern shapes the days within a week, not the law over weeks
    weeks = np.floor(ages / 7.0)
    expected_weeks = stats.geom(1 - math.exp(-7 * hazard), loc=-1)
    top = 800
    observed = np.bincount(np.minimum(weeks, top).astype(int), minlength=top + 1)
    probabilities = np.append(expected_weeks.pmf(np.arange(top)), expected_weeks.sf(top - 1))
    assert stats.chisquare(observed, observed.sum() * probabilities).pvalue > ALPHA
    assert stats.kstest(pop.exit[old], "expon", args=(0, 1 / hazard)).pvalue > ALPHA
    shares = np.array([c.share for c in config.channels])
    counts = np.bincount(pop.channel[old], minlength=shares.size)
    assert stats.chisquare(counts, counts.sum() * shares / shares.sum()).pvalue > ALPHA


def test_no_stock_without_attrition_is_refused() -> None:
    with pytest.raises(ValueError, match="needs attrition_per_year above 0"):
        PopulationConfig(attrition_per_year=0.0)
    assert PopulationConfig(attrition_per_year=0.0, initial_stock="none")


def test_a_lead_that_has_left_stops_all_activity() -> None:
    """No organic event, no touch and no SQL after a lead leaves; windows end by then."""
    scenario = load_scenario(
        BASELINE,
        [
            "population.leads_per_day=10",
            "scenario.horizon_days=300",
            "population.attrition_per_year=0.9",
        ],
    )
    result = run_replication(scenario, 0)
    pop = result.population
    gone = np.isfinite(pop.exit) & (pop.exit < 300)
    assert gone.sum() > 1000
    assert np.all(result.organic.time < pop.exit[result.organic.lead])
    assert np.all(result.touches.time < pop.exit[result.touches.lead])
    market = pop.in_market
    assert np.all(pop.window_end[market] <= pop.exit[market])
    assert np.all(pop.window_start[pop.in_market] < pop.exit[pop.in_market])
    sales = result.sales
    sql = np.isin(sales.outcome, SQL_OUTCOMES)
    assert np.all(sales.call_time[sql] < pop.exit[sales.lead[sql]])  # in its window at the call


# --- interest fades with age ------------------------------------------------------------------


def hillstrom_visit_rates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Months since last purchase, visit rate and count of the Hillstrom control arm."""
    if not HILLSTROM.is_file():
        pytest.skip("../shared/data is absent: the Hillstrom e-mail test data is not here")
    visits: dict[int, list[int]] = {}
    with HILLSTROM.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["segment"] == "No E-Mail":
                visits.setdefault(int(row["recency"]), []).append(int(row["visit"]))
    months = np.array(sorted(visits))
    rates = np.array([np.mean(visits[m]) for m in months])
    counts = np.array([len(visits[m]) for m in months])
    return months, rates, counts


def test_default_fade_reproduces_the_hillstrom_visits_by_recency() -> None:
    """Site visits of customers who got no e-mail fall with the months since their last
    purchase (1 to 12). An exponential with the default half-life (290 days), scaled to them by
    weighted least squares, fits them (chi-square goodness of fit, 12 points, 11 degrees of
    freedom), and the best half-life is within 10 % of the default."""
    months, rates, counts = hillstrom_visit_rates()
    half_life = JourneysConfig().interest_half_life_days
    decay = 2.0 ** (-(months * DAYS_PER_MONTH) / half_life)
    weights = counts / (rates * (1 - rates))
    scale = float((weights * rates * decay).sum() / (weights * decay * decay).sum())
    chi_square = float((weights * (rates - scale * decay) ** 2).sum())
    assert stats.chi2.sf(chi_square, months.size - 1) > 0.01, chi_square

    def misfit(days: float) -> float:
        d = 2.0 ** (-(months * DAYS_PER_MONTH) / days)
        c = (weights * rates * d).sum() / (weights * d * d).sum()
        return float((weights * (rates - c * d) ** 2).sum())

    grid = np.linspace(150, 600, 451)
    best = grid[np.argmin([misfit(days) for days in grid])]
    assert best == pytest.approx(half_life, rel=0.1)


def test_organic_activity_fades_with_age_outside_windows() -> None:
    """Leads never in market, no arrival burst, a uniform clock: their activity at ages
    300-400 days is 2^(-270/290) of that at ages 30-130 days (windows 270 days apart), within
    four standard errors of the counts."""
    scenario = Scenario(
        scenario=ScenarioMeta(horizon_days=500.0, warmup_days=30.0, seed=8),
        population=PopulationConfig(leads_per_day=20.0, initial_stock="none"),
        journeys=JourneysConfig(arrival_burst_multiplier=0.0, off_hours_activity=1.0),
    )
    clock = ActivityClock(scenario.journeys)
    streams = Streams(8, 0)
    pop = generate_population(scenario.population, scenario.scenario, streams, clock)
    rates = RateTable(scenario.journeys, scenario.population)
    organic = organic_events(
        pop, scenario.journeys, rates, 500.0, streams.generator(Purpose.JOURNEYS)
    )
    quiet = ~pop.in_market & (pop.exit > 500) & (pop.arrival < 100)
    lead = organic.lead
    age = organic.time - pop.arrival[lead]
    chosen = quiet[lead] & (age > 0)
    young = (chosen & (age >= 30) & (age < 130)).sum()
    old = (chosen & (age >= 300) & (age < 400)).sum()
    half_life = scenario.journeys.interest_half_life_days
    expected = 2.0 ** (-270 / half_life)  # the mid-points are 270 days apart
    ratio = old / young
    assert ratio == pytest.approx(expected, rel=4 * math.sqrt(1 / old + 1 / young))


# --- hand-raisers and channels ----------------------------------------------------------------


def test_hand_raisers_arrive_in_market_by_channel(stocked) -> None:
    scenario, pop = stocked
    for index, channel in enumerate(scenario.population.channels):
        members = pop.channel == index
        share = pop.hand_raiser[members].mean()
        p = channel.arrive_in_market_probability
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / members.sum())
    raised = pop.hand_raiser
    assert np.all(pop.in_market[raised & (pop.exit > pop.arrival)])
    assert np.all(pop.window_start[raised & pop.in_market] == pop.arrival[raised & pop.in_market])


def test_a_hand_raiser_converts_through_a_demo_request_and_is_mql_at_once() -> None:
    scenario = load_scenario(BASELINE, ["population.leads_per_day=10", "scenario.horizon_days=200"])
    result = run_replication(scenario, 0)
    pop, organic = result.population, result.organic
    new = np.flatnonzero(~pop.existing)
    first = organic.starts[new]
    expected = np.where(
        pop.hand_raiser[new], ACTIVITY_CODE["demo_request"], ACTIVITY_CODE["form_fill"]
    )
    np.testing.assert_array_equal(organic.activity[first], expected)
    np.testing.assert_array_equal(organic.time[first], pop.arrival[new])
    raised = new[pop.hand_raiser[new]]
    sales = result.sales
    first_mql = {
        int(lead): time for lead, time in zip(sales.lead[::-1], sales.mql_time[::-1], strict=True)
    }
    assert raised.size > 50
    # the baseline scores a demo request at 100: every hand-raiser is an MQL at its arrival,
    # except the few whose fit points (a grade D: -10) pull them below the threshold
    at_arrival = [first_mql.get(int(lead)) == pop.arrival[lead] for lead in raised]
    grade_d = pop.observed_grade[raised] == 3
    assert all(hit for hit, d in zip(at_arrival, grade_d, strict=True) if not d)


def test_channels_bring_their_own_persona_mix(stocked) -> None:
    scenario, pop = stocked
    mix = persona_mix(scenario.population)
    for index in range(len(scenario.population.channels)):
        members = pop.channel == index
        observed = np.bincount(pop.persona[members], minlength=mix.shape[1])
        keep = mix[index] > 0
        assert stats.chisquare(observed[keep], observed.sum() * mix[index][keep]).pvalue > ALPHA


def test_a_channels_buyer_odds_multiply_the_odds_of_budget_and_authority_exactly() -> None:
    channels = [{"name": "ads"}, {"name": "seo"}]
    _, neutral = population(channels=channels)
    _, explicit = population(channels=[{**c, "buyer_odds": 1.0} for c in channels])
    _, boosted = population(channels=[{"name": "ads", "buyer_odds": 4.0}, {"name": "seo"}])
    # Neutral odds are the model without the lever: the same leads, draw for draw.
    for name in ("budget", "authority", "persona", "in_market", "propensity", "u_win"):
        assert np.array_equal(getattr(neutral, name), getattr(explicit, name)), name
    # The same uniforms decide (common random numbers): only ads' leads gain, nobody loses.
    assert np.array_equal(boosted.persona, neutral.persona)
    ads = neutral.channel == 0
    for name in ("budget", "authority"):
        before, after = getattr(neutral, name), getattr(boosted, name)
        assert np.array_equal(after[~ads], before[~ads]) and np.all(after >= before), name
    # Each persona's chance has its odds multiplied by exactly 4 (0 and 1 stay) ...
    chances = with_channel_odds(0.2, np.array([1.0, 4.0, 0.25]))
    assert chances[0] == 0.2
    assert chances[1:] / (1 - chances[1:]) == pytest.approx([0.25 * 4, 0.25 / 4], rel=1e-12)
    assert with_channel_odds(1.0, np.array([0.1]))[0] == 1.0
    assert with_channel_odds(0.0, np.array([9.0]))[0] == 0.0
    # ... and the leads drawn follow: per persona, the observed odds of budget among ads'
    # leads are 4 times the persona's (its chance from the scenario), within sampling error.
    scenario, _ = population()
    for index, persona in enumerate(scenario.population.personas):
        members = ads & (boosted.persona == index)
        expected = with_channel_odds(persona.budget_probability, np.array([4.0]))[0]
        observed = boosted.budget[members].mean()
        spread = 4 * math.sqrt(expected * (1 - expected) / members.sum())
        assert abs(observed - expected) <= spread + 1e-12, persona.name


def test_unknown_persona_in_a_channel_mix_is_refused() -> None:
    with pytest.raises(ValueError, match="persona_multipliers names unknown personas nobody"):
        load_scenario(BASELINE).population.model_validate(
            {"channels": [{"name": "c", "persona_multipliers": {"nobody": 2.0}}]}
        )


# --- missing fit data is unknown, not the worst grade ------------------------------------------


def codes(**values: str) -> dict[str, np.ndarray]:
    """One lead's fit codes from values by attribute (missing when not given)."""
    return {
        attribute: np.array(
            [
                FIT_ATTRIBUTES[attribute].index(values[attribute])
                if attribute in values
                else MISSING_CODE
            ]
        )
        for attribute in FIT_ATTRIBUTES
    }


def test_a_grade_is_known_only_when_the_known_fields_decide_it() -> None:
    icp = ICP()  # A >= 30, B >= 20, C >= 10; region earns 5 in North America or Europe, else 0
    everything = codes(
        job_level="director", company_size="201-1000", industry="software", region="europe"
    )
    assert (
        observed_grade_of(everything, icp)[0]
        == grade_of(icp_points_of(everything, icp), icp)[0]
        == 0
    )
    # 10 + 15 + 10 = 35 without the region: A whatever the region holds (0 or 5)
    no_region = codes(job_level="director", company_size="201-1000", industry="software")
    assert observed_grade_of(no_region, icp)[0] == 0
    # 0 + 15 + 10 = 25: B with 0 region points, A with 5: undecided
    undecided = codes(
        job_level="individual_contributor", company_size="201-1000", industry="software"
    )
    assert observed_grade_of(undecided, icp)[0] == UNKNOWN_GRADE
    # nothing known: unknown, where points alone would have said D
    nothing = codes()
    assert grade_of(icp_points_of(nothing, icp), icp)[0] == 3
    assert observed_grade_of(nothing, icp)[0] == UNKNOWN_GRADE


def test_the_seed_worked_example_is_an_mql_on_the_baseline() -> None:
    """Seed 000: a lead reaches 100 points from the pricing page (30), a case study (20) and a
    webinar (50), and is MQL. Here the lead has no fit data (its grade is unknown: 0 grade
    points) and converted by a form fill (5 points) before: MQL at the webinar, with the
    baseline's own score. With the earlier baseline's points (case study 15, webinar 40) and
    missing data graded D (-10), the same lead never was."""
    scenario = load_scenario(BASELINE)
    journey = [
        (0, 0.0, "form_fill"),
        (0, 2.0, "pricing_page"),
        (0, 5.0, "case_study"),
        (0, 9.0, "webinar_attended"),
    ]
    fit = codes()
    grade = observed_grade_of(fit, scenario.population.icp)
    assert grade[0] == UNKNOWN_GRADE
    view = LeadView(events=event_log(journey, 1), grade=grade, fit=fit, since=np.array([0.0]))
    assert make_policy(scenario.policy).qualify(view).time[0] == 9.0
    earlier = scenario.policy.model_copy(
        update={"points": {**scenario.policy.points, "case_study": 15.0, "webinar_attended": 40.0}}
    )
    worst = grade_of(icp_points_of(fit, scenario.population.icp), scenario.population.icp)
    assert worst[0] == 3
    graded_d = LeadView(events=view.events, grade=worst, fit=fit, since=np.array([0.0]))
    assert np.isnan(make_policy(earlier).qualify(graded_d).time[0])
