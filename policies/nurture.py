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

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from mqlsim.core.events import EventLog
from mqlsim.core.schema import NonNegative, Positive
from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE, Activity
from mqlsim.policies.base import CadenceConfigBase, register_cadence

#: Activities that answer touches: they cannot trigger follow-ups.
_ANSWERS = ("email_open", "email_click", "unsubscribe")
_WEEK_DAYS = 7.0


class DripNurtureConfig(CadenceConfigBase):
    """`[nurture]` with `kind = "drip"`: a touch every N days (at most M), plus optional
    follow-ups after organic activity, a weekly cap and a sunset."""

    kind: Literal["drip"] = Field("drip", description="Cadence family.")
    interval_days: Positive = Field(7.0, description="Days between drip touches.")
    max_touches: int = Field(8, ge=0, le=1000, description="Drip touches per nurture run.")
    follow_ups: dict[Activity, Positive] = Field(
        default_factory=dict,
        description=(
            "Days after an organic activity at which a follow-up touch is sent, e.g. "
            "`{ pricing_page = 1.0 }`; touch answers (opens, clicks, unsubscribes) never trigger."
        ),
    )
    max_touches_per_week: int = Field(
        0, ge=0, description="Most touches of a run per calendar week, Monday-Sunday (0: no cap)."
    )
    sunset_after_unanswered: int = Field(
        0, ge=0, description="The run stops after this many unopened touches in a row (0: never)."
    )
    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before nurture resumes."
    )

    def planned_touches_per_lead(self) -> float:
        """Every drip touch is planned at once, before the horizon cuts them."""
        return float(self.max_touches)

    @field_validator("follow_ups")
    @classmethod
    def _organic_triggers(cls, follow_ups: dict[str, float]) -> dict[str, float]:
        answers = [activity for activity in follow_ups if activity in _ANSWERS]
        if answers:
            raise ValueError(
                f"{', '.join(answers)} answer touches and cannot trigger follow-ups "
                "(only organic activity does)"
            )
        return follow_ups


@register_cadence("drip", DripNurtureConfig)
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


class NoNurtureConfig(CadenceConfigBase):
    """`[nurture]` with `kind = "none"`: no touches; leads act on their own."""

    kind: Literal["none"] = Field("none", description="Cadence family.")
    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before the lead may become MQL again."
    )


@register_cadence("none", NoNurtureConfig)
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
