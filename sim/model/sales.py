"""The sales team: MQLs routed to lanes and worked by a finite team of reps (SimPy).

Every MQL goes to a lane (hand-raise, PQL, score) by the activity that made it MQL. A free rep
inside working hours (a rep dedicated to a lane: of that lane only) takes the next MQL: with
``sla_aware``, first the first touches that can still meet their SLA, by lane priority then
deadline; then the lane of lowest priority number (lanes of equal priority first come, first
served between them), in the lane's own order. Untouched MQLs older than the lane's age limit
leave the queue back to nurture (aged out).

Each attempt reaches the lead with a chance whose odds fall with the delay since the MQL (the
contact curve) and with the attempt number; a lead not reached returns to the queue after the
next gap of the cadence until ``max_attempts`` are spent. A reached lead gets the SDR's call:
sales accepts it (SAL) on its fit grade and on what the call shows (buying window now, budget,
authority). An accepted lead has a discovery meeting some days later, where it is an SQL if it
is a real buyer inside its window at the call and its qualification draw is below a chance
whose odds fall with its speed to lead, the delay of the first attempt (the qualification
curve). An SQL may open an opportunity, which closes after a sales cycle, won or lost. Leads
that end without an SQL are recycled.

docs/model.md ("Sales") states each rule and where its default numbers come from. Time is in
days; the hours in the configuration are converted at the boundary.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from statistics import NormalDist

import numpy as np
import simpy

from mqlsim.core.rng import Streams
from mqlsim.core.vocabulary import ACTIVITIES, COMPANY_SIZES, GRADES, LANES
from mqlsim.model.population import Population
from mqlsim.scenario.models import SalesConfig

HOURS_PER_DAY = 24.0
#: A sales draw this close to 0 or 1 is moved inside (a normal quantile of 0 or 1 is infinite).
_EDGE = 1e-9
#: The standard normal of the sales cycle's log-normal draw (made once, not per opportunity).
_STANDARD_NORMAL = NormalDist()


class Outcome(IntEnum):
    """How one MQL episode ended, as seen at the end of the run, in funnel order.

    ``OPEN``: still in sales at the horizon (waiting, being worked, or its discovery meeting
    not held yet); ``OPPORTUNITY_OPEN``: an opportunity whose sales cycle had not closed.
    """

    OPEN = 0
    AGED_OUT = 1
    UNREACHED = 2
    REJECTED = 3
    NOT_SQL = 4
    SQL_NO_OPPORTUNITY = 5
    OPPORTUNITY_OPEN = 6
    LOST = 7
    WON = 8


RECYCLED_OUTCOMES = (Outcome.AGED_OUT, Outcome.UNREACHED, Outcome.REJECTED, Outcome.NOT_SQL)
SQL_OUTCOMES = (Outcome.SQL_NO_OPPORTUNITY, Outcome.OPPORTUNITY_OPEN, Outcome.LOST, Outcome.WON)
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


class ResponseCurve:
    """An odds multiplier by hours since the MQL, from ``[hours, multiplier]`` points.

    Between two points the multiplier changes geometrically (its logarithm is linear in the
    hours); after the last point it stays at the last value. Values are relative to the first
    point (at 0 hours), and raised to ``strength``: 1 keeps the curve, 0 flattens it to 1.
    """

    def __init__(self, points: Sequence[Sequence[float]], strength: float = 1.0) -> None:
        self.hours = [float(point[0]) for point in points]
        first = math.log(points[0][1])
        self.logs = [strength * (math.log(point[1]) - first) for point in points]
        self.slopes = [
            (self.logs[i + 1] - self.logs[i]) / (self.hours[i + 1] - self.hours[i])
            for i in range(len(points) - 1)
        ]
        self.flat = not any(self.logs)  # 1 at every delay (strength 0, or no change)

    def __call__(self, hours: float) -> float:
        """The multiplier ``hours`` after the MQL."""
        if self.flat:
            return 1.0
        i = bisect_right(self.hours, hours) - 1
        if i >= len(self.slopes):
            return math.exp(self.logs[-1])
        return math.exp(self.logs[i] + self.slopes[i] * (hours - self.hours[i]))


def with_odds(probability: float, multiplier: float) -> float:
    """The chance whose odds are ``multiplier`` times the odds of ``probability``."""
    if probability >= 1.0:
        return 1.0
    odds = probability / (1.0 - probability) * multiplier
    return odds / (1.0 + odds)


@dataclass(frozen=True)
class Response:
    """What the response curves give one MQL whose first attempt is made at a given delay,
    every later attempt on time (no queue, no working hours): the chance the first attempt
    reaches the lead, the chance some attempt of the cadence does, and the chance that a lead
    sales accepts whenever reached, a buyer inside its window, becomes an SQL."""

    first_contact: float
    contact: float
    qualify: float


def response(config: SalesConfig, first_attempt_hours: float) -> Response:
    """The :class:`Response` of ``config`` to an MQL first attempted ``first_attempt_hours``
    after it, exactly as the sales floor draws it: attempt ``k`` (from 0) reaches the lead with
    the odds of ``reach_probability`` times ``reach_attempt_factor ** k`` times the contact
    curve at its delay; attempt ``k + 1`` is made ``attempt_hours`` plus the ``k``-th retry gap
    after attempt ``k``; a reached lead qualifies with the odds of ``qualify_probability``
    times the qualification curve at the first attempt's delay."""
    contact = ResponseCurve(config.contact_curve, config.response_strength)
    qualify = ResponseCurve(config.qualify_curve, config.response_strength)
    gaps = config.retry_gaps_hours
    hours, unreached, first_contact = first_attempt_hours, 1.0, math.nan
    for attempt in range(config.max_attempts):
        odds = config.reach_attempt_factor**attempt * contact(hours)
        reach = with_odds(config.reach_probability, odds)
        if attempt == 0:
            first_contact = reach
        unreached *= 1.0 - reach
        hours += config.attempt_hours + gaps[min(attempt, len(gaps) - 1)]
    qualifies = with_odds(config.qualify_probability, qualify(first_attempt_hours))
    return Response(
        first_contact=first_contact, contact=1.0 - unreached, qualify=(1.0 - unreached) * qualifies
    )


