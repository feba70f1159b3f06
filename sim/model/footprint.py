"""How big one replication of a scenario will be, before it runs: leads, events, touches.

A run's memory and time grow with the number of leads and of the events their journeys hold
(sim/experiments/budget.py turns these counts into bytes and seconds). Here they are computed
as expectations from the scenario's rates, never drawn, so an absurd scenario (a million leads a
day, a window lift of 1e9) is sized in microseconds instead of allocating until memory runs out.

The expectation follows sim/model/population.py and sim/model/journeys.py over a fixed sample
of typical leads (a fixed seed: the same scenario, the same size), two groups of them:

- the leads that arrive during the run, ``leads_per_day × horizon``, uniformly over it;
- with ``initial_stock = "stationary"``, the existing leads, ``leads_per_day / hazard`` of them,
  whose ages are exponential with the attrition hazard; each one's activity is drawn from
  ``stock_history_days`` before day 0 (or its arrival, if later).

Each sampled lead leaves after an exponential time with the attrition hazard (memoryless, so an
existing lead's remaining time has the same law) and is active from the start of its drawn span
until it leaves or the run ends. Its persona follows the channels' persona mixes; it is in
market from its arrival (a hand-raiser, by its channel's share) or with its persona's
``in_market_probability`` after an exponential delay, for a gamma-distributed window that ends
when it leaves. Outside its window it emits events at its persona's organic rate, fading with
``interest_half_life_days`` toward ``interest_floor``; inside at the lifted rate; the arrival
burst adds ``multiplier × tau`` days' worth from arrival. Webinar registrations and trials add
attendance and usage; every lead whose arrival falls in its span has its arrival conversion.
Nurture adds the touches its cadence plans at once for each lead
(:meth:`mqlsim.policies.sections.CadenceConfigBase.planned_touches_per_lead`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mqlsim.core.vocabulary import ORGANIC_ACTIVITIES
from mqlsim.model.journeys import organic_rates
from mqlsim.model.population import WINDOW_LENGTH_SHAPE, attrition_hazard, persona_mix
from mqlsim.scenario.models import Scenario

#: Typical leads sampled per group (arrivals during the run, existing leads).
_SAMPLE = 4096


@dataclass(frozen=True)
class Footprint:
    """The expected size of one replication."""

    leads: float
    events: float  # activity events, derived ones included, and planned touches


def footprint(scenario: Scenario) -> Footprint:
    """The expected leads and events of one replication of ``scenario`` (module docstring)."""
    population = scenario.population
    horizon = scenario.scenario.horizon_days
    hazard = attrition_hazard(population)
    draws = np.random.default_rng(0)
    new = population.leads_per_day * horizon
    # Arrivals spread evenly over the run (their order is the sample's, not the leads').
    arrival = horizon * (np.arange(_SAMPLE) + 0.5) / _SAMPLE
    groups = [(new, arrival, arrival)]
    if population.initial_stock == "stationary" and hazard > 0:
        age = draws.exponential(1.0 / hazard, _SAMPLE)
        groups.append(
            (
                population.leads_per_day / hazard,
                -age,
                np.maximum(-age, -population.stock_history_days),
            )
        )
    leads = 0.0
    events = 0.0
    touches = scenario.nurture.planned_touches_per_lead()
    with np.errstate(over="ignore", invalid="ignore"):  # absurd rates: inf, judged by callers
        for count, arrival, start in groups:
            leave = start + draws.exponential(1.0 / hazard, _SAMPLE) if hazard > 0 else np.inf
            end = np.minimum(leave, horizon)
            per_lead = _activity_per_lead(scenario, arrival, start, end, draws)
            leads += count
            events += count * (per_lead + touches)
    return Footprint(leads=leads, events=events)


def _activity_per_lead(
    scenario: Scenario,
    arrival: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    draws: np.random.Generator,
) -> float:
    """Expected activity events of a lead of the sample (``arrival``, drawn span
    ``[start, end)``), averaged over the sample and the personas."""
    population, journeys = scenario.population, scenario.journeys
    rates = organic_rates(journeys, population)
    codes = {activity: index for index, activity in enumerate(ORGANIC_ACTIVITIES)}
    channel_share = np.array([channel.share for channel in population.channels], dtype=float)
    channel_share /= channel_share.sum()
    shares = channel_share @ persona_mix(population)
    raised = np.array([c.arrive_in_market_probability for c in population.channels])
    # Hand-raisers by persona: a persona's share of them among its leads.
    hand_raisers = (channel_share * raised) @ persona_mix(population) / np.maximum(shares, 1e-300)
    life = np.clip(end - start, 0.0, None)
    conversions = float(np.mean((arrival >= start) & (arrival < end)))
    fade_scale = journeys.interest_half_life_days / math.log(2.0)
    floor = journeys.interest_floor if math.isfinite(fade_scale) else 1.0
    tau = journeys.arrival_burst_decay_days
    per_lead = conversions
    for index, persona in enumerate(population.personas):
        delay = draws.exponential(persona.window_start_mean_days, arrival.size)
        length = draws.gamma(
            WINDOW_LENGTH_SHAPE, persona.window_length_mean_days / WINDOW_LENGTH_SHAPE, arrival.size
        )
        # A hand-raiser's window starts at arrival; another lead's, if it is in market, after
        # its delay. Expected days in the window, and the burst's weight e^(-(t - a) / tau)
        # over the drawn span and over the window.
        others = (1.0 - hand_raisers[index]) * min(persona.in_market_probability, 1.0)
        window = np.zeros_like(life)
        burst_inside = np.zeros_like(life)
        for weight, opens in ((hand_raisers[index], arrival), (others, arrival + delay)):
            first, last = np.maximum(opens, start), np.minimum(opens + length, end)
            window += weight * np.clip(last - first, 0.0, None)
            burst_inside += weight * _burst(
                journeys.arrival_burst_multiplier, tau, arrival, first, last
            )
        outside = life - window
        # Outside the window the rate fades with age: the mean fading factor over the span.
        if math.isfinite(fade_scale):
            mass = fade_scale * (
                np.exp(-(start - arrival) / fade_scale) - np.exp(-(end - arrival) / fade_scale)
            )
            fading = np.where(life > 0, mass / np.where(life > 0, life, 1.0), 1.0)
        else:
            fading = np.ones_like(life)
        outside_days = outside * (floor + (1.0 - floor) * fading)
        burst = _burst(journeys.arrival_burst_multiplier, tau, arrival, start, end)
        outside_rate, inside_rate = rates[index]  # by activity
        by_activity = (
            outside_rate[None, :] * (outside_days + burst - burst_inside)[:, None]
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


def _burst(
    multiplier: float, tau: float, arrival: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """The arrival burst's extra days' worth of activity inside ``[first, last)``: the integral
    of ``multiplier × e^(-(t - arrival) / tau)`` there (0 where the span is empty)."""
    weight = multiplier * tau * (np.exp(-(first - arrival) / tau) - np.exp(-(last - arrival) / tau))
    return np.where(last > first, weight, 0.0)
