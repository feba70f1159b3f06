"""Nurture cadences."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from policies.base import CadenceConfigBase, register_cadence
from sim.schema import NonNegative, Positive


class DripNurtureConfig(CadenceConfigBase):
    """`[nurture]` with `kind = "drip"`: a touch every N days, at most M touches."""

    kind: Literal["drip"] = Field("drip", description="Cadence family.")
    interval_days: Positive = Field(7.0, description="Days between touches.")
    max_touches: int = Field(8, ge=0, le=1000, description="Touches per nurture run.")
    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before nurture resumes."
    )


@register_cadence("drip", DripNurtureConfig)
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
