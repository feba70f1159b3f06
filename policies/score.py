"""Points-based lead score: points per activity, frequency caps, half-life decay, fit points.

The score of a lead after its ``j``-th counted event is::

    fit_points[grade]
        + sum over counted events e <= j of points[e] * 2 ** (-(t_j - t_e) / half_life)

An event counts when it happens at or after the view's ``since`` and its activity has not yet
reached its frequency cap. Between events the score only decays, so it can first reach the
threshold only at an event: the lead becomes MQL at the first event where score >= threshold.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from policies.base import LeadView, PolicyConfigBase, Qualification, register_policy
from sim.schema import Positive
from sim.vocabulary import ACTIVITIES, GRADES, Activity, Grade

_NO_CAP = np.iinfo(np.int32).max
_SCORE_DECIMALS = 9
#: Most cells of one padded block of events (bounds memory on large populations).
_BLOCK_CELLS = 1 << 22


def _default_points() -> dict[str, float]:
    return {
        "web_visit": 1,
        "pricing_page": 30,
        "blog_post": 1,
        "case_study": 15,
        "comparison_guide": 25,
        "roi_calculator": 25,
        "implementation_guide": 25,
        "webinar_registered": 5,
        "webinar_attended": 40,
        "email_open": 0,
        "email_click": 3,
        "form_fill": 5,
        "demo_request": 100,
        "trial_signup": 60,
        "product_usage": 5,
        "unsubscribe": -40,
    }


class ScorePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "score"`: points per activity, caps, decay, fit points."""

    kind: Literal["score"] = Field("score", description="Policy family.")
    threshold: float = Field(100.0, description="Score at or above which the lead becomes MQL.")
    points: dict[Activity, float] = Field(
        default_factory=_default_points,
        description="Points per activity; negative points subtract (missing = 0).",
    )
    frequency_caps: dict[Activity, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {
            "web_visit": 10,
            "blog_post": 5,
            "email_open": 5,
            "email_click": 5,
            "product_usage": 10,
        },
        description="Most occurrences of an activity that earn points (missing = no cap).",
    )
    decay_half_life_days: Positive = Field(
        60.0, description="Points halve every this many days; inf for no decay."
    )
    grade_points: dict[Grade, float] = Field(
        default_factory=lambda: {"A": 15, "B": 5, "C": 0, "D": -10},
        description="Fit points by ICP grade, added to the score (missing = 0).",
    )

    def check_horizon(self, horizon_days: float) -> None:
        """Decay weights must stay representable: at most 1000 half-lives per horizon."""
        if horizon_days / self.decay_half_life_days > 1000:
            raise ValueError(
                "policy.decay_half_life_days must be at least horizon_days / 1000 "
                f"({horizon_days / 1000:g})"
            )


@register_policy("score", ScorePolicyConfig)
class ScorePolicy:
    """MQL when the lead score reaches ``threshold``."""

    def __init__(self, config: ScorePolicyConfig) -> None:
        self.config = config
        self.points = np.array([config.points.get(a, 0.0) for a in ACTIVITIES])
        self.caps = np.array([config.frequency_caps.get(a, _NO_CAP) for a in ACTIVITIES])
        self.fit_points = np.array([config.grade_points.get(g, 0.0) for g in GRADES])

    def counted_points(self, view: LeadView) -> np.ndarray:
        """Points each event earns before decay: 0 before ``since`` and beyond a cap."""
        events = view.events
        counted = events.time >= view.since[events.lead]
        points = np.where(counted, self.points[events.activity], 0.0)
        for code in np.flatnonzero(self.caps < _NO_CAP):
            occurrence = counted & (events.activity == code)
            running = np.concatenate(([0], np.cumsum(occurrence)))  # occurrences before index
            before_lead = running[events.starts[:-1]]
            rank = running[1:] - np.repeat(before_lead, np.diff(events.starts))
            points[occurrence & (rank > self.caps[code])] = 0.0
        return points

    def scores(self, view: LeadView) -> np.ndarray:
        """The score right after each event (``nan`` before the lead's ``since``).

        Leads are grouped by event count into blocks padded to a power of two, and each block
        is summed along its rows, so no sum runs across leads. With decay, weights are taken
        relative to the lead's last event, which keeps them in [2**-1000, 1]
        (all 1 with an infinite half-life: no decay). Scores are rounded to nine decimals.
        """
        events = view.events
        points = self.counted_points(view)
        counts = np.diff(events.starts)
        width_class = np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
        fit = self.fit_points[view.grade]
        half_life = self.config.decay_half_life_days
        score = np.full(len(events), np.nan)
        for klass in np.unique(width_class[counts > 0]):
            width = 1 << int(klass)
            members = np.flatnonzero((width_class == klass) & (counts > 0))
            for rows in np.array_split(members, -(-members.size * width // _BLOCK_CELLS)):
                valid = np.arange(width)[None, :] < counts[rows, None]
                position = np.minimum(
                    events.starts[rows, None] + np.arange(width)[None, :],
                    events.starts[rows + 1, None] - 1,
                )
                earned = np.where(valid, points[position], 0.0)
                last = events.time[events.starts[rows + 1] - 1]
                weight = np.exp2((events.time[position] - last[:, None]) / half_life)
                engagement = np.cumsum(earned * weight, axis=1) / weight
                score[position[valid]] = (engagement + fit[rows, None])[valid]
        score[events.time < view.since[events.lead]] = np.nan
        # The decay arithmetic can leave 100 as 99.99999999999999; scores are sums of points,
        # so nine decimals keep every meaningful digit and make threshold hits exact.
        return np.round(score, _SCORE_DECIMALS)

    def qualify(self, view: LeadView) -> Qualification:
        """First event per lead whose score reaches the threshold."""
        score = self.scores(view)
        events = view.events
        hits = np.flatnonzero(score >= self.config.threshold)
        leads, first = np.unique(events.lead[hits], return_index=True)
        event = np.full(events.n_leads, -1, dtype=np.int64)
        event[leads] = hits[first]
        fired = event >= 0
        time = np.full(events.n_leads, np.nan)
        time[fired] = events.time[event[fired]]
        priority = np.full(events.n_leads, np.nan)
        priority[fired] = score[event[fired]]
        return Qualification(time=time, priority=priority, event=event)

    def explain(self, view: LeadView, lead: int) -> str:
        """``score 104 >= 100: pricing_page +30, case_study +20, ..., fit +4`` for one lead."""
        qualification = self.qualify(view)
        fired = int(qualification.event[lead])
        if fired < 0:
            return "not MQL"
        events = view.events
        span = slice(events.starts[lead], fired + 1)
        earned = self.counted_points(view)[span]
        half_life = self.config.decay_half_life_days
        earned = earned * np.exp2(-(events.time[fired] - events.time[span]) / half_life)
        contributions: dict[str, float] = {}
        for code, value in zip(events.activity[span], earned, strict=True):
            if value != 0:
                name = ACTIVITIES[code]
                contributions[name] = contributions.get(name, 0.0) + value
        parts = [f"{name} {value:+.3g}" for name, value in contributions.items()]
        parts.append(f"fit {self.fit_points[view.grade[lead]]:+g}")
        total = qualification.priority[lead]
        return f"score {total:.4g} >= {self.config.threshold:g}: " + ", ".join(parts)
