"""Lead populations as column arrays: arrivals, observable fit and hidden intent.

One row per lead, ordered by arrival time; a lead's index is its identity for the whole run.
A fit field the lead did not disclose (``population.missing_field_probability``) holds
:data:`~mqlsim.policies.base.MISSING_CODE` (-1) and earns 0 ICP points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from mqlsim.core.events import EventLog
from mqlsim.core.rng import Purpose, Streams
from mqlsim.core.vocabulary import FIT_ATTRIBUTES
from mqlsim.policies.base import MISSING_CODE, LeadView
from mqlsim.scenario.models import ICP, PopulationConfig, ScenarioMeta

#: Buying-window lengths are gamma distributed with this shape (coefficient of variation 0.5).
WINDOW_LENGTH_SHAPE = 4.0


@dataclass(frozen=True)
class Population:
    """Every lead of one replication. Hidden columns are never shown to a policy."""

    arrival: np.ndarray  # days, sorted
    channel: np.ndarray  # index into population.channels
    persona: np.ndarray  # index into population.personas
    fit: dict[str, np.ndarray]  # attribute -> code into FIT_ATTRIBUTES[attribute]; -1: missing
    icp_points: np.ndarray
    grade: np.ndarray  # 0 = A ... 3 = D
    # hidden
    propensity: np.ndarray  # engagement multiplier: persona multiplier x individual propensity
    in_market: np.ndarray  # has a buying window
    window_start: np.ndarray  # days (inf when not in market)
    window_end: np.ndarray
    budget: np.ndarray
    authority: np.ndarray
    deal_value: np.ndarray
    # per-lead uniforms behind outcomes that belong to the lead, not to one sales pass
    u_accept: np.ndarray
    u_qualify: np.ndarray
    u_opportunity: np.ndarray
    u_win: np.ndarray
    channel_names: tuple[str, ...] = ()  # population.channels' names, by index

    @property
    def size(self) -> int:
        """Number of leads."""
        return len(self.arrival)

    def view(
        self,
        leads: np.ndarray,
        events: EventLog,
        since: np.ndarray,
        memo: dict[str, Any] | None = None,
    ) -> LeadView:
        """What a policy sees of ``leads`` (indices, in the order of ``events``' leads): their
        grade, fit and source (the channel), with ``events`` and ``since``."""
        return LeadView(
            events=events,
            grade=self.grade[leads],
            fit={name: codes[leads] for name, codes in self.fit.items()},
            since=since,
            memo=memo,
            source=self.channel[leads],
            source_names=self.channel_names,
        )

    @property
    def buyer(self) -> np.ndarray:
        """In market with budget and authority: a lead that sales could turn into an SQL."""
        return self.in_market & self.budget & self.authority


def weekday_profile(weekly_seasonality: list[float]) -> np.ndarray:
    """Weekday multipliers rescaled to average 1, so they shape but do not change volume."""
    profile = np.asarray(weekly_seasonality, dtype=float)
    return profile / profile.mean()


def arrival_times(
    config: PopulationConfig, horizon_days: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrivals per channel with a weekday-dependent rate (day 0 is a Monday).

    The rate is constant within each day, so counts per day are Poisson and times within a day
    are uniform: an exact draw of the non-homogeneous Poisson process.
    """
    shares = np.array([c.share for c in config.channels], dtype=float)
    shares /= shares.sum()
    day_starts = np.arange(int(np.ceil(horizon_days)), dtype=float)
    day_lengths = np.minimum(day_starts + 1.0, horizon_days) - day_starts
    times, channels = [], []
    for index, source in enumerate(config.channels):
        rates = config.leads_per_day * shares[index] * weekday_profile(source.weekly_seasonality)
        counts = rng.poisson(rates[day_starts.astype(int) % 7] * day_lengths)
        starts = np.repeat(day_starts, counts)
        times.append(starts + rng.random(starts.size) * np.repeat(day_lengths, counts))
        channels.append(np.full(starts.size, index, dtype=np.int16))
    time = np.concatenate(times)
    channel = np.concatenate(channels)
    order = np.argsort(time, kind="stable")
    return time[order], channel[order]


def grade_of(points: np.ndarray, icp: ICP) -> np.ndarray:
    """ICP points to grade codes: 0 = A, 1 = B, 2 = C, 3 = D."""
    cutoffs = np.array([icp.grade_a_min_points, icp.grade_b_min_points, icp.grade_c_min_points])
    return (points[:, None] < cutoffs[None, :]).sum(axis=1).astype(np.int8)


def icp_points_of(fit: dict[str, np.ndarray], icp: ICP) -> np.ndarray:
    """Sum of the ICP's points for each lead's fit attributes (a missing one earns 0)."""
    total = np.zeros(len(fit["job_level"]))
    for attribute, values in FIT_ATTRIBUTES.items():
        table = getattr(icp, f"{attribute}_points")
        points = np.array([table.get(value, 0.0) for value in values], dtype=float)
        codes = fit[attribute]
        total += np.where(codes == MISSING_CODE, 0.0, points[codes])
    return total


def hide_fields(
    fit: dict[str, np.ndarray], probability: Mapping[str, float], rng: np.random.Generator
) -> None:
    """Mark fit fields missing in place: field ``a`` of lead ``i`` with ``probability[a]``.

    One uniform per lead and field, every field drawn whatever its probability, so changing one
    field's probability moves no other draw.
    """
    uniforms = rng.random((len(FIT_ATTRIBUTES), len(fit["job_level"])))
    for row, attribute in enumerate(FIT_ATTRIBUTES):
        fit[attribute][uniforms[row] < probability.get(attribute, 0.0)] = MISSING_CODE


def _categorical(weights: dict[str, float], values: tuple[str, ...], size: int, rng) -> np.ndarray:
    probabilities = np.array([weights.get(value, 0.0) for value in values], dtype=float)
    probabilities /= probabilities.sum()
    return rng.choice(len(values), size=size, p=probabilities).astype(np.int8)


def generate_population(
    config: PopulationConfig, meta: ScenarioMeta, streams: Streams
) -> Population:
    """Draw every lead of a replication: arrival, channel, persona, fit and hidden intent."""
    arrival, channel = arrival_times(config, meta.horizon_days, streams.generator(Purpose.ARRIVALS))
    n = arrival.size
    rng = streams.generator(Purpose.POPULATION)
    shares = np.array([p.share for p in config.personas], dtype=float)
    persona = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int16)

    fit = {attribute: np.zeros(n, dtype=np.int8) for attribute in FIT_ATTRIBUTES}
    propensity = np.empty(n)
    in_market = np.zeros(n, dtype=bool)
    window_start = np.full(n, np.inf)
    window_end = np.full(n, np.inf)
    budget = np.zeros(n, dtype=bool)
    authority = np.zeros(n, dtype=bool)
    deal_value = np.empty(n)
    for index, spec in enumerate(config.personas):
        members = np.flatnonzero(persona == index)
        size = members.size
        for attribute, values in FIT_ATTRIBUTES.items():
            fit[attribute][members] = _categorical(getattr(spec, attribute), values, size, rng)
        sigma = spec.propensity_sigma
        individual = rng.lognormal(-0.5 * sigma**2, sigma, size)  # mean 1
        propensity[members] = spec.engagement_multiplier * individual
        market = rng.random(size) < spec.in_market_probability
        delay = rng.exponential(spec.window_start_mean_days, size)
        length = rng.gamma(
            WINDOW_LENGTH_SHAPE, spec.window_length_mean_days / WINDOW_LENGTH_SHAPE, size
        )
        in_market[members] = market
        window_start[members] = np.where(market, arrival[members] + delay, np.inf)
        window_end[members] = np.where(market, arrival[members] + delay + length, np.inf)
        budget[members] = rng.random(size) < spec.budget_probability
        authority[members] = rng.random(size) < spec.authority_probability
        deal_value[members] = spec.deal_value_median * rng.lognormal(
            0.0, spec.deal_value_sigma, size
        )

    outcome_uniforms = rng.random((4, n))
    if any(config.missing_field_probability.values()):
        # A dict keyed by FitAttribute (str literals); Mapping is invariant in its key type.
        probability = cast(Mapping[str, float], config.missing_field_probability)
        hide_fields(fit, probability, streams.generator(Purpose.MISSING_FIELDS))
    icp_points = icp_points_of(fit, config.icp)
    return Population(
        arrival=arrival,
        channel=channel,
        persona=persona,
        fit=fit,
        icp_points=icp_points,
        grade=grade_of(icp_points, config.icp),
        propensity=propensity,
        in_market=in_market,
        window_start=window_start,
        window_end=window_end,
        budget=budget,
        authority=authority,
        deal_value=deal_value,
        u_accept=outcome_uniforms[0],
        u_qualify=outcome_uniforms[1],
        u_opportunity=outcome_uniforms[2],
        u_win=outcome_uniforms[3],
        channel_names=tuple(channel.name for channel in config.channels),
    )
