"""Lead journeys: the activities each lead emits over time, as column arrays.

Two parts with different lives:

* **organic activity** (visits, content, webinars, hand-raises, trials and what follows them)
  depends only on the lead — never on the policy — so it is drawn once for the whole horizon;
* **touch responses** (opens, clicks and where they land, unsubscribes) exist only for nurture
  touches that were actually sent, which depends on when the lead became MQL and was recycled.

The rate of organic activity ``a`` for lead ``i`` at time ``t`` is::

    propensity_i * base_a * persona_multiplier_a * (window_lift_a if t in window_i else 1)
        * (1 + arrival_burst_multiplier * exp(-(t - arrival_i) / arrival_burst_decay_days))

Each lead also emits a ``form_fill`` at arrival: the conversion that created the lead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mqlsim.core.events import EventLog, positions, run_starts
from mqlsim.core.vocabulary import ACTIVITY_CODE, CONTENT_ACTIVITIES, ORGANIC_ACTIVITIES
from mqlsim.model.population import Population
from mqlsim.scenario.models import JourneysConfig, PopulationConfig

_ORGANIC_CODES = np.array([ACTIVITY_CODE[a] for a in ORGANIC_ACTIVITIES], dtype=np.int8)
_CONTENT_CODES = np.array([ACTIVITY_CODE[a] for a in CONTENT_ACTIVITIES], dtype=np.int8)
_FATIGUE_WINDOW_DAYS = 7.0
_OPEN_PROBABILITY_CAP = 0.95


#: Buckets of the uniform in :class:`_Categorical`'s lookup table (a power of two).
_BUCKETS = 1 << 12


class _Categorical:
    """Draws of one of ``codes`` for each (persona, in window) group, in proportion to ``rates``.

    The choice for a uniform ``u`` is how many values of the group's cumulative distribution
    are at most ``u`` (what ``np.searchsorted(cdf, u, side="right")`` gives). Its bucket
    ``b = floor(u * B)`` is exact, as ``B`` is a power of two, and ``b / B <= u < (b + 1) / B``:
    every value at most ``b / B`` is at most ``u``, every value from ``(b + 1) / B`` on is
    above it. So unless a value lies strictly inside the bucket, the bucket alone decides the
    choice, and a table by group and bucket gives the code at once; the few draws in the other
    buckets (-1 in the table) are compared with the cumulative distribution one by one.
    """

    def __init__(self, rates: np.ndarray, codes: np.ndarray) -> None:
        cumulative = np.cumsum(rates, axis=2)
        cumulative /= np.maximum(cumulative[:, :, -1:], np.finfo(float).tiny)
        #: cumulative[persona * 2 + in_window]: non-decreasing, as the rates are not negative
        self.cumulative = cumulative.reshape(-1, len(codes))
        self.codes = codes
        edges = np.arange(_BUCKETS + 1) / _BUCKETS
        at_start = np.array([np.searchsorted(c, edges[:-1], "right") for c in self.cumulative])
        before_end = np.array([np.searchsorted(c, edges[1:], "left") for c in self.cumulative])
        known = codes[np.minimum(at_start, len(codes) - 1)]
        self.table = np.where(at_start == before_end, known, -1).astype(np.int8).ravel()

    def draw(self, persona: np.ndarray, in_window: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Codes for events of ``persona`` leads, in or out of their window, from uniforms ``u``."""
        index = np.multiply(u, _BUCKETS).astype(np.int32)
        index += np.multiply(persona, 2 * _BUCKETS, dtype=np.int32)
        index += np.multiply(in_window, _BUCKETS, dtype=np.int32)
        code = self.table.take(index)
        unsure = np.flatnonzero(code < 0)
        group = np.multiply(persona[unsure], 2, dtype=np.intp) + in_window[unsure]
        choice = np.count_nonzero(self.cumulative[group] <= u[unsure, None], axis=1)
        code[unsure] = self.codes[np.minimum(choice, len(self.codes) - 1)]
        return code


