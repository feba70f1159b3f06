"""Activity event logs as column arrays, grouped by lead and sorted by time within each lead."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Input with fewer descents than this is left to the stable sort (see :func:`_stable_argsort`).
_FEW_RUNS = 8


@dataclass(frozen=True)
class EventLog:
    """Events of ``n_leads`` leads: ``lead``, ``time`` (days) and ``activity`` (vocabulary code).

    Sorted by lead, then time; ``starts[i]:starts[i + 1]`` is lead ``i``'s slice. Ties in time keep
    the order in which the events were assembled, so the order is deterministic.

    ``value`` is each event's amount where the log recorded one (a recorded log's ``value``
    column, e.g. seconds on a page; ``nan``: none), or ``None`` when no event has one: the
    simulator's events never do.
    """

    lead: np.ndarray
    time: np.ndarray
    activity: np.ndarray
    starts: np.ndarray
    value: np.ndarray | None = None

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
        """Sort events by (lead, time) and index the lead slices.

        The sort key is ``lead * span + (time - low)``, with ``low`` the earliest time (or 0, if
        no time is negative: the history of leads that existed before a run starts is) and
        ``span`` a power of two above every ``time - low``, so ``lead * span`` is exact and
        rounding (which is monotonic) never reverses two times of a lead. Times closer than the
        key's resolution (about 1e-7 days at a million leads) tie, and ties keep their input
        order (the order is that of a stable sort, see :func:`_stable_argsort`) — which is
        also how simultaneous events (an open and its click) keep their intended order. It is
        faster than ``np.lexsort``.
        """
        low, span = _key_span(time)
        key = _sort_key(lead, time, low, span)
        order = _stable_argsort(key)
        del key
        # Sorted by lead first, so the lead column is each lead repeated by its count: no
        # gather. Lead numbers fit in int32 (fewer than 2**31 leads), half the size of int64.
        counts = np.bincount(lead, minlength=n_leads)
        sorted_lead = np.repeat(np.arange(n_leads, dtype=np.int32), counts)
        starts = np.concatenate(([0], np.cumsum(counts)))
        sorted_time = time.take(order).astype(np.float64, copy=False)
        sorted_activity = activity.take(order).astype(np.int8, copy=False)
        return cls(lead=sorted_lead, time=sorted_time, activity=sorted_activity, starts=starts)

    def select(self, mask: np.ndarray) -> EventLog:
        """The events where ``mask`` is true, for the same leads."""
        where = positions(mask)
        return EventLog(
            lead=self.lead.take(where),
            time=self.time.take(where),
            activity=self.activity.take(where),
            starts=np.searchsorted(where, self.starts),  # events kept before each lead's start
            value=None if self.value is None else self.value.take(where),
        )

    def take_leads(self, leads: np.ndarray) -> EventLog:
        """The events of ``leads`` (in that order), renumbered 0..len(leads)-1."""
        counts = self.starts[leads + 1] - self.starts[leads]
        local_starts = np.concatenate(([0], np.cumsum(counts)))
        index = spans(self.starts[leads], counts)
        return EventLog(
            lead=np.repeat(np.arange(len(leads), dtype=np.int32), counts),
            time=self.time.take(index),
            activity=self.activity.take(index),
            starts=local_starts,
            value=None if self.value is None else self.value.take(index),
        )

    @staticmethod
    def concatenate(logs: list[EventLog]) -> EventLog:
        """Merge logs of the same leads, re-sorting by (lead, time); earlier logs win ties.

        Only the simulator merges logs, and its events carry no ``value``: a log with values is
        refused rather than merged without them.
        """
        if any(log.value is not None for log in logs):
            raise ValueError("EventLog.concatenate merges logs without values only")
        n_leads = logs[0].n_leads
        if len(logs) == 2:
            merged = _merge_sorted(logs[0], logs[1])
            if merged is not None:
                return merged
        return EventLog.from_unsorted(
            np.concatenate([log.lead for log in logs]),
            np.concatenate([log.time for log in logs]),
            np.concatenate([log.activity for log in logs]),
            n_leads,
        )


def _merge_sorted(first: EventLog, second: EventLog) -> EventLog | None:
    """What :meth:`EventLog.concatenate` gives for two logs, without re-sorting: ``None``
    when it cannot tell cheaply that the result is the same.

    The stable sort of the two logs put end to end by the key of
    :meth:`EventLog.from_unsorted` (with the span of both together) leaves each log's events
    in their order when that order is already non-decreasing in the key (checked), and puts
    every event of ``second`` after the events of ``first`` whose key is at most its own.
    So the merge places them by binary search, and needs neither the end-to-end copy nor
    the sort order of all the events.
    """
    if len(first) == 0 or len(second) == 0:
        return None
    ends = [first.time.min(), second.time.min(), first.time.max(), second.time.max()]
    low, span = _key_span(np.array(ends))
    first_key = _sort_key(first.lead, first.time, low, span)
    second_key = _sort_key(second.lead, second.time, low, span)
    if not (_non_decreasing(first_key) and _non_decreasing(second_key)):
        return None
    at = np.searchsorted(first_key, second_key, side="right")
    del first_key, second_key
    at += np.arange(len(second))  # where the events of ``second`` go in the merged log
    size = len(first) + len(second)
    from_first = np.ones(size, dtype=bool)
    from_first[at] = False
    time = np.empty(size, dtype=np.float64)
    time[from_first] = first.time
    time[at] = second.time
    activity = np.empty(size, dtype=np.int8)
    activity[from_first] = first.activity
    activity[at] = second.activity
    counts = np.diff(first.starts) + np.diff(second.starts)
    return EventLog(
        lead=np.repeat(np.arange(first.n_leads, dtype=np.int32), counts),
        time=time,
        activity=activity,
        starts=np.concatenate(([0], np.cumsum(counts))),
    )


def _key_span(time: np.ndarray) -> tuple[float, float]:
    """``(low, span)`` of the sort key of events at ``time`` (:meth:`EventLog.from_unsorted`)."""
    low = min(float(time.min(initial=0.0)), 0.0)
    top = float(time.max(initial=0.0)) - low
    return low, 2.0 ** np.ceil(np.log2(max(top, 1.0) + 1.0))


def _sort_key(lead: np.ndarray, time: np.ndarray, low: float, span: float) -> np.ndarray:
    """``lead * span + (time - low)``: one number per event, ordered by lead, then time."""
    key = lead * span
    key += time
    if low:
        key -= low
    return key


def positions(mask: np.ndarray) -> np.ndarray:
    """Where the boolean ``mask`` is true: ``take`` with positions is faster than boolean
    indexing. Anything but a boolean mask is refused, as positions passed by mistake would
    silently select other rows (to pick positions, ``take`` them)."""
    if mask.dtype != np.bool_:
        raise TypeError(f"a boolean mask is needed, not {mask.dtype} values")
    return np.flatnonzero(mask)


def spans(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``first[i], ..., first[i] + counts[i] - 1`` of every ``i``, in order."""
    offsets = np.cumsum(counts) - counts
    return np.repeat(first - offsets, counts) + np.arange(int(np.sum(counts)))