def deal_values(population: Population, config: SalesConfig) -> np.ndarray:
    """Each lead's deal value: its persona's draw times the multiplier of its company size
    (an unknown size counts as 1)."""
    multiplier = np.array([config.deal_value_multiplier.get(size, 1.0) for size in COMPANY_SIZES])
    size = population.fit["company_size"]
    return population.deal_value * np.where(size >= 0, multiplier[size], 1.0)


@dataclass(frozen=True)
class LaneRules:
    """The lanes as the sales floor uses them: each MQL's lane by activity, and per lane its
    priority, SLA, order, age limit (days), response strength and dedicated reps, in the order
    of :data:`LANES`."""

    of_activity: tuple[int, ...]  # lane index per activity code, then one more for "none"
    priority: tuple[int, ...]
    sla_days: tuple[float, ...]
    discipline: tuple[str, ...]
    max_age_days: tuple[float, ...]
    response_strength: tuple[float, ...]
    dedicated_reps: tuple[int, ...]
    win_odds: tuple[float, ...]

    @classmethod
    def of(cls, config: SalesConfig) -> LaneRules:
        """The rules of ``config``'s lanes, routes and defaults."""
        score = LANES.index("score")
        routed = [LANES.index(config.routes.get(a, "score")) for a in ACTIVITIES]
        lanes = [config.lane(name) for name in LANES]
        return cls(
            of_activity=(*routed, score),
            priority=tuple(lane.priority for lane in lanes),
            sla_days=tuple(float(lane.sla_hours or 0.0) / HOURS_PER_DAY for lane in lanes),
            discipline=tuple(str(lane.discipline) for lane in lanes),
            max_age_days=tuple(
                float(lane.max_queue_age_hours or math.inf) / HOURS_PER_DAY for lane in lanes
            ),
            response_strength=tuple(float(lane.response_strength or 0.0) for lane in lanes),
            dedicated_reps=tuple(lane.dedicated_reps for lane in lanes),
            win_odds=tuple(lane.win_odds for lane in lanes),
        )


@dataclass
class SalesLog:
    """What happened in sales, as growing columns (converted to arrays by the engine).

    Episodes: one per MQL event, with its lane, the attempts made, the time of the SDR's call
    (the SAL decision), of the SQL (the discovery meeting) and of the close. Queue entries: one
    per wait in the queue (first touches and retries). Work: one per stretch of rep time (an
    attempt or a call). The sales floor logs each when it is scheduled or decided, which can be
    ahead of its time: ``horizon`` is when the run ended (inf while it runs), and what was
    logged for that time or later never happened.
    """

    episode_lead: list[int] = field(default_factory=list)
    episode_pass: list[int] = field(default_factory=list)
    episode_lane: list[int] = field(default_factory=list)
    episode_mql_time: list[float] = field(default_factory=list)
    episode_first_touch: list[float] = field(default_factory=list)
    episode_attempts: list[int] = field(default_factory=list)
    episode_call: list[float] = field(default_factory=list)
    episode_sql: list[float] = field(default_factory=list)
    episode_close: list[float] = field(default_factory=list)
    episode_end: list[float] = field(default_factory=list)
    episode_outcome: list[int] = field(default_factory=list)
    queue_episode: list[int] = field(default_factory=list)
    queue_enter: list[float] = field(default_factory=list)
    queue_leave: list[float] = field(default_factory=list)
    work_episode: list[int] = field(default_factory=list)
    work_start: list[float] = field(default_factory=list)
    work_hours: list[float] = field(default_factory=list)
    horizon: float = math.inf


