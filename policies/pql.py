"""Product-qualified lead: ``usage_events`` product-usage events early in a trial make an MQL.

Only events at or after the view's ``since`` count. A ``trial_signup`` at time ``s`` starts a
trial whose first ``window_days`` are the half-open window ``[s, s + window_days)``. At a
``product_usage`` event at time ``t``, the lead's trial is its earliest counted sign-up before
this event (in log order) with ``t < s + window_days``, and the usage count is the number of
usage events after that sign-up up to and including this one — all of them inside the trial's
window. The rule holds when the count reaches ``usage_events``; the lead becomes MQL at the first
usage event where it holds.

So usage before any sign-up never counts, and a later sign-up does not reset a trial that is
still in its window. With the defaults (3 events, 7 days), a sign-up on day 10 and usage on days
11, 12.5 and 16.9 fire on day 16.9; usage on day 17 would be outside [10, 17). ``window_days =
inf`` counts every usage after the first sign-up. The priority is the usage count
(``usage_events`` when the rule first holds).
"""

from __future__ import annotations

import numpy as np

from mqlsim.core.vocabulary import ACTIVITY_CODE
from mqlsim.policies.base import (
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.sections import PqlPolicyConfig
from mqlsim.policies.trigger import days

_SIGNUP = ACTIVITY_CODE["trial_signup"]
_USAGE = ACTIVITY_CODE["product_usage"]


class PqlPolicy:
    """MQL at the first usage event that brings a trial's early usage to ``usage_events``."""

    def __init__(self, config: PqlPolicyConfig) -> None:
        self.config = config

    def trials(self, view: LeadView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counted usage events, each one's trial sign-up (-1: none) and usage count so far.

        A usage event's trial is the earliest sign-up of its lead whose window is still open:
        the first of the lead's sign-ups whose window end ``s + window_days`` is after the
        usage's time (the sign-ups come sorted by lead and time, so their window ends are
        sorted within each lead), found for every usage event at once by :func:`_first_after`.
        """
        events = view.events
        counted = events.time >= view.since[events.lead]
        signup = np.flatnonzero(counted & (events.activity == _SIGNUP))
        is_usage = counted & (events.activity == _USAGE)
        usage = np.flatnonzero(is_usage)
        nearest = _first_after(
            events.lead[signup],
            events.time[signup] + self.config.window_days,
            events.lead[usage],
            events.time[usage],
        )
        trial = np.append(signup, -1)[nearest]
        # A next sign-up logged after the usage (a later lead's, when the lead has none left
        # open) is no trial.
        valid = (trial >= 0) & (trial < usage)
        trial = np.where(valid, trial, -1)
        usages_up_to = np.cumsum(is_usage)
        count = np.where(valid, usages_up_to[usage] - usages_up_to[np.maximum(trial, 0)], 0)
        return usage, trial, count

    def qualify(self, view: LeadView) -> Qualification:
        """First usage event per lead whose trial's usage count reaches ``usage_events``."""
        usage, _, count = self.trials(view)
        holds = count >= self.config.usage_events
        return first_hits(view, usage[holds], count[holds].astype(float))

    def explain(self, view: LeadView, lead: int) -> str:
        """``pql: 3 product_usage events within 7 days of the trial_signup on day 10.0 (...)``."""
        single = view.subset(np.array([lead]))
        fired = int(self.qualify(single).event[0])
        if fired < 0:
            return "not MQL"
        usage, trial, count = self.trials(single)
        k = int(np.searchsorted(usage, fired))
        used = usage[(usage > trial[k]) & (usage <= fired)]
        time = single.events.time
        return (
            f"pql: {count[k]} product_usage events within {self.config.window_days:g} days of "
            f"the trial_signup on day {time[trial[k]]:.1f} (days {days(time[used])})"
        )


def _first_after(
    lead: np.ndarray, end: np.ndarray, query_lead: np.ndarray, query_time: np.ndarray
) -> np.ndarray:
    """For each query, the first position ``j`` (``lead`` sorted, ``end`` sorted within each
    lead) with ``(lead[j], end[j]) > (query_lead, query_time)`` in lexicographic order:
    the query's lead's first window end after its time, or else the next lead's first
    (``lead.size``: none). A binary search in each query's lead's run, for all queries at
    once: about log2 of the most sign-ups of one lead steps."""
    low = np.searchsorted(lead, query_lead, "left")
    high = np.searchsorted(lead, query_lead, "right")
    searching = low < high
    while np.any(searching):
        middle = (low + high) // 2
        after = end.take(np.minimum(middle, lead.size - 1)) > query_time
        np.copyto(high, middle, where=searching & after)
        np.copyto(low, middle + 1, where=searching & ~after)
        searching = low < high
    return low
