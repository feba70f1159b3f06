"""How big one replication of a scenario will be, before it runs: leads, events, touches.

A run's memory and time grow with the number of leads and of the events their journeys hold
(sim/experiments/budget.py turns these counts into bytes and seconds). Here they are computed
as expectations from the scenario's rates, never drawn, so an absurd scenario (a million leads a
day, a window lift of 1e9) is sized in microseconds instead of allocating until memory runs out.

The expectation follows sim/model/journeys.py: a lead arriving at ``a`` lives ``H - a`` days;
outside its buying window it emits events at its persona's organic rate, inside at the lifted
rate; the arrival burst adds ``multiplier * tau`` days' worth, at the lifted rate for the share
of it that falls in the window; webinar
registrations and trials add attendance and usage; every lead has its arrival form fill. Leads
arrive uniformly over the horizon, and windows are averaged over a fixed sample of start delays
and lengths from the persona's distributions (a fixed seed: the same scenario, the same size).
Nurture adds the touches its cadence plans at once for each lead
(:meth:`mqlsim.policies.base.CadenceConfigBase.planned_touches_per_lead`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mqlsim.core.vocabulary import ORGANIC_ACTIVITIES
from mqlsim.model.journeys import organic_rates
from mqlsim.model.population import WINDOW_LENGTH_SHAPE
from mqlsim.scenario.models import Scenario

#: Arrival times averaged over (evenly spaced across the horizon) and window draws per persona.
_ARRIVALS = 64
_WINDOWS = 128


@dataclass(frozen=True)
class Footprint:
    """The expected size of one replication."""

    leads: float
    events: float  # activity events, derived ones included, and planned touches


def footprint(scenario: Scenario) -> Footprint:
    """The expected leads and events of one replication of ``scenario`` (module docstring)."""
    horizon = scenario.scenario.horizon_days
    leads = scenario.population.leads_per_day * horizon
    life = horizon * (np.arange(_ARRIVALS) + 0.5) / _ARRIVALS
    draws = np.random.default_rng(0)
    per_lead = 1.0  # the arrival form fill
    with np.errstate(over="ignore", invalid="ignore"):  # absurd rates: inf, judged by callers
        rates = organic_rates(scenario.journeys, scenario.population)
        per_lead += _activity_per_lead(scenario, life, rates, draws)
    per_lead += scenario.nurture.planned_touches_per_lead()
    return Footprint(leads=leads, events=leads * per_lead)


def _activity_per_lead(
    scenario: Scenario, life: np.ndarray, rates: np.ndarray, draws: np.random.Generator
) -> float:
    """Expected activity events of a lead, averaged over arrivals and personas."""
    population, journeys = scenario.population, scenario.journeys
    codes = {activity: index for index, activity in enumerate(ORGANIC_ACTIVITIES)}
    shares = np.array([persona.share for persona in population.personas], dtype=float)
    shares /= shares.sum()
    per_lead = 0.0
    for index, persona in enumerate(population.personas):
        delay = draws.exponential(persona.window_start_mean_days, _WINDOWS)
        length = draws.gamma(
            WINDOW_LENGTH_SHAPE, persona.window_length_mean_days / WINDOW_LENGTH_SHAPE, _WINDOWS
        )
        inside = np.minimum(length[None, :], np.maximum(life[:, None] - delay[None, :], 0.0))
        window = persona.in_market_probability * inside.mean(axis=1)  # days, by arrival
        outside = life - window
        # The burst's weight e^(-(t - a) / tau) integrated over the life, and over the window.
        tau = journeys.arrival_burst_decay_days
        burst = journeys.arrival_burst_multiplier * tau * (1.0 - np.exp(-life / tau))
        burst_inside = (
            journeys.arrival_burst_multiplier
            * tau
            * persona.in_market_probability
            * (np.exp(-delay / tau) - np.exp(-(delay + length) / tau)).mean()
        )
        burst_inside = np.minimum(burst_inside, burst)
        outside_rate, inside_rate = rates[index]  # by activity
        by_activity = (
            outside_rate[None, :] * (outside + burst - burst_inside)[:, None]
            + inside_rate[None, :] * (window + burst_inside)[:, None]
        ).mean(axis=0)
        follow_ups = (
            journeys.webinar_attendance_probability * by_activity[codes["webinar_registered"]]
            + by_activity[codes["trial_signup"]]
            * journeys.product_usage_rate_per_day
            * max(1.0, journeys.product_usage_window_lift)
            * journeys.trial_length_days
        )
        per_lead += shares[index] * persona.engagement_multiplier * (by_activity.sum() + follow_ups)
    return float(per_lead)