class _Timeline:
    """Items ``(time, number)`` taken in order, earliest first (equal times: lower number).

    Most items come in a few large batches already in order (a run's first MQLs, and their
    age limits): those wait merged in one deque, where taking one costs nothing, and the rest
    (retries, recycled leads' MQLs) in a heap, where taking one from thousands costs a dozen
    comparisons."""

    def __init__(self) -> None:
        self._run: deque[tuple[float, int]] = deque()
        self._heap: list[tuple[float, int]] = []

    def add_many(self, items: list[tuple[float, int]]) -> None:
        """Add ``items``: to the deque if they are in order, else to the heap."""
        run, heap = self._run, self._heap
        if not items:
            return
        if all(map(operator.le, items, itertools.islice(items, 1, None))):
            if not run or run[-1] <= items[0]:
                run.extend(items)
            else:  # a linear merge, cheaper than a heap
                self._run = deque(heapq.merge(run, items))
        elif len(items) > len(heap):  # heapify once rather than push one by one
            heap.extend(items)
            heapq.heapify(heap)
        else:
            for item in items:
                heapq.heappush(heap, item)

    def add(self, item: tuple[float, int]) -> None:
        """Add one item."""
        heapq.heappush(self._heap, item)

    def first(self) -> tuple[float, int] | None:
        """The next item (``None``: none)."""
        run, heap = self._run, self._heap
        if run and (not heap or run[0] < heap[0]):
            return run[0]
        return heap[0] if heap else None

    def pop(self) -> tuple[float, int]:
        """Take the next item (there is one)."""
        run, heap = self._run, self._heap
        if run and (not heap or run[0] < heap[0]):
            return run.popleft()
        return heapq.heappop(heap)

    def pop_due(self, now: float) -> tuple[float, int] | None:
        """Take the next item if it is due by ``now`` (``None``: none is)."""
        run, heap = self._run, self._heap
        if run and (not heap or run[0] < heap[0]):
            return run.popleft() if run[0][0] <= now else None
        return heapq.heappop(heap) if heap and heap[0][0] <= now else None


