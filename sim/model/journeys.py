"""Lead journeys: the activities each lead emits over time, as column arrays.

Two parts with different lives:

* **organic activity** (visits, content, webinars, hand-raises, trials and what follows them)
  depends only on the lead — never on the policy — so it is drawn once for the whole horizon;
* **touch responses** (opens, clicks and where they land, unsubscribes) exist only for nurture
  touches that were actually sent, which depends on when the lead became MQL and was recycled.

Organic activity is drawn on the lead's activity clock (``sim/model/calendar.py``), where its
rate for activity ``a`` of lead ``i`` at age ``u`` (activity days since arrival) is::

    propensity_i * base_a * persona_multiplier_a
        * (window_lift_a inside the buying window,
           else interest_floor + (1 - interest_floor) * 2 ** (-u / interest_half_life_days))
        * (1 + arrival_burst_multiplier * exp(-u / arrival_burst_decay_days))

and each event is then placed in calendar time, in the lead's week. A lead is active from its
arrival (for an existing lead, from the start of its drawn history) until it leaves or the run
ends. Each lead also emits its conversion at arrival: a ``demo_request`` for a hand-raiser who
arrived in market, otherwise the ``form_fill`` that created the lead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mqlsim.core.events import EventLog, positions, run_starts
from mqlsim.core.vocabulary import ACTIVITY_CODE, CONTENT_ACTIVITIES, ORGANIC_ACTIVITIES
from mqlsim.model.calendar import ActivityClock
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


def sorted_uniforms(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``counts[i]`` independent uniforms on [0, 1) for each group ``i``, in ascending order
    within each group (groups one after the other): the order statistics, drawn as the partial
    sums of ``counts[i] + 1`` exponential gaps divided by their total. Events then come sorted
    by lead and time, and merging the parts of a journey needs no full sort."""
    busy = np.flatnonzero(counts)
    if busy.size == 0:
        return np.empty(0)
    kept = counts[busy]
    sums = np.cumsum(rng.standard_exponential(int(kept.sum()) + busy.size))
    ends = np.cumsum(kept + 1)  # one past each group's closing gap
    before = np.concatenate(([0.0], sums[ends[:-1] - 1]))
    total = sums[ends - 1] - before
    partial = np.delete(sums, ends - 1)  # every partial sum but the groups' closing ones
    del sums
    partial -= np.repeat(before, kept)
    partial /= np.repeat(total, kept)
    return partial


def _truncated_exponential(
    start: np.ndarray, end: np.ndarray, scale: float, u: np.ndarray
) -> np.ndarray:
    """Times in ``[start, end)`` with density proportional to ``exp(-t / scale)``, from
    uniforms ``u`` (the inverse of the distribution function, in a stable form)."""
    return start - scale * np.log1p(u * np.expm1(-(end - start) / scale))


def history_start(pop: Population, history_days: float) -> np.ndarray:
    """Where each lead's drawn activity starts: its arrival, or ``history_days`` before day 0
    for an existing lead that arrived earlier."""
    return np.maximum(pop.arrival, -history_days)