def organic_rates(journeys: JourneysConfig, population: PopulationConfig) -> np.ndarray:
    """``rates[persona, in_window, activity]``: organic rates per day of a lead of propensity 1
    (activities in the order of :data:`mqlsim.core.vocabulary.ORGANIC_ACTIVITIES`)."""
    base = np.array([journeys.organic_rates_per_day.get(a, 0.0) for a in ORGANIC_ACTIVITIES])
    lift = np.array([journeys.window_lift.get(a, 1.0) for a in ORGANIC_ACTIVITIES])
    persona = np.array(
        [
            [p.activity_multipliers.get(a, 1.0) for a in ORGANIC_ACTIVITIES]
            for p in population.personas
        ]
    )
    return np.stack([base * persona, base * lift * persona], axis=1)


class RateTable:
    """Per-persona organic rates outside and inside the buying window, and their mixes."""

    def __init__(self, journeys: JourneysConfig, population: PopulationConfig) -> None:
        #: rates[persona, in_window, activity] for a lead of propensity 1
        self.rates = organic_rates(journeys, population)
        self.total = self.rates.sum(axis=2)
        content = np.isin(_ORGANIC_CODES, _CONTENT_CODES)
        self._organic = _Categorical(self.rates, _ORGANIC_CODES)
        self._content = _Categorical(self.rates[:, :, content], _CONTENT_CODES)

    def draw(
        self, persona: np.ndarray, in_window: np.ndarray, u: np.ndarray, content_only: bool
    ) -> np.ndarray:
        """Activity codes for events of ``persona`` leads, in proportion to their current rates."""
        return (self._content if content_only else self._organic).draw(persona, in_window, u)


def _in_window(pop: Population, lead: np.ndarray, time: np.ndarray) -> np.ndarray:
    """1 for the events of ``lead`` at ``time`` inside the lead's buying window, else 0."""
    inside = time >= pop.window_start.take(lead)
    inside &= time < pop.window_end.take(lead)
    return inside.view(np.int8)


