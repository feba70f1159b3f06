"""Points-based lead score: points per activity, frequency caps, half-life decay, fit points.

The score of a lead after its ``j``-th counted event is::

    fit_points[grade] + sum over counted events e <= j of points[e] * 2 ** (-(t_j - t_e) / half_life)

An event counts when it happens at or after the view's ``since`` and its activity has not yet
reached its frequency cap. Between events the score only decays, so it can first reach the
threshold only at an event: the lead becomes MQL at the first event where score >= threshold.
"""

from __future__ import annotations

import numpy as np

from policies.base import LeadView, Qualification, register_policy
from sim.scenario import ScorePolicyConfig
from sim.vocabulary import ACTIVITIES, GRADES

_NO_CAP = np.iinfo(np.int32).max


@register_policy("score")
class ScorePolicy:
    """MQL when the lead score reaches ``threshold``."""

    def __init__(self, config: ScorePolicyConfig) -> None:
        self.config = config
        self.points = np.array([config.points.get(a, 0.0) for a in ACTIVITIES])
        self.caps = np.array([config.frequency_caps.get(a, _NO_CAP) for a in ACTIVITIES])
        self.fit_points = np.array([config.grade_points.get(g, 0.0) for g in GRADES])

    def scores(self, view: LeadView) -> tuple[np.ndarray, np.ndarray]:
        """The score right after each counted event, and which events count.

        Returns ``(score, counted)`` aligned with ``view.events``; ``score`` is ``nan`` where an
        event is before the lead's ``since``. Vectorised across leads: step ``j`` advances every
        lead that has a ``j``-th event, so the work is one pass over the events.
        """
        events = view.events
        n = events.n_leads
        counted = events.time >= view.since[events.lead]
        index = np.flatnonzero(counted)
        lead = events.lead[index]
        counts = np.bincount(lead, minlength=n)
        starts = np.concatenate(([0], np.cumsum(counts)))
        by_count = np.argsort(-counts, kind="stable")
        active_after = np.bincount(counts, minlength=1)[::-1].cumsum()[::-1]  # leads with > j

        engagement = np.zeros(n)
        last_time = view.since.astype(float)
        used = np.zeros((n, len(ACTIVITIES)), dtype=np.int32)
        half_life = self.config.decay_half_life_days
        score = np.full(len(events), np.nan)
        for step in range(int(counts.max(initial=0))):
            leads = by_count[: active_after[step + 1]]
            position = index[starts[leads] + step]
            activity = events.activity[position]
            time = events.time[position]
            if half_life is not None:
                engagement[leads] *= np.exp2(-(time - last_time[leads]) / half_life)
                last_time[leads] = time
            count = used[leads, activity]
            used[leads, activity] = count + 1
            engagement[leads] += np.where(count < self.caps[activity], self.points[activity], 0.0)
            score[position] = engagement[leads] + self.fit_points[view.grade[leads]]
        return score, counted

    def qualify(self, view: LeadView) -> Qualification:
        """First event per lead whose score reaches the threshold."""
        score, _ = self.scores(view)
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
        start = events.starts[lead]
        half_life = self.config.decay_half_life_days
        fired_time = events.time[fired]
        contributions: dict[str, float] = {}
        used: dict[str, int] = {}
        for position in range(start, fired + 1):
            if events.time[position] < view.since[lead]:
                continue
            name = ACTIVITIES[events.activity[position]]
            used[name] = used.get(name, 0) + 1
            if used[name] > self.caps[events.activity[position]]:
                continue
            decay = 1.0 if half_life is None else 2.0 ** (-(fired_time - events.time[position]) / half_life)
            contributions[name] = contributions.get(name, 0.0) + self.points[events.activity[position]] * decay
        parts = [f"{name} {value:+g}" for name, value in contributions.items() if value != 0]
        parts.append(f"fit {self.fit_points[view.grade[lead]]:+g}")
        total = qualification.priority[lead]
        return f"score {total:.4g} >= {self.config.threshold:g}: " + ", ".join(parts)
