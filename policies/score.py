"""Points-based lead score: points per activity, caps, decay, fit points.

The score of a lead right after one of its events is ``fit + engagement``:

* ``fit = grade_points[grade] + sum of fit_points[attribute][value]`` over the explicit fit
  attributes (an unknown value earns 0) ``+ source_points[source]`` (the lead's channel in the
  simulator, its ``source`` column in a replayed log; an unknown or unlisted source earns 0);
* each counted event *earns* ``points[activity] + value_points[activity] * value``, where
  ``value`` is the amount a recorded log gives the event (its ``value`` column, e.g. seconds on
  a page; no value earns no value points, and the simulator's events have none), except that an
  activity earns points only for its first ``frequency_caps[activity]`` occurrences, and the
  activities of a group earn together at most the group's ``cap_points``: the event that
  reaches the cap earns the rest up to it, later ones earn nothing (so with a cap of 40,
  15-point downloads earn 15, 15, 10, 0);
* ``engagement`` adds up the earned points with decay (``decay``), at the event's time ``t``:

  - ``"half_life"``: ``sum of earned_e * 2 ** (-(t - t_e) / decay_half_life_days)``;
  - ``"linear"``: a running total that loses ``decay_points_per_period`` at every
    ``decay_period_days`` after the score started, and never goes below 0 (neither the loss
    nor a negative point takes away more than there is);
  - ``"window"``: positive points earned in the last ``decay_window_days`` (``t - t_e <
    window``), plus every negative point since the score started.

Counted events: with ``reset_on_recycle = true`` those at or after the view's ``since`` (a
recycled lead starts afresh, caps included); with ``false`` every event of the lead in the view
(its whole history). Either way an MQL fires only at an event at or after ``since``.

Between events the score can only fall (half-life: as long as the fit points alone stay below
the threshold, since a negative engagement decays up towards the fit; window: negative points
never expire, because one that expired would raise the score of a lead that did nothing). So the
lead becomes MQL at the first event, at or after ``since``, whose score reaches the threshold.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from mqlsim.core.events import EventLog, run_starts
from mqlsim.core.vocabulary import (
    ACTIVITIES,
    ACTIVITY_CODE,
    FIT_ATTRIBUTES,
    GRADES,
)
from mqlsim.policies.base import (
    MISSING_CODE,
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.sections import ScorePolicyConfig

_NO_CAP = np.iinfo(np.int32).max
_SCORE_DECIMALS = 9
#: Most cells of one padded block of events (bounds memory on large populations).
_BLOCK_CELLS = 1 << 22
#: Above this many events, :func:`_row_widths` pads rows less, at the cost of more blocks.
_FINE_WIDTH_EVENTS = 1 << 17
#: About how many events :meth:`ScorePolicy.qualify` scores at a time (whole leads).
_CHUNK_EVENTS = 1 << 21


def _running_count(group: np.ndarray, occurrence: np.ndarray | None = None) -> np.ndarray:
    """How many ``occurrence`` events (default: all) each event's run of equal ``group`` values
    has had up to it, this one included; ``group`` is sorted (a lead column, say)."""
    first = run_starts(group)
    if occurrence is None:
        running, before = np.arange(1, group.size + 1), first
    else:
        running = np.cumsum(occurrence)
        before = running[first] - occurrence[first]
    return running - np.repeat(before, np.diff(first, append=group.size))


def _row_widths(counts: np.ndarray) -> np.ndarray:
    """The row width for a lead of ``counts`` events in :meth:`ScorePolicy.scores`.

    The count rounded up to a multiple of an eighth of the power of two above it (under 1/4
    padding) when there are many events; with few, the cost is per block rather than per cell,
    so it is rounded up to the power of two (fewer widths, so fewer blocks).
    """
    _, bits = np.frexp(counts)  # counts < 2**bits
    fraction = 3 if counts.sum() > _FINE_WIDTH_EVENTS else 1
    step = np.left_shift(1, np.maximum(bits - fraction, 0))
    return -(-counts // step) * step


def _signed(points: float) -> str:
    """Points for a reason: three significant digits, whole points from 1,000 on (``+1,532``,
    not ``+1.53e+03``, for points earned per unit of a value such as seconds)."""
    return f"{points:+,.0f}" if abs(points) >= 1000 else f"{points:+.3g}"


def _lead_range(view: LeadView, first: int, last: int) -> LeadView:
    """The view of leads ``first..last-1`` alone, renumbered from 0 (event columns are slices)."""
    events = view.events
    begin, end = int(events.starts[first]), int(events.starts[last])
    chunk = EventLog(
        lead=events.lead[begin:end] - np.int32(first),
        time=events.time[begin:end],
        activity=events.activity[begin:end],
        starts=events.starts[first : last + 1] - begin,
        value=None if events.value is None else events.value[begin:end],
    )
    return LeadView(
        events=chunk,
        grade=view.grade[first:last],
        fit={name: codes[first:last] for name, codes in view.fit.items()},
        since=view.since[first:last],
        source=None if view.source is None else view.source[first:last],
        source_names=view.source_names,
    )


class ScorePolicy:
    """MQL when the lead score reaches ``threshold``."""

    def __init__(self, config: ScorePolicyConfig) -> None:
        self.config = config
        self.points = np.array([config.points.get(a, 0.0) for a in ACTIVITIES])
        self.caps = np.array([config.frequency_caps.get(a, _NO_CAP) for a in ACTIVITIES])
        # An unknown grade (UNKNOWN_GRADE, after the four) earns no grade points.
        self.grade_points = np.array([*(config.grade_points.get(g, 0.0) for g in GRADES), 0.0])
        #: attribute -> points by value code, for the attributes that earn any
        self.attribute_points: dict[str, np.ndarray] = {}
        for name, values in FIT_ATTRIBUTES.items():
            table = np.array([getattr(config.fit_points, name).get(v, 0.0) for v in values])
            if table.any():
                self.attribute_points[name] = table
        self.groups = [
            (np.array([ACTIVITY_CODE[a] for a in group.activities]), group.cap_points)
            for group in config.groups.values()
        ]
        self.value_points = np.array([config.value_points.get(a, 0.0) for a in ACTIVITIES])

    def fit(self, view: LeadView) -> np.ndarray:
        """Each lead's fit points: its grade's, those of its known fit attributes and its
        source's."""
        fit = self.grade_points[view.grade]
        for name, table in self.attribute_points.items():
            codes = view.fit.get(name)
            if codes is not None:
                fit = fit + np.where(codes == MISSING_CODE, 0.0, table[codes])
        return fit + self.source_fit(view)

    def source_fit(self, view: LeadView) -> np.ndarray:
        """Each lead's points for its source (0 when unknown or not listed)."""
        if not self.config.source_points or view.source is None:
            return np.zeros(view.events.n_leads)
        table = np.array(
            [self.config.source_points.get(name, 0.0) for name in view.source_names] + [0.0]
        )
        return table[view.source]  # MISSING_CODE (-1) picks the trailing 0

    def counted(self, view: LeadView) -> np.ndarray:
        """Which events earn points: from ``since``, or (no reset on recycle) all of them."""
        events = view.events
        if self.config.reset_on_recycle:
            return events.time >= view.since.take(events.lead)
        return np.ones(len(events), dtype=bool)

    def counted_points(self, view: LeadView) -> np.ndarray:
        """Points each event earns before decay: 0 when not counted, beyond a frequency cap or
        beyond its group's cap."""
        return self._counted_points(view.events, self.counted(view))

    def _counted_points(self, events: EventLog, counted: np.ndarray) -> np.ndarray:
        """:meth:`counted_points` of ``events``, of which ``counted`` count.

        Occurrences are counted among the events they concern alone (taken out of the log, in
        order): the other events change no count.
        """
        points = np.where(counted, self.points.take(events.activity), 0.0)
        if events.value is not None and self.value_points.any():
            per_value = self.value_points.take(events.activity)
            valued = counted & (per_value != 0) & ~np.isnan(events.value)
            points[valued] += per_value[valued] * events.value[valued]
        for code in np.flatnonzero(self.caps < _NO_CAP):
            where = np.flatnonzero(counted & (events.activity == code))
            rank = _running_count(events.lead.take(where))
            points[where[rank > self.caps[code]]] = 0.0
        for codes, cap in self.groups:
            # The group's running total after / before each of its events, from exact
            # occurrence counts.
            where = np.flatnonzero(counted & np.isin(events.activity, codes))
            lead, activity = events.lead.take(where), events.activity.take(where)
            after = np.zeros(where.size)
            before = np.zeros(where.size)
            for code in codes:
                occurrence = activity == code
                rank = _running_count(lead, occurrence)
                after += self.points[code] * np.minimum(rank, self.caps[code])
                before += self.points[code] * np.minimum(rank - occurrence, self.caps[code])
            points[where] = np.minimum(after, cap) - np.minimum(before, cap)
        return points

    def scores(self, view: LeadView) -> np.ndarray:
        """The score right after each event (``nan`` for events that do not count).

        Leads are grouped by event count into blocks of rows padded to a common width (see
        :func:`_row_widths`), and each block is summed along its rows, so no sum runs across
        leads. The padding repeats the lead's last event; as every figure of a row depends only
        on the cells up to it, the padding changes no score. With half-life decay, weights are
        taken relative to the lead's last event, which keeps them in [2**-1000, 1] (all 1 with
        an infinite half-life). Scores are rounded to nine decimals.
        """
        events = view.events
        counted = self.counted(view)
        points = self._counted_points(events, counted)
        counts = np.diff(events.starts)
        widths = _row_widths(counts)
        fit = self.fit(view)
        oldest = self._window_starts(view) if self.config.decay == "window" else None
        score = np.full(len(events), np.nan)
        with_events = np.flatnonzero(counts)
        by_width = with_events[np.argsort(widths[with_events], kind="stable")]  # lead order within
        sorted_widths = widths[by_width]
        first = run_starts(sorted_widths)
        for begin, end in itertools.pairwise([*first, by_width.size]):
            width = int(sorted_widths[begin])
            members = by_width[begin:end]
            for rows in np.array_split(members, -(-members.size * width // _BLOCK_CELLS)):
                first, end = events.starts[rows], events.starts[rows + 1]
                position = first[:, None] + np.arange(width)
                np.minimum(position, end[:, None] - 1, out=position)
                earned = points.take(position)
                time = events.time.take(position)
                if self.config.decay == "half_life":
                    last = events.time.take(end - 1)
                    weight = np.exp2((time - last[:, None]) / self.config.decay_half_life_days)
                    engagement = np.cumsum(earned * weight, axis=1) / weight
                elif self.config.decay == "linear":
                    # The score started at ``since``, or (history counts) at the first event.
                    reset = self.config.reset_on_recycle
                    origin = view.since[rows] if reset else events.time.take(first)
                    engagement = self._linear(earned, time, origin)
                else:
                    assert oldest is not None  # computed above for window decay
                    engagement = self._window(earned, oldest.take(position) - first[:, None])
                cells = np.flatnonzero(np.arange(width) < counts[rows, None])
                score[position.ravel().take(cells)] = (engagement + fit[rows, None]).ravel()[cells]
        score[~counted] = np.nan
        # The decay arithmetic can leave 100 as 99.99999999999999; scores are sums of points,
        # so nine decimals keep every meaningful digit and make threshold hits exact.
        return np.round(score, _SCORE_DECIMALS)

    def _linear(self, earned: np.ndarray, time: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """Engagement ``E_j = max(0, max(0, E_(j-1) - loss_j) + earned_j)`` along each row.

        ``loss_j`` is the points lost at the period ends between events ``j-1`` and ``j``. With
        ``gain = max(earned, 0)`` and ``F_j = E_j - gain_j``, the recursion is Lindley's
        ``F_j = max(0, F_(j-1) + w_j)``, ``w_j = gain_(j-1) - loss_j + min(earned_j, 0)``,
        whose solution is ``S_j - min(0, S_1, ..., S_j)`` for the running sum ``S`` of ``w``.
        """
        periods = np.floor(np.maximum(time - origin[:, None], 0.0) / self.config.decay_period_days)
        loss = self.config.decay_points_per_period * np.diff(periods, axis=1, prepend=0.0)
        gain = np.maximum(earned, 0.0)
        previous_gain = np.concatenate((np.zeros((len(earned), 1)), gain[:, :-1]), axis=1)
        running = np.cumsum(previous_gain - loss + np.minimum(earned, 0.0), axis=1)
        floor = np.minimum.accumulate(np.minimum(running, 0.0), axis=1)
        return running - floor + gain

    @staticmethod
    def _window(earned: np.ndarray, oldest: np.ndarray) -> np.ndarray:
        """Positive points from row position ``oldest`` on, plus every negative point so far."""
        gained = np.cumsum(np.maximum(earned, 0.0), axis=1)
        before = np.concatenate((np.zeros((len(earned), 1)), gained), axis=1)
        expired = np.take_along_axis(before, oldest, axis=1)
        return gained - expired + np.cumsum(np.minimum(earned, 0.0), axis=1)

    def _window_starts(self, view: LeadView) -> np.ndarray:
        """For each event ``j``, the first event ``e`` of its lead with ``t_j - t_e < window``.

        A binary search run for all events at once (about log2 of the most events per lead
        steps); the comparison is the exact one of the rule.
        """
        events = view.events
        window = self.config.decay_window_days
        index = np.arange(len(events))
        low = events.starts[events.lead]
        high = index.copy()  # event j itself is always inside its window
        while np.any(low < high):
            middle = (low + high) // 2
            inside = events.time - events.time[middle] < window
            high = np.where(inside, middle, high)
            low = np.where(inside, low, middle + 1)
        return low

    def qualify(self, view: LeadView) -> Qualification:
        """First event per lead, at or after its ``since``, whose score reaches the threshold.

        A lead's score depends on its own events only, so leads are scored in consecutive
        chunks of about :data:`_CHUNK_EVENTS` events: the score's temporaries stay the size
        of a chunk, not of the whole log, and every figure is the same. A view with a ``memo``
        keeps every event's score there, under every setting but the threshold, so the
        points of a threshold sweep score their shared view once.
        """
        if view.memo is not None:
            key = f"{type(self).__qualname__}:{self.config.model_dump_json(exclude={'threshold'})}"
            score = view.memo.get(key)
            if score is None:
                score = self._scores_in_chunks(view)
                score.flags.writeable = False
                view.memo[key] = score
            return self._first_reach(view, score)
        events = view.events
        if len(events) <= _CHUNK_EVENTS:
            return self._first_reach(view, self.scores(view))
        n_leads = events.n_leads
        time = np.full(n_leads, np.nan)
        priority = np.full(n_leads, np.nan)
        event = np.full(n_leads, -1, dtype=np.int64)
        for (first, last), chunk in self._chunks(view):
            decision = self._first_reach(chunk, self.scores(chunk))
            time[first:last] = decision.time
            priority[first:last] = decision.priority
            offset = events.starts[first]
            event[first:last] = np.where(decision.event >= 0, decision.event + offset, -1)
        return Qualification(time=time, priority=priority, event=event)

    def _scores_in_chunks(self, view: LeadView) -> np.ndarray:
        """:meth:`scores`, computed chunk by chunk (see :meth:`qualify`)."""
        if len(view.events) <= _CHUNK_EVENTS:
            return self.scores(view)
        return np.concatenate([self.scores(chunk) for _, chunk in self._chunks(view)])

    @staticmethod
    def _chunks(view: LeadView) -> Iterator[tuple[tuple[int, int], LeadView]]:
        """The view's leads in consecutive ranges ``first..last-1`` of about
        :data:`_CHUNK_EVENTS` events (whole leads), each with its view."""
        events = view.events
        bounds = np.searchsorted(events.starts, np.arange(0, len(events), _CHUNK_EVENTS), "right")
        bounds = np.unique(np.concatenate(([0], bounds - 1, [events.n_leads])))
        for first, last in itertools.pairwise(bounds.tolist()):
            yield (first, last), _lead_range(view, first, last)

    def _first_reach(self, view: LeadView, score: np.ndarray) -> Qualification:
        """Each lead's first event at or after its ``since`` whose ``score`` reaches the
        threshold."""
        events = view.events
        hits = np.flatnonzero(score >= self.config.threshold)
        hits = hits[events.time[hits] >= view.since[events.lead[hits]]]
        return first_hits(view, hits, score[hits])

    def explain(self, view: LeadView, lead: int) -> str:
        """``score 104 >= 100: pricing_page +30, case_study +20, ..., fit +4`` for one lead.

        Each activity shows its points as they stand at the MQL (after decay); with linear
        decay, the points lost to decay (and to the floor at 0) are shown as ``decay``. Only
        the lead's own events are evaluated.
        """
        view = view.subset(np.array([lead]))
        qualification = self.qualify(view)
        fired = int(qualification.event[0])
        if fired < 0:
            return "not MQL"
        events = view.events
        span = slice(0, fired + 1)
        earned = self.counted_points(view)[span]
        age = events.time[fired] - events.time[span]
        if self.config.decay == "half_life":
            earned = earned * np.exp2(-age / self.config.decay_half_life_days)
        elif self.config.decay == "window":
            earned = np.where((age < self.config.decay_window_days) | (earned < 0), earned, 0.0)
        contributions: dict[str, float] = {}
        for code, value in zip(events.activity[span], earned, strict=True):
            if value != 0:
                name = ACTIVITIES[code]
                contributions[name] = contributions.get(name, 0.0) + value
        parts = [f"{name} {_signed(value)}" for name, value in contributions.items()]
        total = qualification.priority[0]
        fit = self.fit(view)[0]
        source = self.source_fit(view)[0]
        if self.config.decay == "linear":
            lost = round(earned.sum() + fit - total, _SCORE_DECIMALS)
            if lost:
                parts.append(f"decay {_signed(-lost)}")
        if source:
            assert view.source is not None  # a source earned points
            parts.append(f"source {view.source_names[view.source[0]]} {source:+g}")
        parts.append(f"fit {fit - source:+g}")
        return f"score {total:.4g} >= {self.config.threshold:g}: " + ", ".join(parts)
