"""The sales team: a queue of MQLs worked by a finite team of reps (SimPy).

An MQL joins a heap-ordered queue (FIFO, or by score, or by fit grade). A free rep inside working
hours takes the first one and makes a contact attempt. An attempt reaches the lead with a chance
that halves every ``reach_half_life_hours`` since the MQL; a lead not reached goes back to the
queue after ``retry_gap_hours`` until ``max_attempts`` are spent. A reached lead gets a
qualification call: sales accepts it (SAL) on its fit grade; it is an SQL when the lead is a
real buyer (budget and authority) inside its buying window and still qualifies after the delay;
an SQL becomes an opportunity, won or lost. Leads that end without an SQL are recycled.

Time is in days; the hours in the configuration are converted at the boundary.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import simpy

from sim.population import Population
from sim.rng import Streams
from sim.scenario import SalesConfig
from sim.vocabulary import GRADES

HOURS_PER_DAY = 24.0


class Outcome(IntEnum):
    """How one MQL episode ended (``OPEN``: still in sales at the horizon)."""

    OPEN = 0
    UNREACHED = 1
    REJECTED = 2
    NOT_SQL = 3
    SQL_NO_OPPORTUNITY = 4
    LOST = 5
    WON = 6


RECYCLED_OUTCOMES = (Outcome.UNREACHED, Outcome.REJECTED, Outcome.NOT_SQL)
SQL_OUTCOMES = (Outcome.SQL_NO_OPPORTUNITY, Outcome.LOST, Outcome.WON)
_RECYCLED = frozenset(RECYCLED_OUTCOMES)


class WorkingCalendar:
    """Reps' working hours: ``working_weekdays`` days a week from Monday, or always."""

    def __init__(self, config: SalesConfig) -> None:
        self.always = config.always_working
        self.start = config.work_start_hour / HOURS_PER_DAY
        self.end = config.work_end_hour / HOURS_PER_DAY
        self.weekdays = config.working_weekdays

    def _works_on(self, day: int) -> bool:
        return day % 7 < self.weekdays

    def until_open(self, now: float) -> float:
        """Days from ``now`` until reps are at work (0 when they are)."""
        if self.always:
            return 0.0
        day = math.floor(now)
        if self._works_on(day):
            if now < day + self.start:
                return day + self.start - now
            if now < day + self.end:
                return 0.0
        day += 1
        while not self._works_on(day):
            day += 1
        return day + self.start - now

    def until_close(self, now: float) -> float:
        """Days from ``now`` (inside working hours) until the working day ends."""
        return math.floor(now) + self.end - now

    def working_hours(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Working hours of one rep inside each interval ``[start[i], end[i])`` (days)."""
        start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
        if self.always:
            return np.clip(end - start, 0.0, None) * HOURS_PER_DAY
        first_day = np.floor(start)
        total = np.zeros(start.shape)
        for offset in range(int(np.max(np.ceil(end) - first_day, initial=0))):
            day = first_day + offset
            inside = np.minimum(end, day + self.end) - np.maximum(start, day + self.start)
            total += np.where(day % 7 < self.weekdays, np.clip(inside, 0.0, None), 0.0)
        return total * HOURS_PER_DAY


@dataclass
class SalesLog:
    """What happened in sales, as growing columns (converted to arrays by the engine).

    Episodes: one per MQL event. Queue entries: one per wait in the queue (first touches and
    retries). Work: one per stretch of rep time (an attempt or a call).
    """

    episode_lead: list[int]
    episode_pass: list[int]
    episode_mql_time: list[float]
    episode_first_touch: list[float]
    episode_end: list[float]
    episode_outcome: list[int]
    queue_episode: list[int]
    queue_enter: list[float]
    queue_leave: list[float]
    work_episode: list[int]
    work_start: list[float]
    work_hours: list[float]

    @classmethod
    def empty(cls) -> SalesLog:
        """A log with no entries."""
        return cls(*([] for _ in range(12)))


def _push_all(heap: list, items: list) -> None:
    """Push ``items`` onto ``heap``: one by one, or all at once and re-heapify when they are
    more than the heap holds (the first MQLs of a run, pushed together)."""
    if len(items) > len(heap):
        heap.extend(items)
        heapq.heapify(heap)
    else:
        for item in items:
            heapq.heappush(heap, item)


class _FifoQueue:
    """Queue entries first come, first served: a heap of (time, entry) holding both the
    entries waiting and those scheduled for later; a rep takes the first one due."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, int]] = []

    def schedule(self, time: float, entry: int, _key: float) -> None:
        heapq.heappush(self._entries, (time, entry))

    def schedule_many(self, times: list[float], entries: range, _keys: list[float]) -> None:
        _push_all(self._entries, list(zip(times, entries, strict=True)))

    def next_due(self, now: float) -> float:
        """When an entry is next waiting (``now`` if one is; inf: none scheduled)."""
        return max(self._entries[0][0], now) if self._entries else math.inf

    def take(self, now: float) -> int | None:
        """The first entry waiting at ``now`` (``None``: none)."""
        entries = self._entries
        if entries and entries[0][0] <= now:
            return heapq.heappop(entries)[1]
        return None


class _PriorityQueue:
    """Queue entries by key (lower first), then first come, first served: a heap of those
    waiting, fed in time order from a heap of those scheduled."""

    def __init__(self) -> None:
        self._scheduled: list[tuple[float, int, float]] = []  # (time, entry, key)
        self._waiting: list[tuple[float, float, int]] = []  # (key, time, entry)

    def schedule(self, time: float, entry: int, key: float) -> None:
        heapq.heappush(self._scheduled, (time, entry, key))

    def schedule_many(self, times: list[float], entries: range, keys: list[float]) -> None:
        _push_all(self._scheduled, list(zip(times, entries, keys, strict=True)))

    def next_due(self, now: float) -> float:
        """When an entry is next waiting (``now`` if one is; inf: none scheduled)."""
        if self._waiting:
            return now
        return max(self._scheduled[0][0], now) if self._scheduled else math.inf

    def take(self, now: float) -> int | None:
        """The first entry waiting at ``now`` by key (``None``: none)."""
        scheduled, waiting = self._scheduled, self._waiting
        while scheduled and scheduled[0][0] <= now:
            time, entry, key = heapq.heappop(scheduled)
            heapq.heappush(waiting, (key, time, entry))
        return heapq.heappop(waiting)[2] if waiting else None


class SalesFloor:
    """The MQL queue and the reps who work it.

    Only reps' work takes SimPy events. An MQL or a retry is *scheduled* when it is known
    (``schedule_mqls``): its episode and its queue entry are logged with their own time, and
    the entry joins the queue at that time. Only a rep looking at the queue can tell when an
    entry joined, and a rep takes only entries due by then, so scheduling ahead changes
    nothing; an entry due at the same instant as a rep becomes free is waiting when it
    chooses. Idle reps are woken by an alarm at the next time an entry is waiting while they
    are at work.
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: SalesConfig,
        population: Population,
        streams: Streams,
        recycle: Callable[[int, int], None],
    ) -> None:
        self.env = env
        self.config = config
        self.population = population
        self.streams = streams
        self.recycle = recycle
        self.calendar = WorkingCalendar(config)
        self.log = SalesLog.empty()
        self._attempts: list[int] = []
        self._accept = np.array([config.sal_acceptance_probability.get(g, 0.0) for g in GRADES])
        self._win = np.array([config.win_probability.get(g, 0.0) for g in GRADES])
        self._queue = _FifoQueue() if config.queue_discipline == "fifo" else _PriorityQueue()
        self._key: list[float] = []  # each episode's key in the queue (lower first)
        self._idle: deque[simpy.Event] = deque()  # reps waiting for work, longest idle first
        self._alarm_at = math.inf
        self._alarm = 0  # number of the current alarm: an older one that fires does nothing
        self._retry_gap_days = config.retry_gap_hours / HOURS_PER_DAY
        self._exponential = config.work_time_distribution == "exponential"
        self._leads = population.size
        for _ in range(config.reps):
            env.process(self._rep())

    def schedule_mqls(
        self, times: list[float], leads: list[int], passes: list[int], priorities: list[float]
    ) -> None:
        """Each ``leads[i]`` becomes MQL at ``times[i]`` (now or later), in its nurture pass
        ``passes[i]``, and queues then. MQLs due at the same time queue in the order given."""
        log, count = self.log, len(times)
        first_episode, first_entry = len(log.episode_lead), len(log.queue_episode)
        log.episode_lead.extend(leads)
        log.episode_pass.extend(passes)
        log.episode_mql_time.extend(times)
        log.episode_first_touch.extend([math.nan] * count)
        log.episode_end.extend([math.nan] * count)
        log.episode_outcome.extend([Outcome.OPEN] * count)
        self._attempts.extend([0] * count)
        keys = self._keys(leads, priorities)
        self._key.extend(keys)
        log.queue_episode.extend(range(first_episode, first_episode + count))
        log.queue_enter.extend(times)
        log.queue_leave.extend([math.nan] * count)
        self._queue.schedule_many(times, range(first_entry, first_entry + count), keys)
        if self._idle:
            self._arm()

    def _keys(self, leads: list[int], priorities: list[float]) -> list[float]:
        """Queue keys of MQLs of ``leads`` with score ``priorities`` (lower first)."""
        discipline = self.config.queue_discipline
        if discipline == "score":  # highest score first; no score: after all scored
            return [math.inf if math.isnan(p) else -p for p in priorities]
        if discipline == "grade":
            return self.population.grade[leads].astype(float).tolist()
        return [0.0] * len(leads)

    def _retry(self, episode: int) -> None:
        """Queue ``episode`` again after the retry gap."""
        time = self.env.now + self._retry_gap_days
        log = self.log
        entry = len(log.queue_episode)
        log.queue_episode.append(episode)
        log.queue_enter.append(time)
        log.queue_leave.append(math.nan)
        self._queue.schedule(time, entry, self._key[episode])
        if self._idle:
            self._arm()

    def close(self, horizon: float) -> None:
        """The run ends at ``horizon``: forget what was logged ahead for later (retries due
        after the end, calls that would start after it), as if it had never been made."""
        log = self.log
        log.queue_enter, log.queue_episode, log.queue_leave = _before(
            horizon, log.queue_enter, log.queue_episode, log.queue_leave
        )
        log.work_start, log.work_episode, log.work_hours = _before(
            horizon, log.work_start, log.work_episode, log.work_hours
        )

    def _take(self) -> int | None:
        """The episode a rep free now takes: the first waiting in the queue (``None``:
        nothing, or outside working hours)."""
        now = self.env.now
        if self.calendar.until_open(now) > 0:
            return None
        entry = self._queue.take(now)
        if entry is None:
            return None
        self.log.queue_leave[entry] = now
        return self.log.queue_episode[entry]

    def _arm(self) -> None:
        """Set the alarm for the first time an idle rep could take something: when reps are at
        work and an entry is waiting."""
        now = self.env.now
        due = self._queue.next_due(now)
        if math.isinf(due):
            return
        due += self.calendar.until_open(due)
        if due < self._alarm_at:
            self._alarm_at = due
            self._alarm += 1
            alarm = self.env.timeout(due - now)
            alarm.callbacks.append(lambda _event, number=self._alarm: self._ring(number))

    def _ring(self, number: int) -> None:
        """The alarm: hand work to idle reps, longest idle first, then set the next alarm."""
        if number != self._alarm:
            return  # superseded by an earlier alarm
        self._alarm_at = math.inf
        while self._idle:
            episode = self._take()
            if episode is None:
                break
            self._idle.popleft().succeed(episode)
        if self._idle:
            self._arm()

    def _rep(self):
        while True:
            episode = self._take()
            if episode is None:
                wake = self.env.event()
                self._idle.append(wake)
                self._arm()
                episode = yield wake
            yield from self._work(episode)

    def _duration_hours(self, mean_hours: float, uniform: float) -> float:
        if self._exponential:
            return -mean_hours * math.log1p(-uniform)
        return mean_hours

    def _work(self, episode: int):
        """One contact attempt on ``episode`` and, if it reaches the lead, the qualification
        call right after it: the rep is busy for both, so they take one SimPy event."""
        config, log, env = self.config, self.log, self.env
        now = env.now
        lead = log.episode_lead[episode]
        attempts = config.max_attempts
        # Python floats: cheaper to compute with than numpy scalars (this runs per attempt).
        draws = self.streams.sales_block(log.episode_pass[episode], self._leads, 2 * attempts + 1)
        draws = draws[lead].tolist()
        attempt = self._attempts[episode]
        if math.isnan(log.episode_first_touch[episode]):
            log.episode_first_touch[episode] = now
        delay_hours = (now - log.episode_mql_time[episode]) * HOURS_PER_DAY
        attempt_hours = self._duration_hours(config.attempt_hours, draws[attempts + attempt])
        work_episode, work_start, work_hours = log.work_episode, log.work_start, log.work_hours
        work_episode.append(episode)
        work_start.append(now)
        work_hours.append(attempt_hours)
        reach = config.reach_probability * _halving(delay_hours, config.reach_half_life_hours)
        if draws[attempt] >= reach:
            yield env.timeout(attempt_hours / HOURS_PER_DAY)
            self._attempts[episode] = attempt + 1
            if attempt + 1 < attempts:
                self._retry(episode)
            else:
                self._end(episode, Outcome.UNREACHED)
            return
        call_start = now + attempt_hours / HOURS_PER_DAY
        call_hours = self._duration_hours(config.call_hours, draws[2 * attempts])
        work_episode.append(episode)
        work_start.append(call_start)
        work_hours.append(call_hours)
        yield env.timeout(call_start + call_hours / HOURS_PER_DAY - now)
        self._end(episode, self._call_outcome(lead, delay_hours))

    def _call_outcome(self, lead: int, delay_hours: float) -> Outcome:
        pop, config, now = self.population, self.config, self.env.now
        grade = pop.grade[lead]
        if pop.u_accept[lead] >= self._accept[grade]:
            return Outcome.REJECTED
        in_window = pop.window_start[lead] <= now < pop.window_end[lead]
        qualifies = pop.u_qualify[lead] < _halving(delay_hours, config.qualify_half_life_hours)
        if not (pop.budget[lead] and pop.authority[lead] and in_window and qualifies):
            return Outcome.NOT_SQL
        if pop.u_opportunity[lead] >= config.opportunity_probability:
            return Outcome.SQL_NO_OPPORTUNITY
        return Outcome.WON if pop.u_win[lead] < self._win[grade] else Outcome.LOST

    def _end(self, episode: int, outcome: Outcome) -> None:
        log = self.log
        log.episode_end[episode] = self.env.now
        log.episode_outcome[episode] = outcome
        if outcome in _RECYCLED:
            self.recycle(log.episode_lead[episode], log.episode_pass[episode])


def _before(horizon: float, times: list[float], *columns: list) -> tuple[list, ...]:
    """``times`` and ``columns`` (its companions) where ``times`` is before ``horizon``."""
    if max(times, default=-math.inf) < horizon:
        return (times, *columns)
    kept = [index for index, time in enumerate(times) if time < horizon]
    return tuple([column[index] for index in kept] for column in (times, *columns))


def _halving(delay_hours: float, half_life_hours: float) -> float:
    """``2 ** (-delay / half_life)``: 1 with an infinite half-life."""
    return 2.0 ** (-delay_hours / half_life_hours)
