"""Behaviour trigger: ``count`` occurrences of one activity within ``window_days`` make an MQL.

An occurrence of ``activity`` counts when it happens at or after the view's ``since``. The rule
holds at a counted occurrence at time ``t`` when the ``count``-th most recent counted occurrence
(this one included) happened at ``t0`` with ``t - t0 < window_days``: all ``count`` of them lie
in the half-open window ``(t - window_days, t]``. The lead becomes MQL at the first occurrence
where the rule holds.

With the defaults (``pricing_page``, 3, 7 days), views on days 0, 3 and 6 fire on day 6; views
on days 0, 4 and 8 never fire; views on days 0, 3 and 7 do not fire either, because day 0 lies
exactly 7 days before day 7 and so outside the window (0, 7]. ``window_days = inf`` counts
occurrences without a time limit. Simultaneous events count in the order of the event log.
The priority is the count (the trigger fires when exactly ``count`` occurrences are in the
window).
"""

from __future__ import annotations

import numpy as np

from mqlsim.core.vocabulary import ACTIVITY_CODE
from mqlsim.policies.base import (
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.sections import TriggerPolicyConfig


def days(times: np.ndarray) -> str:
    """Event times for a reason string: ``0.0, 3.0, 6.0``."""
    return ", ".join(f"{t:.1f}" for t in times)


class TriggerPolicy:
    """MQL at the first ``count``-th occurrence of ``activity`` within ``window_days``."""

    def __init__(self, config: TriggerPolicyConfig) -> None:
        self.config = config
        self.code = ACTIVITY_CODE[config.activity]

    def occurrences(self, view: LeadView) -> np.ndarray:
        """Indices of the counted occurrences of the activity, ascending."""
        events = view.events
        counted = events.time >= view.since[events.lead]
        return np.flatnonzero(counted & (events.activity == self.code))

    def qualify(self, view: LeadView) -> Qualification:
        """Compare each occurrence with the one ``count - 1`` places before it in the log."""
        events = view.events
        found = self.occurrences(view)
        back = self.config.count - 1
        head = max(found.size - back, 0)
        lead, time = events.lead[found], events.time[found]
        holds = (lead[back:] == lead[:head]) & (time[back:] - time[:head] < self.config.window_days)
        hits = found[back:][holds]
        return first_hits(view, hits, np.full(hits.size, float(self.config.count)))

    def explain(self, view: LeadView, lead: int) -> str:
        """``trigger: pricing_page x3 within 7 days (days 0.0, 3.0, 6.0)``."""
        single = view.subset(np.array([lead]))
        fired = int(self.qualify(single).event[0])
        if fired < 0:
            return "not MQL"
        found = self.occurrences(single)
        window = found[found <= fired][-self.config.count :]
        config = self.config
        return (
            f"trigger: {config.activity} x{config.count} within {config.window_days:g} days "
            f"(days {days(single.events.time[window])})"
        )