def organic_events(
    pop: Population,
    journeys: JourneysConfig,
    rates: RateTable,
    horizon_days: float,
    rng: np.random.Generator,
    history_days: float = np.inf,
) -> EventLog:
    """Every policy-independent event of every lead from :func:`history_start` until it leaves
    or the horizon comes (its conversion at arrival included, if it falls in that span).

    Drawn in activity time (``s = W(t)``), in parts that are each an exact Poisson process:
    the constant part of the rates outside the window (uniform), the window (uniform), the
    fading part outside the window (a truncated exponential, events that fall in the window
    dropped) and the arrival burst (thinned against the largest rate). Each part comes sorted
    by lead and time (:func:`sorted_uniforms`, through increasing maps), so the final sort
    only merges a few sorted runs. The columns of per-lead values are spread over events with
    ``np.repeat`` (events come grouped by lead) or ``take``: the same values as fancy indexing,
    faster.
    """
    clock = ActivityClock(journeys)
    n = pop.size
    lead_ids = np.arange(n, dtype=np.int32)  # fewer than 2**31 leads: half the memory
    first = history_start(pop, history_days)
    last = np.minimum(pop.exit, horizon_days)
    # The lead's life on the activity clock: arrival, drawn span and window.
    arrival = clock.activity_time(pop.arrival)
    start = clock.activity_time(first)
    end = np.maximum(clock.activity_time(last), start)
    window_start = clock.activity_time(np.clip(pop.window_start, first, last))
    window_end = clock.activity_time(np.clip(pop.window_end, first, last))
    window_length = window_end - window_start
    life = end - start
    outside_length = life - window_length
    out_total = rates.total[pop.persona, 0]
    in_total = rates.total[pop.persona, 1]
    peak_total = rates.total.max(axis=1)  # by persona
    floor = journeys.interest_floor
    half_life = journeys.interest_half_life_days
    fades = math.isfinite(half_life) and floor < 1.0
    if not fades:
        floor = 1.0
    fade_scale = half_life / math.log(2.0) if fades else math.inf

    # Outside the window, the part that never fades: uniform over the outside part of life.
    out_count = rng.poisson(pop.propensity * out_total * floor * outside_length)
    out_lead = np.repeat(lead_ids, out_count)
    out_time = sorted_uniforms(out_count, rng) * np.repeat(outside_length, out_count)
    out_time += np.repeat(start, out_count)
    # Times from the window's start on skip the window.
    after = out_time >= np.repeat(window_start, out_count)
    np.add(out_time, np.repeat(window_length, out_count), out=out_time, where=after)
    del after

    # Inside the window.
    in_count = rng.poisson(pop.propensity * in_total * window_length)
    in_lead = np.repeat(lead_ids, in_count)
    in_time = np.repeat(window_start, in_count)
    in_time += sorted_uniforms(in_count, rng) * np.repeat(window_length, in_count)

    # Outside the window, the fading part: over the whole span, the window's share dropped.
    if fades:
        decay = np.exp(-(start - arrival) / fade_scale)
        mass = fade_scale * decay * -np.expm1(-life / fade_scale)
        fade_count = rng.poisson(pop.propensity * out_total * (1.0 - floor) * mass)
        fade_lead = np.repeat(lead_ids, fade_count)
        fade_time = _truncated_exponential(
            np.repeat(start, fade_count),
            np.repeat(end, fade_count),
            fade_scale,
            sorted_uniforms(fade_count, rng),
        )
        outside = (fade_time < np.repeat(window_start, fade_count)) | (
            fade_time >= np.repeat(window_end, fade_count)
        )
        fade_lead, fade_time = _compress(outside, fade_lead, fade_time)
        del outside
    else:
        fade_lead, fade_time = np.empty(0, np.int32), np.empty(0)

    # Arrival burst by thinning: candidates at the largest rate, decaying from arrival.
    tau = journeys.arrival_burst_decay_days
    peak = pop.propensity * peak_total[pop.persona] * journeys.arrival_burst_multiplier
    mass = tau * np.exp(-(start - arrival) / tau) * -np.expm1(-life / tau)
    burst_count = rng.poisson(peak * mass)
    burst_lead = np.repeat(lead_ids, burst_count)
    burst_time = _truncated_exponential(
        np.repeat(start, burst_count),
        np.repeat(end, burst_count),
        tau,
        sorted_uniforms(burst_count, rng),
    )
    burst_window = (
        (burst_time >= np.repeat(window_start, burst_count))
        & (burst_time < np.repeat(window_end, burst_count))
    ).view(np.int8)
    persona_burst = np.repeat(pop.persona, burst_count)
    # The rate at the candidate's time: the window's, or outside it the faded rate.
    rate = rates.total.ravel().take(persona_burst * 2 + burst_window)
    if fades:
        age = burst_time - np.repeat(arrival, burst_count)
        faded = floor + (1.0 - floor) * np.exp(-age / fade_scale)
        rate = np.where(burst_window == 1, rate, rate * faded)
    keep = rng.random(burst_lead.size) * peak_total.take(persona_burst) < rate
    burst_lead, burst_time, burst_window = _compress(keep, burst_lead, burst_time, burst_window)
    del persona_burst, keep, rate

    lead = np.concatenate((out_lead, in_lead, fade_lead, burst_lead))
    time = np.concatenate((out_time, in_time, fade_time, burst_time))
    window = np.concatenate(
        (
            np.zeros(out_lead.size, np.int8),
            np.ones(in_lead.size, np.int8),
            np.zeros(fade_lead.size, np.int8),
            burst_window,
        )
    )
    # Free the parts as soon as they are merged: a million leads draw tens of millions.
    del out_lead, out_time, in_lead, in_time, fade_lead, fade_time, burst_lead, burst_time
    del burst_window
    activity = rates.draw(pop.persona.take(lead), window, rng.random(lead.size), content_only=False)
    del window

    follow_lead, follow_time, follow_activity = _follow_ups(
        journeys, lead, time, activity, end, window_start, window_end, pop.able_to_buy, rng
    )
    # The follow-ups are few: sorted on their own, they are one more run to merge.
    order = np.lexsort((follow_time, follow_lead))
    follow_lead, follow_time, follow_activity = (
        follow_lead[order],
        follow_time[order],
        follow_activity[order],
    )
    lead = np.concatenate((lead, follow_lead))
    time = np.concatenate((time, follow_time))
    activity = np.concatenate((activity, follow_activity))
    del follow_lead, follow_time, follow_activity
    time = clock.calendar_time(time)
    # Mapped back to calendar time, an event stays inside its lead's span (a guard against
    # rounding at the ends).
    np.clip(time, first.take(lead), np.nextafter(last.take(lead), -np.inf), out=time)
    # First, the conversion that created the lead, if it falls in the drawn history.
    converted = pop.arrival >= first
    conversion = np.where(
        pop.hand_raiser, ACTIVITY_CODE["demo_request"], ACTIVITY_CODE["form_fill"]
    ).astype(np.int8)
    lead = np.concatenate((lead_ids[converted], lead))
    time = np.concatenate((pop.arrival[converted], time))
    activity = np.concatenate((conversion[converted], activity))
    return EventLog.from_unsorted(lead, time, activity, n)


