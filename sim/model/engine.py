"""One replication: population → journeys → policy → sales (SimPy) → recycling → metrics.

Only what interacts in time runs in SimPy: the sales queue, and recycled leads returning to
nurture. Everything before a lead's first MQL is computed with arrays, and it is exact: a
touch can only cause events at or after it is sent, so the first MQL found on the journey with
the uninterrupted nurture run is the first MQL of the run that stops at MQL; touches after it
are then dropped. The other ways a run stops (unsubscribe, sunset) only cut later touches, and
what a cadence plans depends on organic activity, never on touch-caused activity.

A policy that learns from the run (:class:`~mqlsim.policies.base.Refittable`) has epochs: at each of
its refit times it is refitted on what has been observed, and the first MQL of every lead not
yet MQL is decided again, firing only at events from then on. That keeps the argument exact: a
lead not yet MQL has received every planned touch up to then, and its first-run touches are
recorded up to its MQL as decided last, which is final once the MQL has happened.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from mqlsim.core.errors import InputError, did_you_mean
from mqlsim.core.events import EventLog, spans
from mqlsim.core.rng import Purpose, Streams
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.journeys import (
    RateTable,
    Touches,
    history_start,
    organic_events,
    respond_to_touches,
)
from mqlsim.model.metrics import (
    SalesRecord,
    Segmentation,
    compute_metrics,
    final_states,
    segment_metrics,
    stationarity_drifts,
)
from mqlsim.model.population import Population, generate_population
from mqlsim.model.sales import SalesFloor, SalesLog
from mqlsim.policies import make_cadence, make_policy
from mqlsim.policies.base import (
    Cadence,
    History,
    Policy,
    Refittable,
    rule_codes,
    rule_names,
)
from mqlsim.scenario.models import Scenario

#: Recycled leads due back in nurture within this many days are processed as one batch.
RECYCLE_BATCH_DAYS = 30.0
#: Sends planned outside the leads' active hours go out within this long after the opening.
SEND_SPREAD_HOURS = 1.0
_GOLDEN_RATIO = (math.sqrt(5.0) - 1.0) / 2.0  # lead offsets spread evenly, in no lead's order

#: A policy's decision for a group of leads: MQL time, priority, rule code and the code of the
#: activity that fired it, per lead.
Decision = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: An MQL handed to sales: (time, lead, pass, priority, rule code, activity code, start of its
#: nurture run).
Scheduled = tuple[float, int, int, float, int, int, float]


@dataclass(frozen=True)
class ReplicationResult:
    """Everything one replication produced: the metrics and the data behind them.

    ``policy`` is the policy as the run left it (a learning policy holds its fitted versions), so
    it can explain the run's decisions; ``policy_report`` is what such a policy learnt (``None``
    for others). ``segments`` holds the count and rate metrics per segment of each dimension
    (:func:`mqlsim.model.metrics.segment_metrics`), ``stationarity`` the drift of the weekly
    series over the measured period (:func:`mqlsim.model.metrics.stationarity_drifts`).
    """

    metrics: dict[str, float]
    population: Population
    organic: EventLog
    touches: Touches
    sales: SalesRecord
    final_state: np.ndarray
    policy: Policy
    segments: dict[str, dict[str, dict[str, float]]]
    stationarity: dict[str, dict[str, float]]
    #: Per episode of ``sales``: the policy rule that made it (a position in ``rule_names``)
    #: and where the nurture run it ended began (the policy's ``since``).
    episode_rule: np.ndarray
    episode_since: np.ndarray
    rule_names: tuple[str, ...]
    #: Each lead's first MQL as decided on its first nurture run (``nan``: none); before day 0
    #: for an existing lead that was MQL before the run (then not in ``sales``).
    first_mql_time: np.ndarray
    policy_report: dict[str, Any] | None = None

    def observed_events(self) -> EventLog:
        """The activity marketing saw: organic events and the answers to touches sent."""
        lead, time, activity = self.touches.events()
        touch_log = EventLog.from_unsorted(lead, time, activity, self.population.size)
        return EventLog.concatenate([self.organic, touch_log])


def stage_key(scenario: Scenario) -> str:
    """What the shared stage of ``scenario`` depends on: the scenario as canonical JSON, without
    the sections the stage never reads (``policy``, ``sales`` and ``costs``: a sweep of the
    threshold or of the team's size shares it), without ``scenario.replications`` (replication
    ``r`` is the same whether 5 or 50 are run) and without the labels ``scenario.name`` and
    ``scenario.description`` (a compared scenario file that changes only the policy shares too).
    Scenarios with equal keys share their replications' stages. The draws kept for them are
    keyed by what they depend on: a sales pass's by the number of draws per lead
    (``sales.max_attempts``), so teams of different cadences never read each other's."""
    resolved = json.loads(scenario.model_dump_json())
    for section in ("policy", "sales", "costs"):
        del resolved[section]
    for label in ("replications", "name", "description"):
        del resolved["scenario"][label]
    return json.dumps(resolved, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class SharedStage:
    """What replication ``replication`` computes before its policy has any say, so every
    scenario with the same :func:`stage_key` can reuse it: the population, the organic events,
    the first runs' planned touches with their answers (a cadence plans from organic activity
    only, and answers come from the lead's own draws), and the log that the first MQL decision
    reads (organic events and those answers, merged).

    Its arrays are read-only: a run that tried to change them would change its neighbours'.
    """

    key: str
    replication: int
    population: Population
    organic: EventLog
    first_run: Touches
    first_events: EventLog
    #: What policies computed from the first-MQL view, for the scenarios sharing the stage
    #: (``None``: not kept; see :attr:`mqlsim.policies.base.LeadView.memo`).
    memo: dict[str, Any] | None = None
    #: Per-lead draws of the replication's streams, for the scenarios sharing the stage
    #: (``None``: not kept; see :meth:`mqlsim.core.rng.Streams.uniforms`).
    drawn: dict[tuple[int, ...], np.ndarray] | None = None


def _freeze(value: Any) -> None:
    """Make the arrays of ``value`` (a dataclass, recursively, or a dict of arrays) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, dict):
        for item in value.values():
            _freeze(item)
    elif dataclasses.is_dataclass(value):
        for item in dataclasses.fields(value):
            _freeze(getattr(value, item.name))


def shared_stage(scenario: Scenario, replication: int, *, memo: bool = False) -> SharedStage:
    """The policy-independent part of replication ``replication`` of ``scenario``.

    With ``memo``, the stage keeps for the next scenario that uses it what each policy
    computes from its first-MQL view (a score's per-event scores, for a threshold sweep) and
    the recycled leads' touch draws: worth their memory only when several scenarios share the
    stage.
    """
    meta = scenario.scenario
    streams = Streams(meta.seed, replication)
    clock = ActivityClock(scenario.journeys)
    population = generate_population(scenario.population, meta, streams, clock)
    rates = RateTable(scenario.journeys, scenario.population)
    organic = organic_events(
        population,
        scenario.journeys,
        rates,
        meta.horizon_days,
        streams.generator(Purpose.JOURNEYS),
        scenario.population.stock_history_days,
    )
    cadence = make_cadence(scenario.nurture)
    everyone = np.arange(population.size)
    lead, time = planned_touches(
        cadence, clock, population, everyone, population.arrival, meta.horizon_days, organic
    )
    # An existing lead's first run is drawn where its history is (its unsubscribes before
    # that are not known: it starts subscribed).
    drawn = time >= history_start(population, scenario.population.stock_history_days)[lead]
    lead, time = lead[drawn], time[drawn]
    uniforms = streams.generator(Purpose.TOUCHES).random((lead.size, 4))
    touches = respond_to_touches(population, scenario.journeys, rates, lead, time, uniforms)
    first_run = touches.select(cadence.running(touches.lead, touches.opened))
    del lead, time, uniforms, touches, drawn  # not needed any more: free them before the merge
    leads = np.arange(population.size)
    first_events = _merged_events(leads, organic, first_run)
    stage = SharedStage(
        key=stage_key(scenario),
        replication=replication,
        population=population,
        organic=organic,
        first_run=first_run,
        first_events=first_events,
        memo={} if memo else None,
        drawn={} if memo else None,
    )
    _freeze(stage)
    return stage


def _lead_offset(clock: ActivityClock, lead: np.ndarray) -> np.ndarray:
    """Each lead's own moment within :data:`SEND_SPREAD_HOURS` of an opening (it depends on
    the lead alone, and no two leads' coincide)."""
    spread = min(SEND_SPREAD_HOURS / 24.0, (clock.end - clock.start) / 2.0)
    return np.mod(lead * _GOLDEN_RATIO, 1.0) * spread


def send_times(clock: ActivityClock, time: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """When marketing sends what it planned for ``time`` to ``lead``: at that time inside the
    leads' active hours; outside them, at the next opening plus the lead's own offset (a tool
    works through its backlog over a while)."""
    sent = clock.next_active(time)
    moved = sent > time
    sent += _lead_offset(clock, lead)
    np.copyto(sent, time, where=~moved)
    return sent


def planned_touches(
    cadence: Cadence,
    clock: ActivityClock,
    population: Population,
    leads: np.ndarray,
    start: np.ndarray,
    horizon_days: float,
    organic: EventLog | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The touches of nurture runs of ``leads`` (sorted) starting at ``start``, if never
    stopped, as ``(position in leads, time)`` sorted by lead, then time. Marketing sends in
    the leads' working day: a run starts at the first opening at or after ``start`` plus the
    lead's own offset (a drip then keeps to the same moment of the week, and sends to two
    leads never coincide, so which of two MQLs reaches the queue first never depends on how
    the engine batches its work); a touch the cadence plans outside the active hours (a
    follow-up, say) is sent as :func:`send_times` says. None is sent once the lead has left,
    or at the horizon.
    """
    begin = clock.next_active(start) + _lead_offset(clock, leads)
    local, time = cadence.touch_times(begin, horizon_days, organic)
    time = send_times(clock, time, leads[local])
    step = np.diff(local)
    if np.any((step == 0) & (np.diff(time) < 0)):  # a moved touch passed one planned after it
        order = np.lexsort((time, local))
        local, time = local[order], time[order]
    keep = time < np.minimum(population.exit[leads[local]], horizon_days)
    return local[keep], time[keep]


def _merged_events(leads: np.ndarray, organic: EventLog, touches: Touches) -> EventLog:
    """The events of ``leads`` (sorted) that a policy reads: their organic events ``organic``
    and the answers to ``touches``, merged."""
    answer_lead, time, activity = touches.events()
    answers = EventLog.from_unsorted(
        np.searchsorted(leads, answer_lead), time, activity, leads.size
    )
    return EventLog.concatenate([organic, answers])


def _touches_of(touches: Touches, leads: np.ndarray) -> Touches:
    """The touches of ``leads`` (sorted) among ``touches`` (sorted by lead), in their order."""
    first = np.searchsorted(touches.lead, leads, "left")
    return touches.take(spans(first, np.searchsorted(touches.lead, leads, "right") - first))


class Nurture:
    """Nurture runs and their answers, and the MQL decisions made on them."""

    def __init__(self, scenario: Scenario, stage: SharedStage, streams: Streams) -> None:
        self.scenario = scenario
        self.population = stage.population
        self.streams = streams
        self.horizon = scenario.scenario.horizon_days
        self.rates = RateTable(scenario.journeys, scenario.population)
        self.clock = ActivityClock(scenario.journeys)
        self.policy: Policy = make_policy(scenario.policy)
        self.rule_names = rule_names(self.policy, scenario.policy.kind)
        self.cadence: Cadence = make_cadence(scenario.nurture)
        self.organic = stage.organic
        population = self.population
        self.unsubscribed = np.zeros(population.size, dtype=bool)
        #: Touches sent: the first runs' (up to each lead's first MQL as decided so far), then
        #: each batch of recycled runs'.
        self.sent: list[Touches] = []
        #: The same touches for finding a lead's (:meth:`_earlier`): a few parts, each sorted
        #: by lead, the older the larger (:meth:`_send`).
        self._sent_by_lead: list[Touches] = []
        self.first_run: Touches | None = None  # the first runs' planned touches, answered
        self.first_time = np.full(population.size, np.nan)
        self.first_priority = np.full(population.size, np.nan)
        self.first_rule = np.full(population.size, -1, dtype=np.int64)
        self.first_activity = np.full(population.size, -1, dtype=np.int64)
        self.first_since = np.full(population.size, np.nan)  # where the first run is judged from

    def _answers(self, lead: np.ndarray, time: np.ndarray, uniforms: np.ndarray) -> Touches:
        """The answers to uninterrupted runs' touches, cut at unsubscribes and sunsets.

        Each touch's answers depend only on its own draws and on earlier touches (fatigue), so
        cutting a run after a touch leaves the answers before it as they were.
        """
        touches = respond_to_touches(
            self.population, self.scenario.journeys, self.rates, lead, time, uniforms
        )
        return touches.select(self.cadence.running(touches.lead, touches.opened))

    def _send(self, touches: Touches) -> None:
        """Record ``touches`` (sorted by lead) as sent after those sent so far.

        :meth:`_earlier` searches every part of :attr:`_sent_by_lead`, and a run sends a
        part per recycling batch (about one a month): so a part joins the one before it
        while that one is not larger, a stable merge by lead (two sorted runs: linear), and
        a run keeps about log2(batches) parts. Each lead's touches stay in the order sent.
        """
        self.sent.append(touches)
        parts = self._sent_by_lead
        parts.append(touches)
        while len(parts) > 1 and len(parts[-2]) <= len(parts[-1]):
            merged = Touches.concatenate(parts[-2:])
            parts[-2:] = [merged.take(np.argsort(merged.lead, kind="stable"))]

    def _earlier(self, leads: np.ndarray) -> Touches:
        """The touches sent to ``leads`` (sorted) before now: their answers are part of the
        history. Found by bisection in each part of :attr:`_sent_by_lead`; a lead's touches
        come in the order sent, the leads' interleaved (only the events they cause are read,
        after sorting by lead and time)."""
        return Touches.concatenate([_touches_of(part, leads) for part in self._sent_by_lead])

    def _decide(
        self,
        leads: np.ndarray,
        since: np.ndarray,
        organic: EventLog,
        touches: Touches,
        earlier: Touches | None = None,
    ) -> Decision:
        """MQL time, priority, rule and activity of ``leads`` (sorted), whose organic events
        are ``organic`` and whose touches of this run are ``touches``; the MQL can only fire at
        an event at or after ``since``. The policy also sees the answers to ``earlier`` touches
        (history).
        """
        seen = touches if earlier is None else Touches.concatenate([earlier, touches])
        return self._qualify(leads, since, _merged_events(leads, organic, seen))

    def _qualify(
        self,
        leads: np.ndarray,
        since: np.ndarray,
        events: EventLog,
        memo: dict[str, Any] | None = None,
    ) -> Decision:
        """MQL time, priority, rule and activity of ``leads`` (sorted), whose events are
        ``events``; ``memo`` is the view's :attr:`~mqlsim.policies.base.LeadView.memo`. The
        rule is the code of the policy rule that fired (``rule_codes``); the activity the code
        of the event that made the lead MQL (-1: none), by which sales routes the MQL to a
        lane."""
        view = self.population.view(leads, events, since, memo)
        decision = self.policy.qualify(view)
        fired = decision.event >= 0
        activity = np.where(fired, events.activity[np.where(fired, decision.event, 0)], -1)
        return decision.time, decision.priority, rule_codes(decision), activity.astype(np.int64)

    def _record(self, leads: np.ndarray, touches: Touches, time: np.ndarray) -> Touches:
        """The touches of ``leads`` (sorted) really sent: those up to each one's MQL ``time``;
        marks the leads they unsubscribed."""
        # Sorted leads as many as the population are all of them: no search needed.
        everyone = leads.size == self.population.size
        local = touches.lead if everyone else np.searchsorted(leads, touches.lead)
        sent = touches.select(~(touches.time > time[local]))  # nan compares False
        self.unsubscribed[sent.lead[sent.unsubscribed]] = True
        return sent

    def first_mqls(self, stage: SharedStage) -> None:
        """Decide every lead's first MQL (``first_time``, ``first_priority``, ``first_rule``)
        on its journey from arrival (an existing lead: from the start of its drawn history),
        with its uninterrupted first run of touches (both from ``stage``)."""
        pop = self.population
        self.first_run = stage.first_run
        leads = np.arange(pop.size)
        since = history_start(pop, self.scenario.population.stock_history_days)
        decision = self._qualify(leads, since, stage.first_events, stage.memo)
        self.first_time, self.first_priority, self.first_rule, self.first_activity = decision
        self.first_since = since
        self._send(self._record(leads, self.first_run, self.first_time))

    def settle_before_start(
        self, floor: SalesFloor
    ) -> tuple[list[Scheduled], list[tuple[float, int, int]]]:
        """Play the MQLs of existing leads that fall before day 0, without a simulated queue.

        Before day 0 sales' work is taken as done at once, by the floor's own rules
        (:meth:`SalesFloor.settled_sqls`): an MQL that ends as an SQL takes the lead out of
        nurture for good, as it would in the run. Any other MQL is recycled at once, and
        nurture resumes after the cool-down, its next MQL decided as a recycled lead's, until
        it falls at or after day 0. Returns the MQLs due from day 0 on (:data:`Scheduled` rows,
        each with its pass) and the nurture runs still to resume then, as ``(time, lead,
        pass)``.
        """
        cooldown = self.scenario.nurture.recycle_cooldown_days
        leads = np.flatnonzero(self.first_time < 0)  # nan compares False
        mql_time = self.first_time[leads]
        activity = self.first_activity[leads]
        passes = np.zeros(leads.size, dtype=np.int64)
        due: list[Scheduled] = []
        resumes: list[tuple[float, int, int]] = []
        while leads.size:
            recycled = ~floor.settled_sqls(leads, passes, mql_time, activity)
            leads, passes, mql_time = leads[recycled], passes[recycled], mql_time[recycled]
            resume = mql_time + cooldown
            later = resume >= 0
            resumes += zip(
                resume[later].tolist(),
                leads[later].tolist(),
                (passes[later] + 1).tolist(),
                strict=True,
            )
            early = ~later
            leads, passes, resume = leads[early], passes[early] + 1, resume[early]
            if not leads.size:
                break
            times, priorities, rules, activities = self.resume(leads, passes, resume)
            starting = times >= 0
            due += zip(
                times[starting].tolist(),
                leads[starting].tolist(),
                passes[starting].tolist(),
                priorities[starting].tolist(),
                rules[starting].tolist(),
                activities[starting].tolist(),
                resume[starting].tolist(),
                strict=True,
            )
            again = times < 0
            leads, passes, mql_time = leads[again], passes[again], times[again]
            activity = activities[again]
        return sorted(due), resumes

    def refit(self, time: float, log: SalesLog) -> None:
        """Refit the policy on what has been observed by ``time``; if it changed, decide again
        the first MQL of every lead not yet MQL, at its events from ``time`` on."""
        assert isinstance(self.policy, Refittable) and self.first_run is not None
        if not self.policy.refit(time, self._history(time, log)):
            return
        pop = self.population
        leads = np.flatnonzero(~(self.first_time < time))  # nan: never MQL so far
        member = np.zeros(pop.size, dtype=bool)
        member[leads] = True
        touches = self.first_run.select(member[self.first_run.lead])
        since = np.maximum(pop.arrival[leads], time)
        organic = self.organic.take_leads(leads)
        mql_time, priority, rule, activity = self._decide(leads, since, organic, touches)
        self.first_time[leads], self.first_priority[leads] = mql_time, priority
        self.first_rule[leads], self.first_activity[leads] = rule, activity
        self.first_since[leads] = since
        # Not yet MQL means never recycled: their unsubscribes all come from the first run.
        self.unsubscribed[leads] = False
        recycled = self.sent[1:]
        self.sent, self._sent_by_lead = [], []
        for part in [self._record(np.arange(pop.size), self.first_run, self.first_time), *recycled]:
            self._send(part)

    def _history(self, time: float, log: SalesLog) -> History:
        """What has been observed by ``time``: the MQL episodes and outcomes in ``log``, and
        the activity up to ``time`` (organic, and answers to the touches sent) of every lead
        arrived by then. Sales logs each MQL episode when it is scheduled: those after ``time``
        are not observed yet."""
        record = SalesRecord.from_log(log)
        observed = record.mql_time <= time
        episode_lead = record.lead[observed]
        leads = np.flatnonzero(self.population.arrival <= time)  # every episode's lead too
        local = np.searchsorted(leads, episode_lead)
        organic = self.organic.take_leads(leads)
        touches = self._earlier(leads)
        answer_lead, answer_time, activity = touches.events()
        answers = EventLog.from_unsorted(
            np.searchsorted(leads, answer_lead), answer_time, activity, leads.size
        )
        events = EventLog.concatenate([organic, answers])
        view = self.population.view(
            leads, events.select(events.time <= time), self.population.arrival[leads]
        )
        sql = observed & (record.sql_time <= time)  # an SQL is known once its meeting is held
        return History(
            time=time,
            view=view,
            episode_lead=local,
            episode_mql_time=record.mql_time[observed],
            episode_sql_time=np.where(sql, record.sql_time, np.nan)[observed],
        )

    def resume(self, leads: np.ndarray, passes: np.ndarray, since: np.ndarray) -> Decision:
        """Recycled ``leads`` (sorted) start a new nurture run at ``since``: their next MQL
        (as :meth:`_qualify`).

        The policy sees their whole history but can fire only at or after ``since`` (whether
        the history counts is its choice); unsubscribed leads get no touches. Each lead's
        answers come from its own stream, keyed by lead and pass (:meth:`Streams.uniforms`).
        """
        organic = self.organic.take_leads(leads)
        local, time = planned_touches(
            self.cadence, self.clock, self.population, leads, since, self.horizon, organic
        )
        keep = ~self.unsubscribed[leads[local]]
        local, time = local[keep], time[keep]
        counts = np.bincount(local, minlength=leads.size)
        drawn = np.flatnonzero(counts)
        uniforms = [
            self.streams.uniforms(Purpose.RECYCLED_TOUCHES, (lead, pass_index), count)
            for lead, pass_index, count in zip(
                leads[drawn].tolist(), passes[drawn].tolist(), counts[drawn].tolist(), strict=True
            )
        ]
        uniforms_array = np.concatenate(uniforms) if uniforms else np.empty((0, 4))
        touches = self._answers(leads[local], time, uniforms_array)
        decision = self._decide(leads, since, organic, touches, self._earlier(leads))
        self._send(self._record(leads, touches, decision[0]))
        return decision


class Epochs:
    """The refit times of the run's policy (none unless it is refittable), and how many of the
    refits have been done; ``done`` fires after each one."""

    def __init__(self, env: simpy.Environment, times: list[float]) -> None:
        self.env = env
        self.times = times
        self.started = 0
        self.done = env.event()

    def next_start(self) -> float:
        """When the next epoch starts (inf: never)."""
        return self.times[self.started] if self.started < len(self.times) else math.inf

    def behind(self) -> bool:
        """Whether a refit is due by now but has not been done yet (it is due at this instant)."""
        return self.next_start() <= self.env.now

    def advance(self) -> None:
        """The next refit has been done: its epoch starts."""
        self.started += 1
        done, self.done = self.done, self.env.event()
        done.succeed()


class Episodes:
    """Hands MQLs to the sales floor, and keeps what the floor's log does not, in the order the
    log holds the episodes: the rule that made each one, and where the nurture run that ended
    in it began (what the policy judged it from). The floor routes each to its lane by the
    activity that made it."""

    def __init__(self, floor: SalesFloor) -> None:
        self.floor = floor
        self.rule: list[int] = []
        self.since: list[float] = []

    def schedule(
        self,
        times: list[float],
        leads: list[int],
        passes: list[int],
        priorities: list[float],
        rules: list[int],
        activities: list[int],
        since: list[float],
    ) -> None:
        """Each ``leads[i]`` becomes MQL at ``times[i]`` in its pass ``passes[i]`` by the rule
        ``rules[i]`` and the activity ``activities[i]``, in a run begun at ``since[i]`` (see
        :meth:`SalesFloor.schedule_mqls`)."""
        self.rule.extend(rules)
        self.since.extend(since)
        self.floor.schedule_mqls(times, leads, passes, priorities, activities)


class Recycler:
    """Brings recycled leads back to nurture and queues their next MQL (a SimPy process).

    Leads due back within :data:`RECYCLE_BATCH_DAYS` of the earliest are handled together, each
    from its own resume time, so batching changes nothing but speed. A batch never spans the
    start of an epoch, and waits for the refit due at its time: each lead is decided by the
    policy's version in force when it resumes.
    """

    def __init__(
        self, env: simpy.Environment, nurture: Nurture, cooldown_days: float, epochs: Epochs
    ) -> None:
        self.env = env
        self.nurture = nurture
        self.cooldown = cooldown_days
        self.epochs = epochs
        self.episodes: Episodes | None = None
        self._due: list[tuple[float, int, int]] = []  # heap of (resume time, lead, next pass)
        self._sleeping_until = math.inf
        self._wake = env.event()
        env.process(self._run())

    def resume_at(self, resumes: list[tuple[float, int, int]]) -> None:
        """Before the run starts: nurture runs due to resume at day 0 or later, as
        ``(time, lead, pass)`` (from :meth:`Nurture.settle_before_start`)."""
        self._due.extend(resumes)
        heapq.heapify(self._due)

    def recycle(self, lead: int, pass_index: int, time: float) -> None:
        """Sales ends ``lead``'s episode without an SQL at ``time`` (now, or later when a
        discovery meeting decides it): nurture it again after the cool-down."""
        resume = time + self.cooldown
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
            if self.epochs.behind():
                yield self.epochs.done
                continue
            self._sleeping_until = env.now
            batch = []
            end = min(earliest + RECYCLE_BATCH_DAYS, self.epochs.next_start())
            while self._due and self._due[0][0] < end:
                resume, lead, pass_index = heapq.heappop(self._due)
                batch.append((lead, pass_index, resume))
            self._schedule(np.array(sorted(batch), dtype=float))

    def _schedule(self, batch: np.ndarray) -> None:
        leads = batch[:, 0].astype(np.int64)
        passes = batch[:, 1].astype(np.int64)
        times, priorities, rules, activities = self.nurture.resume(leads, passes, batch[:, 2])
        mql = np.flatnonzero(np.isfinite(times))
        assert self.episodes is not None  # set before the run starts
        self.episodes.schedule(
            times[mql].tolist(),
            leads[mql].tolist(),
            passes[mql].tolist(),
            priorities[mql].tolist(),
            rules[mql].tolist(),
            activities[mql].tolist(),
            batch[mql, 2].tolist(),
        )


def _schedule_first_mqls(
    env: simpy.Environment, episodes: Episodes, nurture: Nurture, epochs: Epochs
):
    """Schedule first MQLs with sales, epoch by epoch (a SimPy process).

    At the start of each epoch after the first, the policy is refitted on what sales has seen
    by then and the leads not yet MQL are decided again: only the first MQLs inside the
    current epoch are ever scheduled, so a refit never has to take one back.
    """
    start = 0.0
    for end in [*epochs.times, math.inf]:
        times, priorities = nurture.first_time, nurture.first_priority
        due = np.flatnonzero((times >= start) & (times < end))
        due = due[np.argsort(times[due], kind="stable")]  # time order: cheapest for the queue
        episodes.schedule(
            times[due].tolist(),
            due.tolist(),
            [0] * due.size,
            priorities[due].tolist(),
            nurture.first_rule[due].tolist(),
            nurture.first_activity[due].tolist(),
            nurture.first_since[due].tolist(),
        )
        if math.isinf(end):
            return
        yield env.timeout(end - env.now)
        nurture.refit(end, episodes.floor.log)
        epochs.advance()
        start = end


def check_policy_sources(scenario: Scenario) -> None:
    """:class:`InputError` when the policy gives points to a source that is none of the
    scenario's channels (a misspelt channel would silently earn nothing). A replayed log's
    sources are its own, so `mqlsim replay` checks them against the log instead."""
    channels = [channel.name for channel in scenario.population.channels]
    unknown = sorted(scenario.policy.sources_named() - set(channels))
    if unknown:
        raise InputError(
            [
                f"policy: source {name!r} is not a channel of population.channels"
                f" ({', '.join(channels)}){did_you_mean(name, channels)}"
                for name in unknown
            ]
        )


def run_replication(
    scenario: Scenario, replication: int, stage: SharedStage | None = None
) -> ReplicationResult:
    """Simulate replication ``replication`` of ``scenario`` and measure it.

    ``stage`` is its :class:`SharedStage` if already computed (for this replication of a
    scenario with the same :func:`stage_key`); the result is the same, bit for bit.
    """
    meta = scenario.scenario
    if stage is None:
        stage = shared_stage(scenario, replication)
    elif (stage.key, stage.replication) != (stage_key(scenario), replication):
        raise ValueError("the shared stage belongs to another scenario or replication")
    streams = Streams(meta.seed, replication, stage.drawn)
    population = stage.population
    nurture = Nurture(scenario, stage, streams)
    policy = nurture.policy
    refittable = policy if isinstance(policy, Refittable) else None
    refit_times = refittable.refit_times(meta.horizon_days) if refittable is not None else []
    nurture.first_mqls(stage)
    del stage  # a stage made here is not kept: its merged log is not needed any more

    env = simpy.Environment()
    epochs = Epochs(env, refit_times)
    recycler = Recycler(env, nurture, scenario.nurture.recycle_cooldown_days, epochs)
    floor = SalesFloor(env, scenario.sales, population, streams, recycler.recycle)
    due, resumes = nurture.settle_before_start(floor)
    episodes = Episodes(floor)
    recycler.episodes = episodes
    recycler.resume_at(resumes)
    if due:
        episodes.schedule(*(list(column) for column in zip(*due, strict=True)))
    env.process(_schedule_first_mqls(env, episodes, nurture, epochs))
    env.run(until=meta.horizon_days)
    floor.close(meta.horizon_days)

    sales = SalesRecord.from_log(floor.log)
    episode_rule = np.array(episodes.rule, dtype=np.int64)[sales.log_episode]
    episode_since = np.array(episodes.since, dtype=float)[sales.log_episode]
    touches = Touches.concatenate(nurture.sent)
    states = final_states(nurture.unsubscribed, sales)
    metrics = compute_metrics(
        scenario, population, sales, touches, nurture.unsubscribed, floor.calendar
    )
    segmentation = Segmentation.of(scenario, population, sales, episode_rule, nurture.rule_names)
    segments = segment_metrics(scenario, population, sales, nurture.unsubscribed, segmentation)
    return ReplicationResult(
        metrics=metrics,
        population=population,
        organic=nurture.organic,
        touches=touches,
        sales=sales,
        final_state=states,
        policy=policy,
        segments=segments,
        stationarity=stationarity_drifts(scenario, sales, floor.calendar),
        episode_rule=episode_rule,
        episode_since=episode_since,
        rule_names=nurture.rule_names,
        first_mql_time=nurture.first_time,
        policy_report=refittable.report() if refittable is not None else None,
    )
