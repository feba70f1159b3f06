"""Activity event logs as column arrays, grouped by lead and sorted by time within each lead."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EventLog:
    """Events of ``n_leads`` leads: ``lead``, ``time`` (days) and ``activity`` (vocabulary code).

    Sorted by lead, then time; ``starts[i]:starts[i + 1]`` is lead ``i``'s slice. Ties in time keep
    the order in which the events were assembled, so the order is deterministic.
    """

    lead: np.ndarray
    time: np.ndarray
    activity: np.ndarray
    starts: np.ndarray

    @property
    def n_leads(self) -> int:
        """Number of leads (including leads without events)."""
        return len(self.starts) - 1

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_unsorted(
        cls, lead: np.ndarray, time: np.ndarray, activity: np.ndarray, n_leads: int
    ) -> EventLog:
        """Sort events by (lead, time) with one stable sort and index the lead slices.

        The sort key is ``lead * span + time`` with ``span`` a power of two above every time, so
        ``lead * span`` is exact and rounding (which is monotonic) never reverses two times of a
        lead. Times closer than the key's resolution (about 1e-7 days at a million leads) tie,
        and ties keep their input order — which is also how simultaneous events (an open and
        its click) keep their intended order. It is twice as fast as ``np.lexsort``.
        """
        span = 2.0 ** np.ceil(np.log2(max(float(time.max(initial=0.0)), 1.0) + 1.0))
        order = np.argsort(lead * span + time, kind="stable")
        lead = lead[order].astype(np.int64, copy=False)
        starts = np.searchsorted(lead, np.arange(n_leads + 1), side="left")
        return cls(
            lead=lead,
            time=time[order].astype(np.float64, copy=False),
            activity=activity[order].astype(np.int8, copy=False),
            starts=starts,
        )

    def select(self, mask: np.ndarray) -> EventLog:
        """The events where ``mask`` is true, for the same leads."""
        lead = self.lead[mask]
        starts = np.searchsorted(lead, np.arange(self.n_leads + 1), side="left")
        return EventLog(
            lead=lead, time=self.time[mask], activity=self.activity[mask], starts=starts
        )

    def take_leads(self, leads: np.ndarray) -> EventLog:
        """The events of ``leads`` (in that order), renumbered 0..len(leads)-1."""
        counts = self.starts[leads + 1] - self.starts[leads]
        local_starts = np.concatenate(([0], np.cumsum(counts)))
        index = np.repeat(self.starts[leads] - local_starts[:-1], counts) + np.arange(
            local_starts[-1]
        )
        return EventLog(
            lead=np.repeat(np.arange(len(leads)), counts),
            time=self.time[index],
            activity=self.activity[index],
            starts=local_starts,
        )

    @staticmethod
    def concatenate(logs: list[EventLog]) -> EventLog:
        """Merge logs of the same leads, re-sorting by (lead, time); earlier logs win ties."""
        n_leads = logs[0].n_leads
        return EventLog.from_unsorted(
            np.concatenate([log.lead for log in logs]),
            np.concatenate([log.time for log in logs]),
            np.concatenate([log.activity for log in logs]),
            n_leads,
        )