def _follow_ups(
    journeys: JourneysConfig,
    lead: np.ndarray,
    time: np.ndarray,
    activity: np.ndarray,
    end: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    able: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Webinar attendance after registrations; product usage during trials, more inside a
    buying window and more again for a lead ``able`` to buy (budget and authority). All times
    are on the activity clock, and each lead's activity ends at ``end``."""
    registered = np.flatnonzero(activity == ACTIVITY_CODE["webinar_registered"])
    attends = rng.random(registered.size) < journeys.webinar_attendance_probability
    registered = registered[attends]
    attend_time = time[registered] + rng.random(registered.size) * journeys.webinar_lead_time_days
    attend_lead = lead[registered]
    attended = attend_time < end[attend_lead]
    attend_lead, attend_time = attend_lead[attended], attend_time[attended]

    trials = np.flatnonzero(activity == ACTIVITY_CODE["trial_signup"])
    trial_lead, trial_start = lead[trials], time[trials]
    trial_length = np.minimum(journeys.trial_length_days, end[trial_lead] - trial_start)
    inside = (trial_start >= window_start[trial_lead]) & (trial_start < window_end[trial_lead])
    window_lift = journeys.product_usage_window_lift * np.where(
        able[trial_lead], journeys.product_usage_able_lift, 1.0
    )
    lift = np.where(inside, window_lift, 1.0)
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
    low = min(float(time.min(initial=0.0)), 0.0)
    key = lead * (2.0 * (time.max(initial=0.0) - low + _FATIGUE_WINDOW_DAYS + 1.0)) + (time - low)
    recent = np.arange(lead.size) - np.searchsorted(key, key - _FATIGUE_WINDOW_DAYS, "left") + 1
    chance = journeys.unsubscribe_probability * (1.0 + journeys.unsubscribe_fatigue * (recent - 1))
    unsubscribes = uniforms[:, 3] < np.minimum(chance, 1.0)
    # Nothing is sent after a lead's first unsubscribe.
    before = np.cumsum(unsubscribes) - unsubscribes
    first = run_starts(lead)
    sent = before == np.repeat(before[first], np.diff(first, append=lead.size))
    return Touches(lead, time, opened, clicked, landing, unsubscribes).select(sent)
