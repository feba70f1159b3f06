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
import itertools
import math
import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import simpy

from mqlsim.core.rng import Streams
from mqlsim.core.vocabulary import GRADES
from mqlsim.model.population import Population
from mqlsim.scenario.models import SalesConfig

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
        self._shift = (0.0, 0.0)  # the working hours last found open: [start, end) in days

    def _works_on(self, day: int) -> bool:
        return day % 7 < self.weekdays

    def until_open(self, now: float) -> float:
        """Days from ``now`` until reps are at work (0 when they are)."""
        if self.always:
            return 0.0
        shift_start, shift_end = self._shift
        if shift_start <= now < shift_end:
            return 0.0
        day = math.floor(now)
        if self._works_on(day):
            if now < day + self.start:
                return day + self.start - now
            if now < day + self.end:
                self._shift = (day + self.start, day + self.end)
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
    retries). Work: one per stretch of rep time (an attempt or a call). The sales floor logs
    each when it is scheduled, which can be ahead of its time: ``horizon`` is when the run
    ended (inf while it runs), and what was logged for that time or later never happened.
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
    horizon: float = math.inf

    @classmethod
    def empty(cls) -> SalesLog:
        """A log with no entries."""
        return cls([], [], [], [], [], [], [], [], [], [], [], [])


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
    """Queue entries first come, first served, by (time, entry), waiting or scheduled for
    later: a batch scheduled already in that order (a run's first MQLs) waits in a deque, the
    rest in a heap; a rep takes the first of the two heads once it is due."""

    def __init__(self) -> None:
        self._run: deque[tuple[float, int]] = deque()
        self._heap: list[tuple[float, int]] = []

    def schedule(self, time: float, entry: int, _key: float) -> None:
        heapq.heappush(self._heap, (time, entry))

    def schedule_many(self, times: list[float], entries: range, _keys: list[float]) -> None:
        items = list(zip(times, entries, strict=True))
        run = self._run
        # Entries ascend, so the items are in order if the times are.
        in_order = all(map(operator.le, times, itertools.islice(times, 1, None)))
        if items and in_order and (not run or run[-1] <= items[0]):
            run.extend(items)
        else:
            _push_all(self._heap, items)

    def _first(self) -> tuple[float, int] | None:
        run, heap = self._run, self._heap
        if run and (not heap or run[0] < heap[0]):
            return run[0]
        return heap[0] if heap else None

    def next_due(self, now: float) -> float:
        """When an entry is next waiting (``now`` if one is; inf: none scheduled)."""
        first = self._first()
        return math.inf if first is None else max(first[0], now)

    def take(self, now: float) -> int | None:
        """The first entry waiting at ``now`` (``None``: none)."""
        run, heap = self._run, self._heap
        if run and (not heap or run[0] < heap[0]):
            return run.popleft()[1] if run[0][0] <= now else None
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)[1]
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
        self._blocks: dict[int, np.ndarray] = {}  # sales draws by pass, at hand per attempt
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
        """The run ends at ``horizon``: what was logged ahead for then or later (retries due
        after the end, calls that would start after it) never happened."""
        self.log.horizon = horizon

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
            number = self._alarm

            def ring(_event: simpy.Event) -> None:
                self._ring(number)

            alarm.callbacks.append(ring)

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
        """A rep (a SimPy process): takes the first MQL waiting, makes a contact attempt and,
        if it reaches the lead, the qualification call right after it (one stretch of work,
        one SimPy event); idle, waits for the alarm."""
        env, log, config = self.env, self.log, self.config
        attempts = config.max_attempts
        exponential = config.work_time_distribution == "exponential"
        attempt_mean, call_mean = config.attempt_hours, config.call_hours
        reach_probability, reach_half_life = config.reach_probability, config.reach_half_life_hours
        work_episode, work_start, work_hours = log.work_episode, log.work_start, log.work_hours
        while True:
            episode = self._take()
            if episode is None:
                wake = env.event()
                self._idle.append(wake)
                self._arm()
                episode = yield wake
            now = env.now
            lead = log.episode_lead[episode]
            draws = self._draws(log.episode_pass[episode], lead)
            attempt = self._attempts[episode]
            if math.isnan(log.episode_first_touch[episode]):
                log.episode_first_touch[episode] = now
            delay_hours = (now - log.episode_mql_time[episode]) * HOURS_PER_DAY
            u = draws[attempts + attempt]
            attempt_hours = -attempt_mean * math.log1p(-u) if exponential else attempt_mean
            work_episode.append(episode)
            work_start.append(now)
            work_hours.append(attempt_hours)
            if draws[attempt] >= reach_probability * _halving(delay_hours, reach_half_life):
                yield env.timeout(attempt_hours / HOURS_PER_DAY)
                self._attempts[episode] = attempt + 1
                if attempt + 1 < attempts:
                    self._retry(episode)
                else:
                    self._end(episode, Outcome.UNREACHED)
                continue
            call_start = now + attempt_hours / HOURS_PER_DAY
            u = draws[2 * attempts]
            call_hours = -call_mean * math.log1p(-u) if exponential else call_mean
            work_episode.append(episode)
            work_start.append(call_start)
            work_hours.append(call_hours)
            yield env.timeout(call_start + call_hours / HOURS_PER_DAY - now)
            self._end(episode, self._call_outcome(lead, delay_hours))

    def _draws(self, pass_index: int, lead: int) -> list[float]:
        """``lead``'s sales draws in its pass ``pass_index``: ``max_attempts`` reach draws, as
        many attempt durations, a call duration (Python floats: cheaper to compute with than
        numpy scalars, and this runs per attempt)."""
        block = self._blocks.get(pass_index)
        if block is None:
            draws_per_lead = 2 * self.config.max_attempts + 1
            block = self.streams.sales_block(pass_index, self.population.size, draws_per_lead)
            self._blocks[pass_index] = block
        return block[lead].tolist()

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


def _halving(delay_hours: float, half_life_hours: float) -> float:
    """``2 ** (-delay / half_life)``: 1 with an infinite half-life."""
    return 2.0 ** (-delay_hours / half_life_hours)
