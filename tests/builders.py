"""Builders for hand-written test data."""

import numpy as np

from sim.events import EventLog
from sim.vocabulary import ACTIVITY_CODE


def event_log(events: list[tuple[int, float, str]], n_leads: int) -> EventLog:
    """An event log from ``(lead, time, activity name)`` triples (ties keep the order written)."""
    return EventLog.from_unsorted(
        np.array([e[0] for e in events], dtype=np.int64),
        np.array([e[1] for e in events], dtype=float),
        np.array([ACTIVITY_CODE[e[2]] for e in events], dtype=np.int8),
        n_leads,
    )