def _compress(mask: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """``column[mask]`` of each column (positions first: faster than boolean indexing)."""
    where = positions(mask)
    return [column.take(where) for column in columns]


def organic_events(
    pop: Population,
    journeys: JourneysConfig,
    rates: RateTable,
    horizon_days: float,
    rng: np.random.Generator,
) -> EventLog:
    """Every policy-independent event of every lead over the horizon.

    The columns of per-lead values are spread over events with ``np.repeat`` (events come
    grouped by lead) or ``take``: the same values as fancy indexing, faster.
    """
    n = pop.size
    lead_ids = np.arange(n, dtype=np.int32)  # fewer than 2**31 leads: half the memory
    arrival = pop.arrival
    life = horizon_days - arrival
    window_start = np.clip(pop.window_start, arrival, horizon_days)
    window_length = np.clip(pop.window_end, arrival, horizon_days) - window_start
    outside_length = life - window_length
    peak_total = rates.total.max(axis=1)  # by persona

    # Outside the window: exact Poisson counts, times uniform over the outside part of life.
    out_rate = pop.propensity * rates.total[pop.persona, 0]
    out_count = rng.poisson(out_rate * outside_length)
    out_lead = np.repeat(lead_ids, out_count)
    out_time = rng.random(out_lead.size) * np.repeat(outside_length, out_count)
    out_time += np.repeat(arrival, out_count)
    # Times from the window's start on skip the window.
    after = out_time >= np.repeat(window_start, out_count)
    np.add(out_time, np.repeat(window_length, out_count), out=out_time, where=after)
    del after

    # Inside the window.
    in_rate = pop.propensity * rates.total[pop.persona, 1]
    in_count = rng.poisson(in_rate * window_length)
    in_lead = np.repeat(lead_ids, in_count)
    in_time = np.repeat(window_start, in_count)
    in_time += rng.random(in_lead.size) * np.repeat(window_length, in_count)

    # Arrival burst by thinning: candidates at the larger of the two rates, decaying.
    tau = journeys.arrival_burst_decay_days
    peak = pop.propensity * peak_total[pop.persona] * journeys.arrival_burst_multiplier
    mass = 1.0 - np.exp(-life / tau)
    burst_count = rng.poisson(peak * tau * mass)
    burst_lead = np.repeat(lead_ids, burst_count)
    burst_time = np.repeat(arrival, burst_count) - tau * np.log1p(
        -rng.random(burst_lead.size) * np.repeat(mass, burst_count)
    )
    burst_time = np.minimum(burst_time, np.nextafter(horizon_days, 0.0))
    burst_window = _in_window(pop, burst_lead, burst_time)
    persona_burst = np.repeat(pop.persona, burst_count)
    keep = rng.random(burst_lead.size) * peak_total.take(persona_burst) < rates.total.ravel().take(
        persona_burst * 2 + burst_window
    )
    burst_lead, burst_time, burst_window = _compress(keep, burst_lead, burst_time, burst_window)
    del persona_burst, keep

    lead = np.concatenate((out_lead, in_lead, burst_lead))
    time = np.concatenate((out_time, in_time, burst_time))
    window = np.concatenate(
        (np.zeros(out_lead.size, np.int8), np.ones(in_lead.size, np.int8), burst_window)
    )
    # Free the parts as soon as they are merged: a million leads draw tens of millions.
    del out_lead, out_time, in_lead, in_time, burst_lead, burst_time, burst_window
    activity = rates.draw(pop.persona.take(lead), window, rng.random(lead.size), content_only=False)
    del window

    follow_lead, follow_time, follow_activity = _follow_ups(
        pop, journeys, lead, time, activity, horizon_days, rng
    )
    # First, the conversion that created the lead.
    form_fill = np.full(n, ACTIVITY_CODE["form_fill"], np.int8)
    lead = np.concatenate((lead_ids, lead, follow_lead))
    time = np.concatenate((arrival, time, follow_time))
    activity = np.concatenate((form_fill, activity, follow_activity))
    del follow_lead, follow_time, follow_activity
    return EventLog.from_unsorted(lead, time, activity, n)


def _follow_ups(
    pop: Population,
    journeys: JourneysConfig,
    lead: np.ndarray,
    time: np.ndarray,
    activity: np.ndarray,
    horizon_days: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Webinar attendance after registrations; product usage during trials."""
    registered = np.flatnonzero(activity == ACTIVITY_CODE["webinar_registered"])
    attends = rng.random(registered.size) < journeys.webinar_attendance_probability
    registered = registered[attends]
    attend_time = time[registered] + rng.random(registered.size) * journeys.webinar_lead_time_days
    attended = attend_time < horizon_days
    attend_lead, attend_time = lead[registered][attended], attend_time[attended]

    trials = np.flatnonzero(activity == ACTIVITY_CODE["trial_signup"])
    trial_lead, trial_start = lead[trials], time[trials]
    trial_length = np.minimum(journeys.trial_length_days, horizon_days - trial_start)
    lift = np.where(
        _in_window(pop, trial_lead, trial_start), journeys.product_usage_window_lift, 1.0
    )
    usage_count = rng.poisson(journeys.product_usage_rate_per_day * lift * trial_length)
    usage_lead = np.repeat(trial_lead, usage_count)
    usage_time = np.repeat(trial_start, usage_count) + rng.random(usage_lead.size) * np.repeat(
        trial_length, usage_count
    )
    return (
        np.concatenate((attend_lead, usage_lead)),
        np.concatenate((attend_time, usage_time)),
        np.concatenate(
            (
                np.full(attend_lead.size, ACTIVITY_CODE["webinar_attended"], np.int8),
                np.full(usage_lead.size, ACTIVITY_CODE["product_usage"], np.int8),
            )
        ),
    )


@dataclass(frozen=True)
class Touches:
    """Nurture touches that were sent, and how each lead answered them.

    Sorted by lead, then time. ``landing`` is the activity code a click landed on (-1: no click).
    A lead's touches end at its unsubscribe (the touch that caused it is included).
    """

    lead: np.ndarray
    time: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray
    landing: np.ndarray
    unsubscribed: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def select(self, mask: np.ndarray) -> Touches:
        """The touches where ``mask`` is true."""
        return Touches(*_compress(mask, *self._columns()))

    def take(self, positions: np.ndarray) -> Touches:
        """The touches at ``positions``, in that order."""
        return Touches(*(column.take(positions) for column in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (self.lead, self.time, self.opened, self.clicked, self.landing, self.unsubscribed)

    @staticmethod
    def concatenate(parts: list[Touches]) -> Touches:
        """Touches of several parts, in order."""
        columns = zip(*(part._columns() for part in parts), strict=True)
        return Touches(*(np.concatenate(column) for column in columns))

    def events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The activities the touches caused, as (lead, time, activity) columns.

        Per touch, in this order at the touch's time: open, click, the click's landing
        activity, unsubscribe.
        """
        opened = np.flatnonzero(self.opened)
        clicked = np.flatnonzero(self.clicked)
        unsubscribed = np.flatnonzero(self.unsubscribed)
        touch = np.concatenate((opened, clicked, clicked, unsubscribed))
        activity = np.concatenate(
            (
                np.full(opened.size, ACTIVITY_CODE["email_open"], np.int8),
                np.full(clicked.size, ACTIVITY_CODE["email_click"], np.int8),
                self.landing.take(clicked).astype(np.int8, copy=False),
                np.full(unsubscribed.size, ACTIVITY_CODE["unsubscribe"], np.int8),
            )
        )
        return self.lead.take(touch), self.time.take(touch), activity


def respond_to_touches(
    pop: Population,
    journeys: JourneysConfig,
    rates: RateTable,
    lead: np.ndarray,
    time: np.ndarray,
    uniforms: np.ndarray,
) -> Touches:
    """How leads answer touches sent at ``time`` (sorted by lead, then time).

    ``uniforms`` has one row of four per touch: open, click, landing and unsubscribe draws.
    Touch fatigue: the unsubscribe chance grows with the touches of the last seven days.
    """
    opened = uniforms[:, 0] < np.minimum(
        journeys.email_open_probability * pop.propensity.take(lead), _OPEN_PROBABILITY_CAP
    )
    clicked = opened & (uniforms[:, 1] < journeys.email_click_probability)
    landing = np.full(lead.size, -1, dtype=np.int8)
    click = np.flatnonzero(clicked)
    click_lead = lead.take(click)
    landing[click] = rates.draw(
        pop.persona.take(click_lead),
        _in_window(pop, click_lead, time.take(click)),
        uniforms[:, 2].take(click),
        content_only=True,
    )
    # Touches in the last seven days, this one included: within-lead positions in a sorted list.
    key = lead * (2.0 * (time.max(initial=0.0) + _FATIGUE_WINDOW_DAYS + 1.0)) + time
    recent = np.arange(lead.size) - np.searchsorted(key, key - _FATIGUE_WINDOW_DAYS, "left") + 1
    chance = journeys.unsubscribe_probability * (1.0 + journeys.unsubscribe_fatigue * (recent - 1))
    unsubscribes = uniforms[:, 3] < np.minimum(chance, 1.0)
    # Nothing is sent after a lead's first unsubscribe.
    before = np.cumsum(unsubscribes) - unsubscribes
    first = run_starts(lead)
    sent = before == np.repeat(before[first], np.diff(first, append=lead.size))
    return Touches(lead, time, opened, clicked, landing, unsubscribes).select(sent)