class _Queue:
    """Queue entries in lanes, waiting or scheduled for later.

    Scheduled entries join their lane when due (a :class:`_Timeline`). Each lane is a heap by
    its own key, then first come, first served; lanes are served by priority (lowest number
    first, equal numbers by the earlier arrival of their heads). With ``sla_aware``, each lane
    also keeps its first touches that can still meet their deadline in a heap by deadline, and
    those go before everything else, by lane priority, then deadline. An entry taken from one
    heap is left in the others and skipped there when it reaches the top.

    A rep looks at the queue once per attempt, so the queue keeps two counts that answer the
    common cases without touching a heap: when the next scheduled entry is due (most looks
    find nothing newly due) and how many entries each lane holds waiting (a lane with none is
    passed over, whatever taken entries its heaps still hold).
    """

    def __init__(self, priorities: Sequence[int], sla_aware: bool) -> None:
        self._scheduled = _Timeline()
        self._next_due = math.inf  # when the first scheduled entry is due (inf: none)
        self._lanes: list[list[tuple[float, float, int]]] = [[] for _ in priorities]
        self._groups = [
            [lane for lane, p in enumerate(priorities) if p == priority]
            for priority in sorted(set(priorities))
        ]
        self._priority = list(priorities)
        self._sla_aware = sla_aware
        self._at_risk: list[list[tuple[float, int]]] = [[] for _ in priorities]
        self._lane: list[int] = []
        self._key: list[float] = []
        self._deadline: list[float] = []  # nan: not a first touch
        self._done: list[bool] = []
        self._waiting = [0] * len(priorities)  # entries due and neither taken nor removed
        self._all = range(len(priorities))

    def schedule_many(
        self,
        times: list[float],
        lanes: list[int],
        keys: list[float],
        deadlines: list[float],
    ) -> None:
        """Entries ``len(self) ...`` join ``lanes[i]`` at ``times[i]`` with their lane key and
        SLA deadline (nan: none)."""
        first = len(self._lane)
        self._lane.extend(lanes)
        self._key.extend(keys)
        self._deadline.extend(deadlines)
        self._done.extend([False] * len(times))
        self._scheduled.add_many(list(zip(times, range(first, first + len(times)), strict=True)))
        self._next_due = min(self._next_due, min(times, default=math.inf))

    def schedule(self, time: float, lane: int, key: float) -> None:
        """Entry ``len(self)`` (not a first touch) joins ``lane`` at ``time`` with ``key``."""
        entry = len(self._lane)
        self._lane.append(lane)
        self._key.append(key)
        self._deadline.append(math.nan)
        self._done.append(False)
        self._scheduled.add((time, entry))
        if time < self._next_due:
            self._next_due = time

    def __len__(self) -> int:
        return len(self._lane)

    def _release(self, now: float) -> None:
        """Move the entries due by ``now`` into their lanes (and the at-risk heaps)."""
        if now < self._next_due:
            return
        scheduled, lanes, waiting = self._scheduled, self._lanes, self._waiting
        lane_of, key, deadline_of = self._lane, self._key, self._deadline
        at_risk = self._at_risk if self._sla_aware else None
        while (due := scheduled.pop_due(now)) is not None:
            time, entry = due
            lane = lane_of[entry]
            heapq.heappush(lanes[lane], (key[entry], time, entry))
            waiting[lane] += 1
            deadline = deadline_of[entry]
            if at_risk is not None and deadline >= now:  # nan compares False: not a first touch
                heapq.heappush(at_risk[lane], (deadline, entry))
        self._next_due = math.inf if (first := scheduled.first()) is None else first[0]

    def next_due(self, now: float, lane: int | None = None) -> float:
        """When an entry (of ``lane``; ``None``: of any lane) may next be waiting: ``now`` if
        one is, else when the next scheduled entry of any lane is due (inf: none)."""
        self._release(now)
        waiting = any(self._waiting) if lane is None else self._waiting[lane]
        return now if waiting else self._next_due

    def take(self, now: float, lane: int | None = None) -> int | None:
        """The entry a rep free at ``now`` works next, of ``lane`` only if given (``None``:
        none waiting)."""
        self._release(now)
        waiting = self._waiting
        if lane is None:
            lanes: Sequence[int] = self._all
            if not any(waiting):
                return None
        elif waiting[lane]:
            lanes = (lane,)
        else:
            return None
        done, at_risk = self._done, self._at_risk
        if self._sla_aware and any(at_risk):  # most looks find no first touch at risk
            priority = self._priority
            best_risk: tuple[int, float] | None = None
            risk_lane = -1
            for index in lanes:
                if not waiting[index]:
                    continue
                risks = at_risk[index]
                while risks and (done[risks[0][1]] or risks[0][0] < now):
                    heapq.heappop(risks)  # taken, removed or breached: no longer at risk
                if risks and (best_risk is None or (priority[index], risks[0][0]) < best_risk):
                    best_risk, risk_lane = (priority[index], risks[0][0]), index
            if best_risk is not None:
                return self._mark(heapq.heappop(at_risk[risk_lane])[1])
        heaps = self._lanes
        for group in self._groups if lane is None else ((lane,),):
            best: tuple[float, float, int] | None = None
            best_lane = -1
            for index in group:
                if not waiting[index]:
                    continue
                heap = heaps[index]
                while done[heap[0][2]]:  # a lane with entries waiting holds one untaken
                    heapq.heappop(heap)
                head = heap[0]
                if best is None or head[1:] < best[1:]:
                    best, best_lane = head, index
            if best is not None:
                return self._mark(heapq.heappop(heaps[best_lane])[2])
        raise AssertionError("entries are waiting but no lane holds one")

    def remove(self, entry: int, now: float) -> bool:
        """Take ``entry`` out of the queue at ``now`` if it is still waiting there."""
        self._release(now)
        if self._done[entry]:
            return False
        self._mark(entry)
        return True

    def _mark(self, entry: int) -> int:
        self._done[entry] = True
        self._waiting[self._lane[entry]] -= 1
        return entry


