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

from typing import Literal

import numpy as np
from pydantic import Field

from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE, HAND_RAISES, Activity
from mqlsim.policies.base import (
    LeadView,
    PolicyConfigBase,
    Qualification,
    first_hits,
    register_policy,
)


class HandRaisePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "handraise"`: MQL at the first of `activities` (a hand-raise)."""

    kind: Literal["handraise"] = Field("handraise", description="Policy family.")
    activities: list[Activity] = Field(
        default_factory=lambda: list(HAND_RAISES),
        min_length=1,
        description=(
            "Activities that are hand-raises; form_fill makes every simulated lead an MQL "
            "(its arrival is a form fill)."
        ),
    )

    def untimed_parts(self) -> list[str]:
        """Nothing: a hand-raise qualifies whenever it happened."""
        return []


@register_policy("handraise", HandRaisePolicyConfig)
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
