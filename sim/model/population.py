"""Lead populations as column arrays: arrivals, observable fit, hidden intent, and departure.

One row per lead, ordered by arrival time; a lead's index is its identity for the whole run.
With ``population.initial_stock = "stationary"`` the first rows are the **existing leads**:
arrivals before day 0 that have not left by then (negative arrival times), drawn from the
stationary distribution of the database; the rest arrive during the run.

A fit field the lead did not disclose (``population.missing_field_probability``) holds
:data:`~mqlsim.policies.base.MISSING_CODE` (-1) and earns 0 ICP points. Marketing sees the
grade its known fields decide (``observed_grade``: unknown when the missing ones could change
it); sales learns the whole fit on the call (``grade``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from mqlsim.core.events import EventLog
from mqlsim.core.rng import Purpose, Streams
from mqlsim.core.vocabulary import FIT_ATTRIBUTES, UNKNOWN_GRADE
from mqlsim.model.calendar import ActivityClock
from mqlsim.policies.base import MISSING_CODE, LeadView
from mqlsim.scenario.models import ICP, PopulationConfig, ScenarioMeta

#: Buying-window lengths are gamma distributed with this shape (coefficient of variation 0.5).
WINDOW_LENGTH_SHAPE = 4.0
#: The stationary stock is drawn from arrivals this far back that the stock would still hold
#: this many leads of, in expectation: fewer than one lead in a thousand runs is left out.
STOCK_LEFT_OUT = 1e-3
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Population:
    """Every lead of one replication. Hidden columns are never shown to a policy."""

    arrival: np.ndarray  # days, sorted; negative for the existing leads of a stationary stock
    channel: np.ndarray  # index into population.channels
    persona: np.ndarray  # index into population.personas
    fit: dict[str, np.ndarray]  # attribute -> code into FIT_ATTRIBUTES[attribute]; -1: missing
    icp_points: np.ndarray  # ICP points of the known fit fields
    observed_grade: np.ndarray  # 0 = A ... 3 = D, UNKNOWN_GRADE: what marketing sees
    # hidden
    grade: np.ndarray  # 0 = A ... 3 = D from the whole fit: what sales learns on the call
    propensity: np.ndarray  # engagement multiplier: persona multiplier x individual propensity
    hand_raiser: np.ndarray  # arrived in market, converting through a demo request
    in_market: np.ndarray  # has a buying window before it leaves
    window_start: np.ndarray  # days (inf when not in market)
    window_end: np.ndarray  # at the latest when the lead leaves
    exit: np.ndarray  # when the lead leaves (inf: never); it stops all activity then
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
        observed grade, known fit and source (the channel), with ``events`` and ``since``."""
        return LeadView(
            events=events,
            grade=self.observed_grade[leads],
            fit={name: codes[leads] for name, codes in self.fit.items()},
            since=since,
            memo=memo,
            source=self.channel[leads],
            source_names=self.channel_names,
        )

    @property
    def able_to_buy(self) -> np.ndarray:
        """With budget and authority, in market or not."""
        return self.budget & self.authority

    @property
    def buyer(self) -> np.ndarray:
        """In market with budget and authority: a lead that sales could turn into an SQL."""
        return self.in_market & self.able_to_buy

    @property
    def existing(self) -> np.ndarray:
        """Leads of the initial stock: in the database before the run starts."""
        return self.arrival < 0


def weekday_profile(weekly_seasonality: list[float]) -> np.ndarray:
    """Weekday multipliers rescaled to average 1, so they shape but do not change volume."""
    profile = np.asarray(weekly_seasonality, dtype=float)
    return profile / profile.mean()


def attrition_hazard(config: PopulationConfig) -> float:
    """The per-day hazard of leaving that makes ``attrition_per_year`` leave within a year."""
    return -math.log1p(-config.attrition_per_year) / DAYS_PER_YEAR


