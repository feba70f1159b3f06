"""Content engagement: ``distinct_assets`` different assets within ``window_days`` make an MQL.

The assets are the activities listed in ``assets`` (by default the bottom-of-funnel downloads:
comparison guide, ROI calculator, implementation guide). An asset event counts when it happens
at or after the view's ``since``. At a counted asset event at time ``t``, an asset is *engaged*
when its most recent counted event up to this one (in log order) happened at ``t0`` with
``t - t0 < window_days``, that is inside the half-open window ``(t - window_days, t]``. The
rule holds when at least ``distinct_assets`` assets are engaged, and the lead becomes MQL at the
first asset event where it holds.

Repeats do not count: the same guide downloaded three times is one asset. With the defaults
(3 assets, 14 days), downloads of the comparison guide on day 0, the ROI calculator on day 5 and
the implementation guide on day 13 fire on day 13; had the last come on day 14, the comparison
guide would have left the window (0, 14] and nothing fires. ``window_days = inf`` counts assets
without a time limit. The priority is the number of engaged assets (``distinct_assets`` when the
rule first holds).
"""

from __future__ import annotations

import numpy as np

from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE
from mqlsim.policies.base import (
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.sections import ContentPolicyConfig


class ContentPolicy:
    """MQL at the first asset event with ``distinct_assets`` different assets in the window."""

    def __init__(self, config: ContentPolicyConfig) -> None:
        self.config = config
        self.codes = np.array([ACTIVITY_CODE[a] for a in config.assets], dtype=np.int8)

    def latest(self, view: LeadView) -> tuple[np.ndarray, np.ndarray]:
        """Counted asset events and, per asset, each one's latest engaged event (-1: none).

        Returns ``(found, engaged)``: ``found`` are event indices (ascending); ``engaged[a, k]``
        is the index into ``found`` of asset ``a``'s latest event up to ``found[k]`` if it is in
        the window, else -1. One forward fill per asset, no loop over events.
        """
        events = view.events
        counted = events.time >= view.since[events.lead]
        found = np.flatnonzero(counted & np.isin(events.activity, self.codes))
        lead, time, activity = events.lead[found], events.time[found], events.activity[found]
        position = np.arange(found.size)
        engaged = np.empty((self.codes.size, found.size), dtype=np.int64)
        for row, code in enumerate(self.codes):
            last = np.maximum.accumulate(np.where(activity == code, position, -1))
            seen = np.maximum(last, 0)
            inside = (
                (last >= 0) & (lead[seen] == lead) & (time - time[seen] < self.config.window_days)
            )
            engaged[row] = np.where(inside, last, -1)
        return found, engaged

    def qualify(self, view: LeadView) -> Qualification:
        """First asset event per lead where enough different assets are engaged."""
        found, engaged = self.latest(view)
        distinct = (engaged >= 0).sum(axis=0)
        holds = distinct >= self.config.distinct_assets
        return first_hits(view, found[holds], distinct[holds].astype(float))

    def explain(self, view: LeadView, lead: int) -> str:
        """``content: 3 distinct assets within 14 days: comparison_guide (day 0.0), ...``."""
        single = view.subset(np.array([lead]))
        fired = int(self.qualify(single).event[0])
        if fired < 0:
            return "not MQL"
        found, engaged = self.latest(single)
        column = engaged[:, int(np.searchsorted(found, fired))]
        index = found[np.sort(column[column >= 0])]
        events = single.events
        parts = [
            f"{ACTIVITIES[code]} (day {events.time[i]:.1f})"
            for i, code in zip(index, events.activity[index], strict=True)
        ]
        config = self.config
        return (
            f"content: {config.distinct_assets} distinct assets within {config.window_days:g} "
            f"days: " + ", ".join(parts)
        )