class SalesFloor:
    """The MQL queue and the reps who work it.

    Only reps' work takes SimPy events. An MQL or a retry is *scheduled* when it is known
    (``schedule_mqls``): its episode and its queue entry are logged with their own time, and
    the entry joins the queue at that time. Only a rep looking at the queue can tell when an
    entry joined, and a rep takes only entries due by then, so scheduling ahead changes
    nothing; an entry due at the same instant as a rep becomes free is waiting when it
    chooses. Idle reps are woken by an alarm at the next time an entry is waiting while they
    are at work; a second alarm ages out the untouched MQL whose age limit comes first.
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: SalesConfig,
        population: Population,
        streams: Streams,
        recycle: Callable[[int, int, float], None],
    ) -> None:
        self.env = env
        self.config = config
        self.population = population
        self.streams = streams
        self.recycle = recycle
        self.calendar = WorkingCalendar(config)
        self.lanes = LaneRules.of(config)
        self.log = SalesLog()
        self._accept = [config.sal_acceptance_probability.get(g, 0.0) for g in GRADES]
        # Per lane, per grade: the chance an opportunity is won (a lane's odds of 1 leave the
        # grade's chance exactly as it is).
        win = [config.win_probability.get(g, 0.0) for g in GRADES]
        self._win = [
            win if odds == 1.0 else [with_odds(p, odds) for p in win]
            for odds in self.lanes.win_odds
        ]
        self._deal_value = deal_values(population, config)
        strengths = self.lanes.response_strength
        self._contact = [ResponseCurve(config.contact_curve, power) for power in strengths]
        self._qualify = [ResponseCurve(config.qualify_curve, power) for power in strengths]
        self._reach_at_once = [
            config.reach_probability
            if config.reach_probability >= 1
            else with_odds(config.reach_probability, config.reach_attempt_factor**attempt)
            for attempt in range(config.max_attempts)
        ]
        gaps = config.retry_gaps_hours
        self._retry_gap_days = [
            gaps[min(attempt, len(gaps) - 1)] / HOURS_PER_DAY
            for attempt in range(config.max_attempts)
        ]
        self._queue = _Queue(self.lanes.priority, config.sla_aware)
        self._key: list[float] = []  # each episode's key in its lane (lower first)
        # Reps waiting for work, longest idle first: by the lane they work only, then the reps
        # who work every lane (None).
        dedicated = self.lanes.dedicated_reps
        self._idle: dict[int | None, deque[simpy.Event]] = {
            lane: deque() for lane in range(len(LANES)) if dedicated[lane]
        }
        self._idle[None] = deque()
        self._idle_reps = 0
        self._alarm_at = math.inf
        self._alarm = 0  # number of the current alarm: an older one that fires does nothing
        self._expiries = _Timeline()  # (age limit, queue entry) of first touches
        self._expiry_at = math.inf
        self._expiry_alarm = 0
        self._draws_per_lead = 2 * config.max_attempts + 3
        #: Each episode's sales draws, drawn with its batch of MQLs (a row of an array), and
        #: as Python floats while it is worked (cheaper to compute with than numpy scalars).
        self._episode_rows: list[np.ndarray] = []
        self._episode_draws: dict[int, list[float]] = {}
        for lane, count in enumerate(dedicated):
            for _ in range(count):
                env.process(self._rep(lane))
        for _ in range(config.reps - sum(dedicated)):
            env.process(self._rep(None))

    def schedule_mqls(
        self,
        times: list[float],
        leads: list[int],
        passes: list[int],
        priorities: list[float],
        activities: list[int],
    ) -> None:
        """Each ``leads[i]`` becomes MQL at ``times[i]`` (now or later), in its nurture pass
        ``passes[i]``, by activity ``activities[i]`` (a code; -1: unknown), and queues then in
        its lane. MQLs due at the same time queue in the order given."""
        log, count = self.log, len(times)
        first_episode, first_entry = len(log.episode_lead), len(log.queue_episode)
        lane_of = self.lanes.of_activity
        lanes = [lane_of[activity] for activity in activities]
        log.episode_lead.extend(leads)
        log.episode_pass.extend(passes)
        log.episode_lane.extend(lanes)
        log.episode_mql_time.extend(times)
        nans = [math.nan] * count
        for column in (log.episode_first_touch, log.episode_call, log.episode_sql):
            column.extend(nans)
        log.episode_close.extend(nans)
        log.episode_end.extend(nans)
        log.episode_attempts.extend([0] * count)
        log.episode_outcome.extend([Outcome.OPEN] * count)
        self._episode_rows.extend(self._sales_rows(np.asarray(leads), np.asarray(passes)))
        keys = self._keys(leads, priorities, lanes, times)
        self._key.extend(keys)
        log.queue_episode.extend(range(first_episode, first_episode + count))
        log.queue_enter.extend(times)
        log.queue_leave.extend(nans)
        sla, max_age = self.lanes.sla_days, self.lanes.max_age_days
        self._queue.schedule_many(
            times, lanes, keys, [t + sla[lane] for t, lane in zip(times, lanes, strict=True)]
        )
        expiries = [
            (t + max_age[lane], entry)
            for t, lane, entry in zip(
                times, lanes, range(first_entry, first_entry + count), strict=True
            )
            if math.isfinite(max_age[lane])
        ]
        if expiries:
            self._expiries.add_many(expiries)
            self._arm_expiry()
        if self._idle_reps:
            self._arm()

    def _keys(
        self, leads: list[int], priorities: list[float], lanes: list[int], times: list[float]
    ) -> list[float]:
        """Keys in their lanes of MQLs of ``leads`` with score ``priorities`` (lower first)."""
        disciplines, sla = self.lanes.discipline, self.lanes.sla_days
        grade = self.population.grade
        keys = []
        for lead, priority, lane, time in zip(leads, priorities, lanes, times, strict=True):
            discipline = disciplines[lane]
            if discipline == "score":  # highest score first; no score: after all scored
                keys.append(math.inf if math.isnan(priority) else -priority)
            elif discipline == "grade":
                keys.append(float(grade[lead]))
            elif discipline == "deadline":
                keys.append(time + sla[lane])
            else:
                keys.append(0.0)
        return keys

    def _retry(self, episode: int, attempt: int) -> None:
        """Queue ``episode`` again after the gap of its cadence that follows attempt
        ``attempt`` (from 0), which just ended unanswered."""
        log = self.log
        time = self.env.now + self._retry_gap_days[attempt]
        lane = log.episode_lane[episode]
        key = time if self.lanes.discipline[lane] == "deadline" else self._key[episode]
        log.queue_episode.append(episode)
        log.queue_enter.append(time)
        log.queue_leave.append(math.nan)
        self._queue.schedule(time, lane, key)
        if self._idle_reps:
            self._arm()

    def close(self, horizon: float) -> None:
        """The run ends at ``horizon``: what was logged ahead for then or later (retries due
        after the end, calls that would start after it, meetings and closes after it) never
        happened."""
        self.log.horizon = horizon

    def _take(self, lane: int | None) -> int | None:
        """The episode a rep free now takes: the next in the queue, of ``lane`` only if given
        (``None``: nothing, or outside working hours)."""
        now = self.env.now
        if self.calendar.until_open(now) > 0:
            return None
        entry = self._queue.take(now, lane)
        if entry is None:
            return None
        self.log.queue_leave[entry] = now
        return self.log.queue_episode[entry]

    def _arm(self) -> None:
        """Set the alarm for the first time an idle rep could take something: when reps are at
        work and an entry is waiting that the rep works."""
        now = self.env.now
        if len(self._idle) == 1:  # no dedicated reps: every idle rep works every lane
            due = self._queue.next_due(now)
        else:
            due = min(
                (self._queue.next_due(now, lane) for lane, idle in self._idle.items() if idle),
                default=math.inf,
            )
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
        for lane, idle in self._idle.items():
            while idle:
                episode = self._take(lane)
                if episode is None:
                    break
                idle.popleft().succeed(episode)
                self._idle_reps -= 1
        if self._idle_reps:
            self._arm()

    def _arm_expiry(self) -> None:
        """Set the age-limit alarm for the first untouched MQL still waiting (entries taken
        meanwhile are dropped when they reach the top)."""
        expiries, left = self._expiries, self.log.queue_leave
        while (first := expiries.first()) is not None and not math.isnan(left[first[1]]):
            expiries.pop()
        if first is None or first[0] >= self._expiry_at:
            return
        due = first[0]
        self._expiry_at = due
        self._expiry_alarm += 1
        number = self._expiry_alarm

        def ring(_event: simpy.Event) -> None:
            self._age_out(number)

        self.env.timeout(max(due - self.env.now, 0.0)).callbacks.append(ring)

    def _age_out(self, number: int) -> None:
        """The age-limit alarm: MQLs untouched at their limit leave the queue (aged out)."""
        if number != self._expiry_alarm:
            return
        self._expiry_at = math.inf
        now, expiries, log = self.env.now, self._expiries, self.log
        while (due := expiries.pop_due(now)) is not None:
            _, entry = due
            if self._queue.remove(entry, now):
                log.queue_leave[entry] = now
                self._end(log.queue_episode[entry], Outcome.AGED_OUT, now)
        self._arm_expiry()

    def _rep(self, lane: int | None):
        """A rep (a SimPy process) who works ``lane`` only, or every lane (``None``): takes the
        next MQL, makes a contact attempt and, if it reaches the lead, the call right after it
        (one stretch of work, one SimPy event); idle, waits for the alarm.

        One pass of the loop is one attempt, the floor's innermost work: the log's columns and
        the rules are looked up once, before it. An episode's sales draws are read at its
        first attempt and kept until it ends."""
        env, log, config = self.env, self.log, self.config
        attempts = config.max_attempts
        exponential = config.work_time_distribution == "exponential"
        attempt_mean, call_mean = config.attempt_hours, config.call_hours
        contacts, reach_at_once = self._contact, self._reach_at_once
        idle, rows, episode_draws = self._idle[lane], self._episode_rows, self._episode_draws
        lead_of, lane_of = log.episode_lead, log.episode_lane
        attempts_of, mql_time, first_touch = (
            log.episode_attempts,
            log.episode_mql_time,
            log.episode_first_touch,
        )
        work_episode, work_start, work_hours = log.work_episode, log.work_start, log.work_hours
        while True:
            episode = self._take(lane)
            if episode is None:
                wake = env.event()
                idle.append(wake)
                self._idle_reps += 1
                self._arm()
                episode = yield wake
            now = env.now
            attempt = attempts_of[episode]
            attempts_of[episode] = attempt + 1
            if attempt == 0:
                first_touch[episode] = now
                draws = episode_draws[episode] = rows[episode].tolist()
            else:
                draws = episode_draws[episode]
            delay_hours = (now - mql_time[episode]) * HOURS_PER_DAY
            u = draws[attempts + attempt]
            attempt_hours = -attempt_mean * math.log1p(-u) if exponential else attempt_mean
            work_episode.append(episode)
            work_start.append(now)
            work_hours.append(attempt_hours)
            contact = contacts[lane_of[episode]](delay_hours)
            if draws[attempt] >= with_odds(reach_at_once[attempt], contact):
                yield env.timeout(attempt_hours / HOURS_PER_DAY)
                if attempt + 1 < attempts:
                    self._retry(episode, attempt)
                else:
                    self._end(episode, Outcome.UNREACHED, env.now)
                continue
            call_start = now + attempt_hours / HOURS_PER_DAY
            u = draws[2 * attempts]
            call_hours = -call_mean * math.log1p(-u) if exponential else call_mean
            work_episode.append(episode)
            work_start.append(call_start)
            work_hours.append(call_hours)
            yield env.timeout(call_start + call_hours / HOURS_PER_DAY - now)
            speed_hours = (first_touch[episode] - mql_time[episode]) * HOURS_PER_DAY
            self._call_outcome(episode, lead_of[episode], speed_hours, draws)

    def _sales_rows(self, leads: np.ndarray, passes: np.ndarray) -> np.ndarray:
        """The sales draws of ``leads[i]`` in its pass ``passes[i]``, a row each:
        ``max_attempts`` reach draws, as many attempt durations, a call duration, the
        discovery meeting's delay and the sales cycle's length. Drawn for a batch of MQLs at
        once (:meth:`Streams.sales_rows`), the same numbers as one lead at a time."""
        rows = np.empty((leads.size, self._draws_per_lead), dtype=np.float32)
        for pass_index in np.unique(passes).tolist():
            of_pass = passes == pass_index
            rows[of_pass] = self.streams.sales_rows(
                pass_index, leads[of_pass], self._draws_per_lead
            )
        return rows

    def _screen(self, lead: int, time: float, speed_hours: float, lane: int) -> Outcome:
        """The SDR's call of ``lead`` at ``time`` and its discovery meeting: ``REJECTED`` (sales
        does not accept it), ``NOT_SQL`` (accepted, not qualified) or ``SQL_NO_OPPORTUNITY``
        (an SQL). Sales accepts on the fit grade and on what the call shows (buying window now,
        budget, authority); the meeting qualifies a real buyer inside its window at the call
        whose draw is below the qualification chance at ``speed_hours``, the delay of the
        episode's first attempt (``lane``'s curve). The one rule of both the floor and the
        run's start (:meth:`settled_sqls`)."""
        pop, config = self.population, self.config
        # .item(): Python scalars, cheaper than numpy ones for a few comparisons.
        in_window = pop.window_start.item(lead) <= time < pop.window_end.item(lead)
        budget, authority = pop.budget.item(lead), pop.authority.item(lead)
        accept = self._accept[pop.grade.item(lead)]
        if not in_window:
            accept *= config.sal_not_in_market_factor
        if not budget:
            accept *= config.sal_no_budget_factor
        if not authority:
            accept *= config.sal_no_authority_factor
        if pop.u_accept.item(lead) >= accept:
            return Outcome.REJECTED
        qualify = self._qualify[lane](speed_hours)
        qualifies = pop.u_qualify.item(lead) < with_odds(config.qualify_probability, qualify)
        if not (budget and authority and in_window and qualifies):
            return Outcome.NOT_SQL
        return Outcome.SQL_NO_OPPORTUNITY

    def settled_sqls(
        self, leads: np.ndarray, passes: np.ndarray, times: np.ndarray, activities: np.ndarray
    ) -> np.ndarray:
        """Whether each MQL of ``leads[i]`` at ``times[i]`` (before the run starts, where no
        floor is simulated) by ``activities[i]``, in its pass ``passes[i]``, ends as an SQL
        when worked at once, every attempt of the cadence on time: each attempt reaches the
        lead by its own draw, as on the floor, and the call and meeting are :meth:`_screen`.

        Attempt ``k`` is made at the same delay for every lead, so its chance to reach the
        lead is one number per lane, and all the leads' reach draws are compared with them at
        once; the leads reached are screened one by one."""
        delays, hours = [], 0.0  # each attempt's hours after the MQL
        for gap in self._retry_gap_days:
            delays.append(hours)
            hours += self.config.attempt_hours + gap * HOURS_PER_DAY
        chance = np.array(
            [
                [
                    with_odds(reach, contact(delay))
                    for reach, delay in zip(self._reach_at_once, delays, strict=True)
                ]
                for contact in self._contact
            ]
        )
        lanes = np.asarray(self.lanes.of_activity)[activities]
        draws = self._sales_rows(leads, passes)
        # float32 draws against float64 chances: compared as float64, as on the floor.
        reached = draws[:, : len(delays)] < chance[lanes]
        sql = np.zeros(leads.size, dtype=bool)
        calls = np.flatnonzero(reached.any(axis=1))
        for i, attempt, lead, time, lane in zip(
            calls.tolist(),
            reached.argmax(axis=1)[calls].tolist(),  # the first attempt that reaches the lead
            leads[calls].tolist(),
            times[calls].tolist(),
            lanes[calls].tolist(),
            strict=True,
        ):
            call = time + delays[attempt] / HOURS_PER_DAY
            sql[i] = self._screen(lead, call, 0.0, lane) is Outcome.SQL_NO_OPPORTUNITY
        return sql

    def _call_outcome(
        self, episode: int, lead: int, speed_hours: float, draws: list[float]
    ) -> None:
        """Settle the SDR's call of ``episode``, which just ended: rejected, or accepted and
        then, at the discovery meeting, not an SQL or an SQL with or without an opportunity
        whose cycle closes won or lost. ``speed_hours`` is the delay of its first attempt."""
        pop, config, log, now = self.population, self.config, self.log, self.env.now
        log.episode_call[episode] = now
        verdict = self._screen(lead, now, speed_hours, log.episode_lane[episode])
        if verdict is Outcome.REJECTED:
            self._end(episode, Outcome.REJECTED, now)
            return
        attempts = config.max_attempts
        meeting = now - config.discovery_meeting_days * math.log1p(-draws[2 * attempts + 1])
        if verdict is Outcome.NOT_SQL:
            self._end(episode, Outcome.NOT_SQL, meeting)
            return
        log.episode_sql[episode] = meeting
        if pop.u_opportunity.item(lead) >= config.opportunity_probability:
            self._end(episode, Outcome.SQL_NO_OPPORTUNITY, meeting)
            return
        log.episode_close[episode] = meeting + self._cycle_days(lead, draws[2 * attempts + 2])
        win = self._win[log.episode_lane[episode]][pop.grade.item(lead)]
        won = pop.u_win.item(lead) < win
        self._end(episode, Outcome.WON if won else Outcome.LOST, meeting)

    def _cycle_days(self, lead: int, u: float) -> float:
        """The sales cycle of ``lead``'s opportunity: log-normal, its median scaled by the
        deal value (``cycle_value_elasticity``)."""
        config = self.config
        scale = (self._deal_value[lead] / config.cycle_reference_value) ** (
            config.cycle_value_elasticity
        )
        z = _STANDARD_NORMAL.inv_cdf(min(max(u, _EDGE), 1.0 - _EDGE))
        return config.cycle_median_days * scale * math.exp(config.cycle_sigma * z)

    def _end(self, episode: int, outcome: Outcome, time: float) -> None:
        """``episode`` leaves sales at ``time`` (now or, after a call, at the discovery
        meeting) with ``outcome``; a lead without an SQL is recycled from then."""
        log = self.log
        log.episode_end[episode] = time
        log.episode_outcome[episode] = outcome
        self._episode_draws.pop(episode, None)
        if outcome in _RECYCLED:
            self.recycle(log.episode_lead[episode], log.episode_pass[episode], time)
