"""Builders for hand-written test data."""

import numpy as np

from mqlsim.core.events import EventLog
from mqlsim.core.rng import Purpose, Streams
from mqlsim.core.vocabulary import ACTIVITY_CODE, FIT_ATTRIBUTES
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.journeys import RateTable, organic_events
from mqlsim.model.population import Population, generate_population
from mqlsim.policies.base import LeadView
from mqlsim.scenario.models import PopulationConfig, Scenario, ScenarioMeta


def event_log(events: list[tuple[int, float, str]], n_leads: int) -> EventLog:
    """An event log from ``(lead, time, activity name)`` triples (ties keep the order written)."""
    return EventLog.from_unsorted(
        np.array([e[0] for e in events], dtype=np.int64),
        np.array([e[1] for e in events], dtype=float),
        np.array([ACTIVITY_CODE[e[2]] for e in events], dtype=np.int8),
        n_leads,
    )


def generated_view(seed: int, **population: object) -> LeadView:
    """Organic journeys of ~2,000 new leads drawn by the engine's own generators (200 days, no
    initial stock), each lead counted from its arrival; ``population`` overrides
    `[population]` keys."""
    scenario = Scenario(
        scenario=ScenarioMeta(horizon_days=200.0, warmup_days=30.0, seed=seed),
        population=PopulationConfig(
            **{"leads_per_day": 10.0, "initial_stock": "none", **population}
        ),
    )
    streams = Streams(seed, 0)
    clock = ActivityClock(scenario.journeys)
    pop = generate_population(scenario.population, scenario.scenario, streams, clock)
    rates = RateTable(scenario.journeys, scenario.population)
    organic = organic_events(
        pop, scenario.journeys, rates, 200.0, streams.generator(Purpose.JOURNEYS)
    )
    return LeadView(events=organic, grade=pop.observed_grade, fit=pop.fit, since=pop.arrival)


def buyers(n_leads: int, seed: int = 1, grade: int = 0) -> Population:
    """``n_leads`` leads, all arrived at day 0, all real buyers (budget, authority) inside a
    buying window from day -1 to long after any run, all of fit ``grade``, none leaving: what
    the sales floor does to them depends on its rules and on their outcome draws (uniform,
    from ``seed``)."""
    rng = np.random.default_rng(seed)
    zeros = np.zeros(n_leads, dtype=np.int8)
    return Population(
        arrival=np.zeros(n_leads),
        channel=zeros.astype(np.int16),
        persona=zeros.astype(np.int16),
        fit={attribute: zeros.copy() for attribute in FIT_ATTRIBUTES},
        icp_points=np.zeros(n_leads),
        observed_grade=np.full(n_leads, grade, dtype=np.int8),
        grade=np.full(n_leads, grade, dtype=np.int8),
        propensity=np.ones(n_leads),
        hand_raiser=np.zeros(n_leads, dtype=bool),
        in_market=np.ones(n_leads, dtype=bool),
        window_start=np.full(n_leads, -1.0),
        window_end=np.full(n_leads, 1.0e6),
        exit=np.full(n_leads, np.inf),
        budget=np.ones(n_leads, dtype=bool),
        authority=np.ones(n_leads, dtype=bool),
        deal_value=np.full(n_leads, 25_000.0),
        u_accept=rng.random(n_leads),
        u_qualify=rng.random(n_leads),
        u_opportunity=rng.random(n_leads),
        u_win=rng.random(n_leads),
    )
