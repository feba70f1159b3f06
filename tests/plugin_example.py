"""A minimal third-party policy and cadence (the example of docs/plugins.md, tested as is)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mqlsim.core.events import EventLog
from mqlsim.policies.base import LeadView, Qualification, first_hits


class BusyLeadPolicy:
    """MQL at a lead's ``events``-th activity of any kind (counting from its ``since``)."""

    class Config(BaseModel):
        """The ``params`` of ``[policy]``; unknown keys are errors, like every scenario key."""

        model_config = ConfigDict(extra="forbid", strict=True)
        events: int = Field(5, ge=1, description="Activities that make a lead MQL.")

    def __init__(self, config: Config) -> None:
        self.config = config

    def qualify(self, view: LeadView) -> Qualification:
        """Each lead's MQL at its ``events``-th counted event; no score, so priority nan."""
        events = view.events
        counted = events.time >= view.since[events.lead]
        running = np.cumsum(counted)
        before = np.concatenate(([0], running))[events.starts[:-1]]
        rank = running - np.repeat(before, np.diff(events.starts))
        hits = np.flatnonzero(counted & (rank == self.config.events))
        return first_hits(view, hits, np.full(hits.size, np.nan))

    def explain(self, view: LeadView, lead: int) -> str:
        """``busy lead: 5 activities by day 12.3``."""
        event = self.qualify(view).event[lead]
        if event < 0:
            return "not MQL"
        return f"busy lead: {self.config.events} activities by day {view.events.time[event]:.1f}"


class FortnightCadence:
    """A nurture touch every 14 days, at most ``touches`` per run (``params`` as a dict)."""

    def __init__(self, params: dict) -> None:
        self.touches = int(params.get("touches", 4))

    def touch_times(
        self, start: np.ndarray, horizon_days: float, organic: EventLog | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Touch ``k`` of lead ``i`` at ``start[i] + 14 k``, before the horizon (``organic``,
        the leads' own activity, could trigger touches; this cadence ignores it)."""
        times = start[:, None] + 14.0 * np.arange(1, self.touches + 1)[None, :]
        lead = np.broadcast_to(np.arange(start.size)[:, None], times.shape)
        sent = times < horizon_days
        return lead[sent], times[sent]

    def running(self, lead: np.ndarray, answered: np.ndarray) -> np.ndarray:
        """Which planned touches are sent given which were answered: all (no sunset)."""
        return np.ones(lead.size, dtype=bool)