def run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal ``values`` starts (positions, ascending): each lead's first
    event in a column of leads grouped by lead, say."""
    starts = np.ones(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    return np.flatnonzero(starts)


def _stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")``.

    The stable sort (timsort) is fast on input made of a few sorted runs, such as the answers
    to touches (opens, clicks, ... each sorted), and slow on the rest. There the unstable sort
    is used: several times faster on floats, its order differs only within runs of equal
    keys, where the input positions are then put back in ascending order (one sort of those
    positions, by run then position).
    """
    if np.count_nonzero(key[1:] < key[:-1]) < _FEW_RUNS:
        return np.argsort(key, kind="stable")
    order = np.argsort(key)
    sorted_key = key.take(order)
    tied = sorted_key[1:] == sorted_key[:-1]  # position i + 1 has the key of position i
    del sorted_key
    if not tied.any():
        return order
    continues = np.concatenate(([False], tied))
    members = np.flatnonzero(continues | np.concatenate((tied, [False])))
    run = np.cumsum(~continues[members])
    # Runs number at most len(key) and positions are below it: run * len(key) + position fits.
    composite = run * len(key) + order[members]
    composite.sort()
    order[members] = composite % len(key)
    return order


def _non_decreasing(values: np.ndarray) -> bool:
    """Whether ``values`` never decreases."""
    return bool(np.all(values[1:] >= values[:-1]))