def _daily_arrivals(
    config: PopulationConfig,
    days: np.ndarray,
    lengths: np.ndarray,
    thinning: float,
    rng: np.random.Generator,
    clock: ActivityClock,
) -> tuple[np.ndarray, np.ndarray]:
    """Arrivals per channel on ``days`` (their first ``lengths`` of a day), kept with chance
    ``exp(thinning * (t - end of its day))``.

    A channel's day brings ``leads_per_day × share × weekday multiplier`` leads, spread over
    the day by the activity profile (:class:`~mqlsim.model.calendar.ActivityClock`), so counts
    per day are Poisson and times within a day follow the profile: an exact draw of the
    non-homogeneous process (with thinning, of its part that survives).
    """
    shares = np.array([c.share for c in config.channels], dtype=float)
    shares /= shares.sum()
    envelope = np.exp(thinning * (days + 1.0)) if thinning else np.ones(days.size)
    share = clock.day_share(days, lengths)
    times, channels = [], []
    for index, source in enumerate(config.channels):
        rates = config.leads_per_day * shares[index] * weekday_profile(source.weekly_seasonality)
        counts = rng.poisson(rates[np.mod(days, 7).astype(int)] * share * envelope)
        starts = np.repeat(days, counts)
        time = clock.within_day(starts, rng.random(starts.size), np.repeat(lengths, counts))
        if thinning:
            keep = rng.random(time.size) < np.exp(thinning * (time - starts - 1.0))
            time = time[keep]
        times.append(time)
        channels.append(np.full(time.size, index, dtype=np.int16))
    time = np.concatenate(times)
    channel = np.concatenate(channels)
    order = np.argsort(time, kind="stable")
    return time[order], channel[order]


