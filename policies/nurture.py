"""Nurture cadences: a drip, with optional follow-ups, a weekly cap and a sunset; or none.

``none`` sends no touches at all (the reference a nurture programme is compared against, e.g.
``mqlsim sweep ... --param nurture.kind=drip,none``). ``drip``'s extras are off by default:

* **drip**: touch ``k`` at ``start + k * interval_days``, ``k = 1 .. max_touches``;
* **follow-ups**: an organic activity listed in ``follow_ups`` at time ``t`` (at or after the
  run's start) brings a touch at ``t + follow_ups[activity]``. Only organic activity triggers
  them: activity a touch caused (opens, clicks, where a click lands) would trigger a touch that
  causes more activity, and so on — a chain that would also make the plan depend on answers;
* **weekly cap**: at most ``max_touches_per_week`` touches of a run per calendar week (Monday
  to Sunday; day 0 is a Monday); the later ones in a full week are dropped, not postponed;
* **sunset**: the run stops after ``sunset_after_unanswered`` touches in a row that were not
  opened (that touch is still sent).

The engine also stops a run at the lead's MQL and at its unsubscribe; an unsubscribed lead gets
no touches, and a recycled lead starts a new run ``recycle_cooldown_days`` after sales recycled
it. The weekly cap keeps the first touches of each week and the sunset cuts a run after a touch,
so each touch's fate depends only on earlier touches, their answers and organic activity.
"""

from __future__ import annotations

import numpy as np

from mqlsim.core.events import EventLog
from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE
from mqlsim.policies.sections import DripNurtureConfig, NoNurtureConfig

_WEEK_DAYS = 7.0


class DripCadence:
    """A drip every ``interval_days`` (at most ``max_touches``), follow-ups after organic
    activity, at most ``max_touches_per_week`` a week, stopped by a sunset."""

    def __init__(self, config: DripNurtureConfig) -> None:
        self.config = config
        self.delay = np.full(len(ACTIVITIES), np.nan)
        for activity, days in config.follow_ups.items():
            self.delay[ACTIVITY_CODE[activity]] = days

    def touch_times(
        self, start: np.ndarray, horizon_days: float, organic: EventLog | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Drip touch ``k`` (1..max_touches) of lead ``i`` at ``start[i] + k * interval_days``,
        follow-ups after ``organic`` events from ``start[i]`` on, then the weekly cap."""
        steps = np.arange(1, self.config.max_touches + 1) * self.config.interval_days
        times = start[:, None] + steps[None, :]
        lead = np.broadcast_to(np.arange(start.size)[:, None], times.shape)
        sent = times < horizon_days
        lead, time = lead[sent], times[sent]
        if organic is not None and self.config.follow_ups:
            delay = self.delay[organic.activity]
            trigger = np.isfinite(delay) & (organic.time >= start[organic.lead])
            follow_time = organic.time[trigger] + delay[trigger]
            due = follow_time < horizon_days
            lead = np.concatenate((lead, organic.lead[trigger][due]))
            time = np.concatenate((time, follow_time[due]))
            order = np.lexsort((time, lead))
            lead, time = lead[order], time[order]
        if self.config.max_touches_per_week:
            keep = _rank_in_week(lead, time) < self.config.max_touches_per_week
            lead, time = lead[keep], time[keep]
        return lead, time

    def running(self, lead: np.ndarray, answered: np.ndarray) -> np.ndarray:
        """Touches up to each lead's ``sunset_after_unanswered``-th unopened touch in a row."""
        limit = self.config.sunset_after_unanswered
        if not limit:
            return np.ones(lead.size, dtype=bool)
        index = np.arange(lead.size)
        first = np.searchsorted(lead, lead, "left")  # each lead's first touch
        # The latest answered touch at or before each touch (or the one before the lead's first).
        anchor = np.maximum.accumulate(np.where(answered, index, first - 1))
        sunset = index - anchor >= limit
        before: np.ndarray = np.cumsum(sunset) - sunset
        return before == before[first]


class NoCadence:
    """No touches: every lead's activity is organic."""

    def __init__(self, config: NoNurtureConfig) -> None:
        self.config = config

    def touch_times(
        self, start: np.ndarray, horizon_days: float, organic: EventLog | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """No touch for any lead."""
        return np.zeros(0, dtype=np.int64), np.zeros(0)

    def running(self, lead: np.ndarray, answered: np.ndarray) -> np.ndarray:
        """Nothing planned, nothing to stop."""
        return np.ones(lead.size, dtype=bool)


def _rank_in_week(lead: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Each touch's position among its lead's touches of the same calendar week (from 0)."""
    week = np.floor(time / _WEEK_DAYS)
    index = np.arange(lead.size)
    new = np.ones(lead.size, dtype=bool)
    new[1:] = (lead[1:] != lead[:-1]) | (week[1:] != week[:-1])
    return index - np.maximum.accumulate(np.where(new, index, 0))
