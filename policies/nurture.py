"""Nurture cadences."""

from __future__ import annotations

import numpy as np

from policies.base import register_cadence
from sim.scenario import DripNurtureConfig


@register_cadence("drip")
class DripCadence:
    """A touch every ``interval_days`` after the run starts, at most ``max_touches`` touches.

    A run starts at the lead's arrival, and again ``recycle_cooldown_days`` after sales recycles
    it. The engine stops a run when the lead becomes MQL or unsubscribes.
    """

    def __init__(self, config: DripNurtureConfig) -> None:
        self.config = config

    def touch_times(self, start: np.ndarray, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """Touch ``k`` (1..max_touches) of lead ``i`` at ``start[i] + k * interval_days``."""
        steps = np.arange(1, self.config.max_touches + 1) * self.config.interval_days
        times = start[:, None] + steps[None, :]
        lead = np.broadcast_to(np.arange(start.size)[:, None], times.shape)
        sent = times < horizon_days
        return lead[sent], times[sent]
