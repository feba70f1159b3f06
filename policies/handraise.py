"""Hand-raise fast lane: any activity in ``activities`` makes the lead an MQL at once.

A hand-raise is a lead asking for sales contact. The lead becomes MQL at its first event, at or
after the view's ``since``, whose activity is in ``activities`` (by default
``["demo_request"]``, the model's only hand-raise). The model has no separate contact-sales
form: it is a ``form_fill``, and a form fill is a hand-raise only if ``form_fill`` is listed.
Beware that in the simulator every lead's first event is the form fill that created it, so
listing ``form_fill`` makes every lead an MQL on arrival; it suits recorded logs where a
contact-sales form is the only form logged.

Hand-raises have no strength to rank them by: the priority is ``nan`` (queued after every
scored lead when sales works by score; equal among themselves).
"""

from __future__ import annotations

import numpy as np

from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE
from mqlsim.policies.base import (
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.sections import HandRaisePolicyConfig


class HandRaisePolicy:
    """MQL at the lead's first hand-raise."""

    def __init__(self, config: HandRaisePolicyConfig) -> None:
        self.config = config
        self.codes = np.array([ACTIVITY_CODE[a] for a in config.activities], dtype=np.int8)

    def qualify(self, view: LeadView) -> Qualification:
        """First counted event per lead whose activity is a hand-raise."""
        events = view.events
        counted = events.time >= view.since[events.lead]
        hits = np.flatnonzero(counted & np.isin(events.activity, self.codes))
        return first_hits(view, hits, np.full(hits.size, np.nan))

    def explain(self, view: LeadView, lead: int) -> str:
        """``hand-raise: demo_request on day 12.3``."""
        single = view.subset(np.array([lead]))
        fired = int(self.qualify(single).event[0])
        if fired < 0:
            return "not MQL"
        events = single.events
        return f"hand-raise: {ACTIVITIES[events.activity[fired]]} on day {events.time[fired]:.1f}"