def arrival_times(
    config: PopulationConfig,
    horizon_days: float,
    rng: np.random.Generator,
    clock: ActivityClock,
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times and channels over ``[0, horizon_days)`` (day 0 is a Monday)."""
    days = np.arange(int(np.ceil(horizon_days)), dtype=float)
    lengths = np.minimum(days + 1.0, horizon_days) - days
    return _daily_arrivals(config, days, lengths, 0.0, rng, clock)


def stock_arrivals(
    config: PopulationConfig, rng: np.random.Generator, clock: ActivityClock
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times (negative) and channels of the leads in the database at day 0.

    Arrivals before day 0 that have not left: the arrival process of the run extended into the
    past, each lead kept with its chance ``exp(hazard × t)`` to be still there at day 0. That is
    the stationary stock itself, not an approximation of it: ages, channels and the weekly
    pattern all follow. Days are drawn back until fewer than :data:`STOCK_LEFT_OUT` leads are
    expected further back.
    """
    hazard = attrition_hazard(config)
    back = math.ceil(math.log(max(config.leads_per_day, 1.0) / (hazard * STOCK_LEFT_OUT)) / hazard)
    days = np.arange(-back, 0, dtype=float)
    return _daily_arrivals(config, days, np.ones(days.size), hazard, rng, clock)


def grade_of(points: np.ndarray, icp: ICP) -> np.ndarray:
    """ICP points to grade codes: 0 = A, 1 = B, 2 = C, 3 = D."""
    cutoffs = np.array([icp.grade_a_min_points, icp.grade_b_min_points, icp.grade_c_min_points])
    return (points[:, None] < cutoffs[None, :]).sum(axis=1).astype(np.int8)


def _points_table(icp: ICP, attribute: str) -> np.ndarray:
    """The ICP's points for each value of ``attribute`` (a value not listed earns 0)."""
    table = getattr(icp, f"{attribute}_points")
    return np.array([table.get(value, 0.0) for value in FIT_ATTRIBUTES[attribute]], dtype=float)


def icp_points_of(fit: dict[str, np.ndarray], icp: ICP) -> np.ndarray:
    """Sum of the ICP's points for each lead's fit attributes (a missing one earns 0)."""
    total = np.zeros(len(fit["job_level"]))
    for attribute in FIT_ATTRIBUTES:
        codes = fit[attribute]
        total += np.where(codes == MISSING_CODE, 0.0, _points_table(icp, attribute)[codes])
    return total


def observed_grade_of(fit: dict[str, np.ndarray], icp: ICP) -> np.ndarray:
    """The grade each lead's known fit fields decide: the grade it has whatever values its
    missing fields hold, else :data:`~mqlsim.core.vocabulary.UNKNOWN_GRADE`.

    Missing data is unknown, not the worst grade: a lead with no fit data at all has an unknown
    grade under any ICP that grades anyone differently from anyone else.
    """
    low = np.zeros(len(fit["job_level"]))
    high = np.zeros(len(fit["job_level"]))
    for attribute in FIT_ATTRIBUTES:
        points = _points_table(icp, attribute)
        codes = fit[attribute]
        missing = codes == MISSING_CODE
        known = np.where(missing, 0.0, points[codes])
        low += np.where(missing, points.min(), known)
        high += np.where(missing, points.max(), known)
    best, worst = grade_of(high, icp), grade_of(low, icp)
    return np.where(best == worst, best, UNKNOWN_GRADE).astype(np.int8)


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


def persona_mix(config: PopulationConfig) -> np.ndarray:
    """``mix[channel, persona]``: the chance a lead of each channel is of each persona (the
    personas' shares times the channel's multipliers, renormalised)."""
    rows = []
    for channel in config.channels:
        multipliers = channel.persona_multipliers
        row = np.array([p.share * multipliers.get(p.name, 1.0) for p in config.personas])
        rows.append(row / row.sum())
    return np.array(rows)


def with_channel_odds(probability: float, odds: np.ndarray) -> np.ndarray:
    """Each lead's chance whose odds are its channel's ``odds`` times those of
    ``probability`` (a persona's budget or authority chance): exactly ``probability`` where
    the odds are 1, so a neutral channel draws as if the lever did not exist; 0 and 1 stay."""
    if probability >= 1.0 or probability <= 0.0:
        return np.full(odds.shape, probability)
    scaled = probability / (1.0 - probability) * odds
    return np.where(odds == 1.0, probability, scaled / (1.0 + scaled))


def generate_population(
    config: PopulationConfig, meta: ScenarioMeta, streams: Streams, clock: ActivityClock
) -> Population:
    """Draw every lead of a replication: arrival, channel, persona, fit, hidden intent and when
    it leaves; first the existing leads of the stationary stock, if the scenario starts from it.
    """
    arrival, channel = arrival_times(
        config, meta.horizon_days, streams.generator(Purpose.ARRIVALS), clock
    )
    if config.initial_stock == "stationary":
        old, old_channel = stock_arrivals(config, streams.generator(Purpose.STOCK), clock)
        arrival = np.concatenate((old, arrival))
        channel = np.concatenate((old_channel, channel))
    n = arrival.size
    rng = streams.generator(Purpose.POPULATION)
    persona = np.zeros(n, dtype=np.int16)
    mix = persona_mix(config)
    for index in range(len(config.channels)):
        members = np.flatnonzero(channel == index)
        persona[members] = rng.choice(mix.shape[1], size=members.size, p=mix[index])
    arrive_in_market = np.array([c.arrive_in_market_probability for c in config.channels])
    buyer_odds = np.array([c.buyer_odds for c in config.channels])
    hand_raiser = rng.random(n) < arrive_in_market[channel]
    # Time to leave: a whole life for a lead arriving in the run; for an existing lead, what is
    # left of it at day 0, which has the same law (the hazard is constant).
    hazard = attrition_hazard(config)
    life = rng.exponential(1.0 / hazard, n) if hazard > 0 else np.full(n, np.inf)
    exit = np.maximum(arrival, 0.0) + life

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
        raised = hand_raiser[members]
        market = raised | (rng.random(size) < spec.in_market_probability)
        delay = np.where(raised, 0.0, rng.exponential(spec.window_start_mean_days, size))
        length = rng.gamma(
            WINDOW_LENGTH_SHAPE, spec.window_length_mean_days / WINDOW_LENGTH_SHAPE, size
        )
        in_market[members] = market
        window_start[members] = np.where(market, arrival[members] + delay, np.inf)
        window_end[members] = np.where(market, arrival[members] + delay + length, np.inf)
        odds = buyer_odds[channel[members]]
        budget[members] = rng.random(size) < with_channel_odds(spec.budget_probability, odds)
        authority[members] = rng.random(size) < with_channel_odds(spec.authority_probability, odds)
        deal_value[members] = spec.deal_value_median * rng.lognormal(
            0.0, spec.deal_value_sigma, size
        )
    # A lead that leaves before its window opens never buys; one that leaves inside it, stops.
    gone = window_start >= exit
    in_market &= ~gone
    window_start[gone] = np.inf
    window_end = np.where(gone, np.inf, np.minimum(window_end, exit))

    outcome_uniforms = rng.random((4, n))
    grade = grade_of(icp_points_of(fit, config.icp), config.icp)
    if any(config.missing_field_probability.values()):
        # A dict keyed by FitAttribute (str literals); Mapping is invariant in its key type.
        probability = cast(Mapping[str, float], config.missing_field_probability)
        hide_fields(fit, probability, streams.generator(Purpose.MISSING_FIELDS))
    return Population(
        arrival=arrival,
        channel=channel,
        persona=persona,
        fit=fit,
        icp_points=icp_points_of(fit, config.icp),
        observed_grade=observed_grade_of(fit, config.icp),
        grade=grade,
        propensity=propensity,
        hand_raiser=hand_raiser,
        in_market=in_market,
        window_start=window_start,
        window_end=window_end,
        exit=exit,
        budget=budget,
        authority=authority,
        deal_value=deal_value,
        u_accept=outcome_uniforms[0],
        u_qualify=outcome_uniforms[1],
        u_opportunity=outcome_uniforms[2],
        u_win=outcome_uniforms[3],
        channel_names=tuple(channel.name for channel in config.channels),
    )
