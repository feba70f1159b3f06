"""One replication: population → journeys → policy → sales (SimPy) → recycling → metrics.

Only what interacts in time runs in SimPy: the sales queue, and recycled leads returning to
nurture. Everything before a lead's first MQL is computed with arrays, and it is exact: a
touch can only cause events at or after it is sent, so the first MQL found on the journey with
the uninterrupted nurture run is the first MQL of the run that stops at MQL; touches after it
are then dropped. The other ways a run stops (unsubscribe, sunset) only cut later touches, and
what a cadence plans depends on organic activity, never on touch-caused activity.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import simpy

from policies import make_cadence, make_policy
from policies.base import Cadence, LeadView, Policy
from sim.events import EventLog
from sim.journeys import RateTable, Touches, organic_events, respond_to_touches
from sim.metrics import SalesRecord, compute_metrics, final_states
from sim.population import Population, generate_population
from sim.rng import Purpose, Streams
from sim.sales import SalesFloor
from sim.scenario import Scenario

#: Recycled leads due back in nurture within this many days are processed as one batch.
RECYCLE_BATCH_DAYS = 7.0


@dataclass(frozen=True)
class ReplicationResult:
    """Everything one replication produced: the metrics and the data behind them."""

    metrics: dict[str, float]
    population: Population
    organic: EventLog
    touches: Touches
    sales: SalesRecord
    final_state: np.ndarray

    def observed_events(self) -> EventLog:
        """The activity marketing saw: organic events and the answers to touches sent."""
        lead, time, activity = self.touches.events()
        touch_log = EventLog.from_unsorted(lead, time, activity, self.population.size)
        return EventLog.concatenate([self.organic, touch_log])


class Nurture:
    """Nurture runs and their answers, and the MQL decisions made on them."""

    def __init__(self, scenario: Scenario, population: Population, streams: Streams) -> None:
        self.scenario = scenario
        self.population = population
        self.streams = streams
        self.horizon = scenario.scenario.horizon_days
        self.rates = RateTable(scenario.journeys, scenario.population)
        self.policy: Policy = make_policy(scenario.policy)
        self.cadence: Cadence = make_cadence(scenario.nurture)
        self.organic = organic_events(
            population,
            scenario.journeys,
            self.rates,
            self.horizon,
            streams.generator(Purpose.JOURNEYS),
        )
        self.unsubscribed = np.zeros(population.size, dtype=bool)
        self.sent: list[Touches] = []

    def _answers(self, lead: np.ndarray, time: np.ndarray, uniforms: np.ndarray) -> Touches:
        """The answers to uninterrupted runs' touches, cut at unsubscribes and sunsets.

        Each touch's answers depend only on its own draws and on earlier touches (fatigue), so
        cutting a run after a touch leaves the answers before it as they were.
        """
        touches = respond_to_touches(
            self.population, self.scenario.journeys, self.rates, lead, time, uniforms
        )
        return touches.select(self.cadence.running(touches.lead, touches.opened))

    def _earlier(self, leads: np.ndarray) -> Touches:
        """The touches sent to ``leads`` before now: their answers are part of the history."""
        earlier = Touches.concatenate(self.sent)
        member = np.zeros(self.population.size, dtype=bool)
        member[leads] = True
        return earlier.select(member[earlier.lead])

    def _decide(
        self,
        leads: np.ndarray,
        since: np.ndarray,
        organic: EventLog,
        touches: Touches,
        earlier: Touches | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """MQL time and priority of ``leads`` (sorted), whose organic events are ``organic``
        and whose touches of this run are ``touches``; the MQL can only fire at an event at or
        after ``since``. The policy also sees the answers to ``earlier`` touches (history).

        Records the touches that were really sent: those up to the lead's MQL.
        """
        local = np.searchsorted(leads, touches.lead)
        seen = touches if earlier is None else Touches.concatenate([earlier, touches])
        answer_lead, time, activity = seen.events()
        answers = EventLog.from_unsorted(
            np.searchsorted(leads, answer_lead), time, activity, leads.size
        )
        view = LeadView(
            events=EventLog.concatenate([organic, answers]),
            grade=self.population.grade[leads],
            fit={name: codes[leads] for name, codes in self.population.fit.items()},
            since=since,
        )
        decision = self.policy.qualify(view)
        sent = touches.select(~(touches.time > decision.time[local]))  # nan compares False
        self.sent.append(sent)
        self.unsubscribed[sent.lead[sent.unsubscribed]] = True
        return decision.time, decision.priority

    def first_mqls(self) -> tuple[np.ndarray, np.ndarray]:
        """Every lead's first MQL (time, priority) on its journey from arrival."""
        pop = self.population
        lead, time = self.cadence.touch_times(pop.arrival, self.horizon, self.organic)
        uniforms = self.streams.generator(Purpose.TOUCHES).random((lead.size, 4))
        touches = self._answers(lead, time, uniforms)
        return self._decide(np.arange(pop.size), pop.arrival, self.organic, touches)

    def resume(
        self, leads: np.ndarray, passes: np.ndarray, since: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recycled ``leads`` (sorted) start a new nurture run at ``since``: their next MQL.

        The policy sees their whole history but can fire only at or after ``since`` (whether
        the history counts is its choice); unsubscribed leads get no touches. Each lead's
        answers come from its own stream, keyed by lead and pass.
        """
        organic = self.organic.take_leads(leads)
        local, time = self.cadence.touch_times(since, self.horizon, organic)
        keep = ~self.unsubscribed[leads[local]]
        local, time = local[keep], time[keep]
        counts = np.bincount(local, minlength=leads.size)
        uniforms = [
            self.streams.generator(Purpose.RECYCLED_TOUCHES, int(leads[i]), int(passes[i])).random(
                (int(counts[i]), 4)
            )
            for i in np.flatnonzero(counts)
        ]
        uniforms_array = np.concatenate(uniforms) if uniforms else np.empty((0, 4))
        touches = self._answers(leads[local], time, uniforms_array)
        return self._decide(leads, since, organic, touches, self._earlier(leads))


class Recycler:
    """Brings recycled leads back to nurture and queues their next MQL (a SimPy process).

    Leads due back within :data:`RECYCLE_BATCH_DAYS` of the earliest are handled together, each
    from its own resume time, so batching changes nothing but speed.
    """

    def __init__(self, env: simpy.Environment, nurture: Nurture, cooldown_days: float) -> None:
        self.env = env
        self.nurture = nurture
        self.cooldown = cooldown_days
        self.floor: SalesFloor | None = None
        self._due: list[tuple[float, int, int]] = []  # heap of (resume time, lead, next pass)
        self._sleeping_until = math.inf
        self._wake = env.event()
        env.process(self._run())

    def recycle(self, lead: int, pass_index: int) -> None:
        """Sales ends ``lead``'s episode without an SQL: nurture it again after the cool-down."""
        resume = self.env.now + self.cooldown
        heapq.heappush(self._due, (resume, lead, pass_index + 1))
        if resume < self._sleeping_until and not self._wake.triggered:
            self._wake.succeed()  # due before the current timer: wake up to reschedule

    def _run(self):
        env = self.env
        while True:
            earliest = self._due[0][0] if self._due else math.inf
            if earliest > env.now:
                self._sleeping_until = earliest
                timer = [] if math.isinf(earliest) else [env.timeout(earliest - env.now)]
                yield env.any_of([*timer, self._wake])
                if self._wake.triggered:
                    self._wake = env.event()
                continue
            self._sleeping_until = env.now
            batch = []
            while self._due and self._due[0][0] < earliest + RECYCLE_BATCH_DAYS:
                resume, lead, pass_index = heapq.heappop(self._due)
                batch.append((lead, pass_index, resume))
            self._schedule(np.array(sorted(batch), dtype=float))

    def _schedule(self, batch: np.ndarray) -> None:
        leads = batch[:, 0].astype(np.int64)
        passes = batch[:, 1].astype(np.int64)
        times, priorities = self.nurture.resume(leads, passes, batch[:, 2])
        for i in np.flatnonzero(np.isfinite(times)):
            arrival = self.env.timeout(times[i] - self.env.now)
            arrival.callbacks.append(
                lambda _event, lead=int(leads[i]), pass_=int(passes[i]), p=priorities[i]: (
                    self.floor.receive(lead, pass_, p)
                )
            )


def _first_mql_arrivals(env: simpy.Environment, floor: SalesFloor, times, priorities):
    """Feed first MQLs to sales in time order: one SimPy event per MQL, none pending ahead."""
    order = np.flatnonzero(np.isfinite(times))
    order = order[np.argsort(times[order], kind="stable")]
    for lead in order:
        yield env.timeout(times[lead] - env.now)
        floor.receive(int(lead), 0, float(priorities[lead]))


def run_replication(scenario: Scenario, replication: int) -> ReplicationResult:
    """Simulate replication ``replication`` of ``scenario`` and measure it."""
    meta = scenario.scenario
    streams = Streams(meta.seed, replication)
    population = generate_population(scenario.population, meta, streams)
    nurture = Nurture(scenario, population, streams)
    first_times, first_priorities = nurture.first_mqls()

    env = simpy.Environment()
    recycler = Recycler(env, nurture, scenario.nurture.recycle_cooldown_days)
    floor = SalesFloor(env, scenario.sales, population, streams, recycler.recycle)
    recycler.floor = floor
    env.process(_first_mql_arrivals(env, floor, first_times, first_priorities))
    env.run(until=meta.horizon_days)

    sales = SalesRecord.from_log(floor.log)
    touches = Touches.concatenate(nurture.sent)
    states = final_states(nurture.unsubscribed, sales)
    metrics = compute_metrics(
        scenario, population, sales, touches, nurture.unsubscribed, floor.calendar
    )
    return ReplicationResult(
        metrics=metrics,
        population=population,
        organic=nurture.organic,
        touches=touches,
        sales=sales,
        final_state=states,
    )
