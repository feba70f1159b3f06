"""The metrics of docs/metrics.md, computed from one replication's records.

Measured period: ``[warmup_days, horizon_days)``. Conventions (also in ``docs/model.md``):

* Funnel stages count distinct leads over the MQL episodes that *started* in the period, so
  ``mqls >= sals >= sqls >= opportunities >= deals_won`` holds by construction of the cohort.
* Window-based metrics (missed opportunities, recall) use the cohort of real buyers (in market,
  with budget and authority) whose buying window *closed* in the period.
* Rep hours count when they are spent; episodes still open at the horizon count in
  ``sales_hours`` but neither as wasted nor as productive.
* Speed to lead and SLA breaches are over MQL episodes of the period; an episode untouched at
  the horizon counts as a breach once the SLA (its lane's) has passed, and is left out of the
  means.
* Revenue counts when a deal closes: a won deal whose sales cycle ends after the horizon is an
  open opportunity (in ``pipeline_value``, not in ``deals_won`` or ``revenue_won``).
* Per-lane metrics are over the lane's MQL episodes of the period (an episode's lane is the
  lane the sales floor routed it to); their rates are shares of episodes, not of leads.
* Time to MQL is over leads that arrived during the run: an existing lead's first MQL may
  have come before it.

**Segments.** Every count, sum and rate metric of :data:`SEGMENT_METRICS` is also computed
per segment of each breakdown dimension (``--by``), by one function that the totals use too
(with a single segment), so a segment's numbers are defined exactly as the totals are. A
dimension labels either leads (channel, persona, grade: a lead's episodes, hours and missed
windows follow it) or MQL episodes (the policy's rule, the sales floor's lane): see
:class:`Segmentation`.

**Stationarity.** :func:`stationarity_drifts` fits a line to the weekly MQL events and the
weekly rep utilisation of the measured period and reports how far each drifts over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

import numpy as np

from mqlsim.core.metric_catalog import (
    DIMENSIONS,
    EPISODE_SEGMENT_METRICS,
    METRIC_NAMES,
    SEGMENT_METRICS,
)
from mqlsim.core.vocabulary import GRADES, LANES, UNKNOWN_GRADE_LABEL
from mqlsim.model.journeys import Touches
from mqlsim.model.population import Population
from mqlsim.model.sales import (
    HOURS_PER_DAY,
    SQL_OUTCOMES,
    LaneRules,
    Outcome,
    SalesLog,
    WorkingCalendar,
    deal_values,
)
from mqlsim.scenario.models import Scenario

DAYS_PER_YEAR = 365.0
#: Fewer whole weeks than this in the measured period: the stationarity check is not made.
MIN_WEEKS = 8
WEEK_DAYS = 7.0
#: :func:`distinct` marks values in a table of flags up to this size whatever their number.
_MARK_LIMIT = 1 << 24


@dataclass(frozen=True)
class SalesRecord:
    """The sales log as arrays: episodes, queue entries and stretches of rep work.

    Per episode: its lead, nurture pass, lane (an index into
    :data:`mqlsim.core.vocabulary.LANES`), MQL time, first touch, attempts made, the SDR's
    call (the SAL decision), the SQL (its discovery meeting), the close of its opportunity,
    when it left sales and how (``nan`` where it did not happen by the horizon).
    """

    lead: np.ndarray
    pass_index: np.ndarray
    lane: np.ndarray
    mql_time: np.ndarray
    first_touch: np.ndarray
    attempts: np.ndarray
    call_time: np.ndarray
    sql_time: np.ndarray
    close: np.ndarray
    end: np.ndarray
    outcome: np.ndarray
    queue_episode: np.ndarray
    queue_enter: np.ndarray
    queue_leave: np.ndarray
    work_episode: np.ndarray
    work_start: np.ndarray
    work_hours: np.ndarray
    #: Each episode's position in the log it was read from (the order MQLs were scheduled).
    log_episode: np.ndarray

    @classmethod
    def from_log(cls, log: SalesLog) -> SalesRecord:
        """Freeze a run's log in time order: episodes by MQL time, queue entries by the time
        they join the queue, work by its start (the sales floor logs each when it is
        scheduled, which can be earlier; ties keep the order logged), without what was
        logged for the log's ``horizon`` or later: an episode decided at a discovery meeting
        after it is still open, an opportunity closing after it is still open."""
        horizon = log.horizon
        mql_time = np.array(log.episode_mql_time, dtype=float)
        episodes = np.argsort(mql_time, kind="stable")
        episodes = episodes[mql_time[episodes] < log.horizon]
        renumber = np.full(mql_time.size, -1, dtype=np.int64)
        renumber[episodes] = np.arange(episodes.size)
        queue_enter = np.array(log.queue_enter, dtype=float)
        entries = np.argsort(queue_enter, kind="stable")
        entries = entries[queue_enter[entries] < log.horizon]
        work_start = np.array(log.work_start, dtype=float)
        stretches = np.argsort(work_start, kind="stable")
        stretches = stretches[work_start[stretches] < log.horizon]
        end = np.array(log.episode_end, dtype=float)[episodes]
        outcome = np.array(log.episode_outcome, dtype=np.int8)[episodes]
        sql_time = np.array(log.episode_sql, dtype=float)[episodes]
        close = np.array(log.episode_close, dtype=float)[episodes]
        undecided = end >= horizon  # decided at a meeting after the horizon
        outcome[undecided] = Outcome.OPEN
        end[undecided] = np.nan
        sql_time[undecided] = np.nan
        closing_later = ~(close < horizon)  # nan: no opportunity
        outcome[closing_later & (outcome > Outcome.OPPORTUNITY_OPEN)] = Outcome.OPPORTUNITY_OPEN
        close[closing_later] = np.nan
        return cls(
            lead=np.array(log.episode_lead, dtype=np.int64)[episodes],
            pass_index=np.array(log.episode_pass, dtype=np.int64)[episodes],
            lane=np.array(log.episode_lane, dtype=np.int8)[episodes],
            mql_time=mql_time[episodes],
            first_touch=np.array(log.episode_first_touch, dtype=float)[episodes],
            attempts=np.array(log.episode_attempts, dtype=np.int64)[episodes],
            call_time=np.array(log.episode_call, dtype=float)[episodes],
            sql_time=sql_time,
            close=close,
            end=end,
            outcome=outcome,
            queue_episode=renumber[np.array(log.queue_episode, dtype=np.int64)[entries]],
            queue_enter=queue_enter[entries],
            queue_leave=np.array(log.queue_leave, dtype=float)[entries],
            work_episode=renumber[np.array(log.work_episode, dtype=np.int64)[stretches]],
            work_start=work_start[stretches],
            work_hours=np.array(log.work_hours, dtype=float)[stretches],
            log_episode=episodes,
        )


class FinalState(IntEnum):
    """Where a lead stands at the horizon; every lead is in exactly one."""

    NURTURING = 0  # never MQL, still reachable by nurture
    UNSUBSCRIBED = 1  # never MQL, unsubscribed
    IN_SALES = 2  # its latest MQL is waiting or being worked
    RECYCLED = 3  # back in nurture after sales
    SQL_NO_OPPORTUNITY = 4
    LOST = 5
    WON = 6
    OPEN_OPPORTUNITY = 7  # an opportunity whose sales cycle had not closed


_STATE_OF_OUTCOME = {
    Outcome.OPEN: FinalState.IN_SALES,
    Outcome.AGED_OUT: FinalState.RECYCLED,
    Outcome.UNREACHED: FinalState.RECYCLED,
    Outcome.REJECTED: FinalState.RECYCLED,
    Outcome.NOT_SQL: FinalState.RECYCLED,
    Outcome.SQL_NO_OPPORTUNITY: FinalState.SQL_NO_OPPORTUNITY,
    Outcome.OPPORTUNITY_OPEN: FinalState.OPEN_OPPORTUNITY,
    Outcome.LOST: FinalState.LOST,
    Outcome.WON: FinalState.WON,
}


def distinct(values: np.ndarray, bound: int) -> np.ndarray:
    """The distinct ``values`` (whole numbers in ``[0, bound)``) in ascending order, as
    ``np.unique(values)`` gives them. Since numpy 2.3 ``np.unique`` hashes, which on a run's
    lead numbers is slow (3M leads: 0.9 s where marking the values seen takes 0.04 s); metrics
    call this a few dozen times a replication. Values are marked in a table of ``bound``
    flags, or sorted when the table would be much larger than the values."""
    if bound <= _MARK_LIMIT or bound <= 16 * values.size:
        seen = np.zeros(bound, dtype=bool)
        seen[values] = True
        return np.flatnonzero(seen)
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def latest_per_lead(lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(leads, index)``: each lead's last position in ``lead`` (episodes are in time order)."""
    leads, from_end = np.unique(lead[::-1], return_index=True)
    return leads, lead.size - 1 - from_end


def final_states(unsubscribed: np.ndarray, sales: SalesRecord) -> np.ndarray:
    """Each lead's :class:`FinalState`: from its latest episode, or from nurture if none."""
    state = np.where(unsubscribed, FinalState.UNSUBSCRIBED, FinalState.NURTURING).astype(np.int8)
    mapping = np.array([_STATE_OF_OUTCOME[Outcome(code)] for code in range(len(Outcome))])
    leads, latest = latest_per_lead(sales.lead)
    state[leads] = mapping[sales.outcome[latest]]
    return state


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` per segment, ``nan`` where the denominator is 0."""
    shared = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / shared, np.nan)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if values.size else float("nan")


def overlap(start: np.ndarray, end: np.ndarray, begin: float, finish: float) -> np.ndarray:
    """How much of each interval ``[start, end)`` lies inside ``[begin, finish)``."""
    return np.clip(np.minimum(end, finish) - np.maximum(start, begin), 0.0, None)


@dataclass(frozen=True)
class Segmentation:
    """The labels of each breakdown dimension, as codes into ``names[dimension]``.

    A dimension in ``lead_labels`` labels leads (one code per lead); one in ``episode_labels``
    labels MQL episodes (one code per episode of the :class:`SalesRecord`): the policy's rule
    that fired, and the sales floor's lane the episode was routed to.
    """

    names: dict[str, tuple[str, ...]]
    lead_labels: dict[str, np.ndarray]
    episode_labels: dict[str, np.ndarray]

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        pop: Population,
        sales: SalesRecord,
        episode_rule: np.ndarray,
        rule_names: tuple[str, ...],
    ) -> Segmentation:
        """Channel, persona and the grade marketing sees by lead; the policy's rule and the
        sales lane by episode.

        Labels come from the scenario, so every replication has the same ones; the grade has
        an ``unknown`` segment when the scenario hides fit fields.
        """
        config = scenario.population
        grades: tuple[str, ...] = GRADES
        if any(config.missing_field_probability.values()):
            grades = (*GRADES, UNKNOWN_GRADE_LABEL)
        names = {
            "channel": tuple(channel.name for channel in config.channels),
            "persona": tuple(persona.name for persona in config.personas),
            "grade": grades,
            "rule": rule_names,
            "lane": tuple(LANES),
        }
        assert tuple(names) == DIMENSIONS
        return cls(
            names=names,
            lead_labels={
                "channel": pop.channel.astype(np.int64),
                "persona": pop.persona.astype(np.int64),
                "grade": pop.observed_grade.astype(np.int64),
            },
            episode_labels={"rule": episode_rule, "lane": sales.lane.astype(np.int64)},
        )


@dataclass(frozen=True)
class _Period:
    """What every metric of one replication reads: its records, its measured period, each
    lead's deal value (:func:`~mqlsim.model.sales.deal_values`) and each episode's SLA
    deadline (its lane's)."""

    scenario: Scenario
    pop: Population
    sales: SalesRecord
    unsubscribed: np.ndarray
    begin: float
    horizon: float

    @cached_property
    def deal_value(self) -> np.ndarray:
        return deal_values(self.pop, self.scenario.sales)

    @cached_property
    def deadline(self) -> np.ndarray:
        sla_days = np.array(LaneRules.of(self.scenario.sales).sla_days)
        return self.sales.mql_time + sla_days[self.sales.lane]

    @cached_property
    def created(self) -> np.ndarray:
        return (self.pop.arrival >= self.begin) & (self.pop.arrival < self.horizon)

    @cached_property
    def in_period(self) -> np.ndarray:
        return (self.sales.mql_time >= self.begin) & (self.sales.mql_time < self.horizon)

    @cached_property
    def touched(self) -> np.ndarray:
        """Episodes of the period that sales touched."""
        return self.in_period & np.isfinite(self.sales.first_touch)

    @cached_property
    def breach_decided(self) -> np.ndarray:
        """Episodes of the period whose SLA is decided: touched, or untouched past the
        deadline."""
        touched = np.isfinite(self.sales.first_touch)
        return self.in_period & (touched | (self.deadline < self.horizon))

    @cached_property
    def breached(self) -> np.ndarray:
        """Whether each episode breached its SLA (an untouched one did, once decided)."""
        first_touch = self.sales.first_touch
        return np.where(np.isfinite(first_touch), first_touch > self.deadline, True)

    @cached_property
    def work_hours(self) -> np.ndarray:
        """Rep hours of each stretch of work spent inside the period."""
        sales = self.sales
        start = np.clip(sales.work_start, self.begin, self.horizon)
        end = np.clip(sales.work_start + sales.work_hours / HOURS_PER_DAY, self.begin, self.horizon)
        return (end - start) * HOURS_PER_DAY


def _segment_arrays(
    period: _Period, episode_label: np.ndarray, lead_label: np.ndarray | None, k: int
) -> dict[str, np.ndarray]:
    """Every metric of :data:`SEGMENT_METRICS` for ``k`` segments, as arrays of ``k`` values.

    ``episode_label`` gives each MQL episode's segment; ``lead_label`` each lead's, or is
    ``None`` for a dimension that labels episodes only (then the metrics about leads before
    their MQL, those not in :data:`EPISODE_SEGMENT_METRICS`, are ``nan``). Distinct leads are
    counted per segment: a lead whose episodes fall in two segments counts in both.
    """
    pop, sales, begin, horizon = period.pop, period.sales, period.begin, period.horizon
    deal_value = period.deal_value
    n = pop.size
    in_period = period.in_period
    outcome = sales.outcome
    sql = outcome >= Outcome.SQL_NO_OPPORTUNITY
    accepted = outcome >= Outcome.NOT_SQL
    won = outcome == Outcome.WON

    def pairs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (segment, lead) pairs of the period's episodes where ``mask`` holds."""
        chosen = in_period & mask
        pairs = distinct(episode_label[chosen] * n + sales.lead[chosen], k * n)
        return pairs // n, pairs % n

    def count(labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, minlength=k).astype(float)

    def total(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(labels, weights=weights, minlength=k).astype(float)

    def mean(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per segment, the mean of ``values`` over the episodes where ``mask`` holds."""
        return _ratios(total(episode_label[mask], values[mask]), count(episode_label[mask]))

    m: dict[str, np.ndarray] = {}
    mql_label, _ = pairs_of(np.ones_like(in_period))
    m["mqls"] = count(mql_label)
    m["mql_events"] = count(episode_label[in_period])
    m["sals"] = count(pairs_of(accepted)[0])
    m["sqls"] = count(pairs_of(sql)[0])
    opportunity_label, opportunity_lead = pairs_of(outcome >= Outcome.OPPORTUNITY_OPEN)
    won_label, won_lead = pairs_of(won)
    m["opportunities"] = count(opportunity_label)
    m["deals_won"] = count(won_label)
    m["mql_to_sal_rate"] = _ratios(m["sals"], m["mqls"])
    m["mql_to_sql_rate"] = _ratios(m["sqls"], m["mqls"])
    m["sql_to_won_rate"] = _ratios(m["deals_won"], m["sqls"])
    m["mql_to_won_rate"] = _ratios(m["deals_won"], m["mqls"])
    m["pipeline_value"] = total(opportunity_label, deal_value[opportunity_lead])
    m["revenue_won"] = total(won_label, deal_value[won_lead])

    # Rep hours, counted when spent, by the segment of the episode worked.
    hours = period.work_hours
    work_label = episode_label[sales.work_episode]
    episode_outcome = outcome[sales.work_episode]
    wasted = (episode_outcome != Outcome.OPEN) & ~np.isin(episode_outcome, SQL_OUTCOMES)
    m["sales_hours"] = total(work_label, hours)
    m["wasted_sales_hours"] = total(work_label[wasted], hours[wasted])

    m["days_mql_to_sal"] = mean(in_period & accepted, sales.call_time - sales.mql_time)
    m["days_sal_to_sql"] = mean(in_period & sql, sales.sql_time - sales.call_time)
    m["days_sql_to_won"] = mean(in_period & won, sales.close - sales.sql_time)
    m["speed_to_lead_hours"] = mean(
        period.touched, (sales.first_touch - sales.mql_time) * HOURS_PER_DAY
    )
    decided = period.breach_decided
    m["sla_breach_rate"] = _ratios(
        count(episode_label[decided & period.breached]), count(episode_label[decided])
    )
    m["aged_out_rate"] = _ratios(
        count(episode_label[in_period & (outcome == Outcome.AGED_OUT)]), m["mql_events"]
    )

    lead, mql_time = sales.lead[in_period], sales.mql_time[in_period]
    in_market_then = (
        pop.buyer[lead] & (mql_time >= pop.window_start[lead]) & (mql_time < pop.window_end[lead])
    )
    m["mql_precision"] = _ratios(count(episode_label[in_period][in_market_then]), m["mql_events"])

    if lead_label is None:
        for name in SEGMENT_METRICS:
            if name not in EPISODE_SEGMENT_METRICS:
                m[name] = np.full(k, np.nan)
        return m

    created = period.created
    m["leads"] = count(lead_label[created])
    m["lead_to_mql_rate"] = _ratios(m["mqls"], m["leads"])
    m["unsubscribe_rate"] = _ratios(count(lead_label[created & period.unsubscribed]), m["leads"])
    missed = _missed_opportunities(pop, sales, begin, horizon)
    cohort = lead_label[missed.cohort]
    for name, flags in missed.causes().items():
        m[name] = count(cohort[flags])
    m["lost_pipeline_value"] = total(
        cohort[missed.missed], deal_value[missed.cohort[missed.missed]]
    )
    m["mql_recall"] = _ratios(count(cohort[missed.qualified_in_window]), count(cohort))
    first = in_period & (sales.pass_index == 0) & (pop.arrival[sales.lead] >= 0)
    first_lead = sales.lead[first]
    time_to_mql = sales.mql_time[first] - pop.arrival[first_lead]
    m["time_to_mql_days"] = _ratios(
        total(lead_label[first_lead], time_to_mql), count(lead_label[first_lead])
    )
    return m


def compute_metrics(
    scenario: Scenario,
    pop: Population,
    sales: SalesRecord,
    touches: Touches,
    unsubscribed: np.ndarray,
    calendar: WorkingCalendar,
) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one replication."""
    meta = scenario.scenario
    begin, horizon = meta.warmup_days, meta.horizon_days
    period_days = horizon - begin
    period = _Period(scenario, pop, sales, unsubscribed, begin, horizon)
    one = np.zeros(sales.lead.size, dtype=np.int64)
    totals = _segment_arrays(period, one, np.zeros(pop.size, dtype=np.int64), 1)
    m: dict[str, float] = {name: float(values[0]) for name, values in totals.items()}

    in_period, outcome = period.in_period, sales.outcome
    won = outcome == Outcome.WON
    closed = won | (outcome == Outcome.LOST)
    opportunity_leads = distinct(
        sales.lead[in_period & (outcome >= Outcome.OPPORTUNITY_OPEN)], pop.size
    )
    cycle_days = (sales.close - sales.sql_time)[in_period & closed]
    m["pipeline_velocity"] = _ratio(
        m["opportunities"]
        * _ratio(float((in_period & won).sum()), float((in_period & closed).sum()))
        * _mean(period.deal_value[opportunity_leads]),
        _mean(cycle_days),
    )

    # Utilisation: a rep finishes a task begun before the end of the day, so time at work is
    # the shifts plus that overtime, and utilisation stays a share.
    work_start = np.clip(sales.work_start, begin, horizon)
    work_end = np.clip(sales.work_start + sales.work_hours / HOURS_PER_DAY, begin, horizon)
    worked = float(period.work_hours.sum())
    overtime = worked - calendar.working_hours(work_start, work_end).sum()
    shifts = scenario.sales.reps * calendar.working_hours(np.array([begin]), np.array([horizon]))
    # Hours worked inside shifts never exceed the shifts, so time at work is at least the hours
    # worked; sums in another order can break that by a rounding error, which is all max undoes.
    at_work = max(float(shifts[0] + overtime), worked)
    m["rep_utilization"] = _ratio(worked, at_work)

    first = in_period & (sales.pass_index == 0) & (pop.arrival[sales.lead] >= 0)
    m["time_to_mql_days_median"] = _quantile(
        sales.mql_time[first] - pop.arrival[sales.lead[first]], 0.5
    )
    won_episodes = in_period & won
    m["days_mql_to_won_median"] = _quantile(
        sales.close[won_episodes] - sales.mql_time[won_episodes], 0.5
    )
    touched = period.touched
    speed = (sales.first_touch[touched] - sales.mql_time[touched]) * HOURS_PER_DAY
    m["speed_to_lead_hours_median"] = _quantile(speed, 0.5)
    m["speed_to_lead_hours_p90"] = _quantile(speed, 0.9)

    # Queue: waits of entries made in the period (censored at the horizon); time-average length.
    leave = np.where(np.isnan(sales.queue_leave), horizon, sales.queue_leave)
    entered = (sales.queue_enter >= begin) & (sales.queue_enter < horizon)
    m["queue_wait_hours"] = _mean((leave[entered] - sales.queue_enter[entered]) * HOURS_PER_DAY)
    m["queue_length"] = float(overlap(sales.queue_enter, leave, begin, horizon).sum() / period_days)

    spend = _marketing_spend(scenario, pop, touches, period.created, begin, horizon)
    m["cost_per_mql"] = _ratio(spend, m["mqls"])
    m["cost_per_sql"] = _ratio(spend, m["sqls"])
    costs = scenario.costs
    m["marketing_cost"] = spend
    m["sales_cost"] = (
        scenario.sales.reps * costs.cost_per_rep_per_year * period_days / DAYS_PER_YEAR
        + costs.cost_per_mql_worked * float(touched.sum())
    )
    m["net_revenue"] = m["revenue_won"] - m["marketing_cost"] - m["sales_cost"]

    lane_metrics = _segment_arrays(period, sales.lane.astype(np.int64), None, len(LANES))
    for index, name in enumerate(LANES):
        lane = in_period & (sales.lane == index)
        lane_touched = lane & np.isfinite(sales.first_touch)
        lane_speed = (
            sales.first_touch[lane_touched] - sales.mql_time[lane_touched]
        ) * HOURS_PER_DAY
        events = float(lane.sum())
        m[f"{name}_mql_events"] = events
        m[f"{name}_speed_to_lead_hours_median"] = _quantile(lane_speed, 0.5)
        m[f"{name}_sla_breach_rate"] = float(lane_metrics["sla_breach_rate"][index])
        sql = lane & (outcome >= Outcome.SQL_NO_OPPORTUNITY)
        m[f"{name}_sql_rate"] = _ratio(float(sql.sum()), events)
        m[f"{name}_won_rate"] = _ratio(float((lane & won).sum()), events)
    return {name: float(m[name]) for name in METRIC_NAMES}


def segment_metrics(
    scenario: Scenario,
    pop: Population,
    sales: SalesRecord,
    unsubscribed: np.ndarray,
    segmentation: Segmentation,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{dimension: {segment: {metric: value}}}`` for every dimension of ``segmentation`` and
    every metric of :data:`SEGMENT_METRICS`, over the measured period."""
    meta = scenario.scenario
    period = _Period(scenario, pop, sales, unsubscribed, meta.warmup_days, meta.horizon_days)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for dimension, names in segmentation.names.items():
        lead_label = segmentation.lead_labels.get(dimension)
        if lead_label is not None:
            episode_label = lead_label[sales.lead]
        else:
            episode_label = segmentation.episode_labels[dimension]
        arrays = _segment_arrays(period, episode_label, lead_label, len(names))
        result[dimension] = {
            label: {name: float(arrays[name][code]) for name in SEGMENT_METRICS}
            for code, label in enumerate(names)
        }
    return result


def _drift(values: np.ndarray) -> tuple[float, float]:
    """How far a line fitted to ``values`` (one per week) moves from the first week to the
    last, as a share of their mean, and its standard error.

    The error is the least-squares one, widened for the lag-1 autocorrelation ``rho`` of the
    residuals by ``(1 + rho) / (1 - rho)`` (weekly counts of a queueing system are not
    independent); ``nan`` for a series without a positive mean.
    """
    weeks = values.size
    mean = float(values.mean())
    if weeks < MIN_WEEKS or not mean > 0:
        return math.nan, math.nan
    x = np.arange(weeks) - (weeks - 1) / 2.0
    sxx = float((x * x).sum())
    slope = float((x * (values - mean)).sum()) / sxx
    residual = values - mean - slope * x
    variance = float((residual * residual).sum()) / (weeks - 2)
    lagged = float((residual[1:] * residual[:-1]).sum())
    rho = lagged / float((residual * residual).sum()) if variance > 0 else 0.0
    rho = min(max(rho, 0.0), 0.95)
    slope_error = math.sqrt(variance / sxx * (1.0 + rho) / (1.0 - rho))
    span = weeks - 1
    return slope * span / mean, slope_error * span / mean


def weekly_series(
    scenario: Scenario, sales: SalesRecord, calendar: WorkingCalendar
) -> dict[str, np.ndarray]:
    """The weekly MQL events and rep utilisation over the whole weeks of the measured period
    (a stretch of work counts in the week it starts; utilisation is against the shifts)."""
    meta = scenario.scenario
    begin = meta.warmup_days
    weeks = int((meta.horizon_days - begin) // WEEK_DAYS)
    end = begin + weeks * WEEK_DAYS

    def per_week(times: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        inside = (times >= begin) & (times < end)
        week = ((times[inside] - begin) // WEEK_DAYS).astype(np.int64)
        chosen = None if weights is None else weights[inside]
        return np.bincount(week, weights=chosen, minlength=weeks).astype(float)

    starts = begin + WEEK_DAYS * np.arange(weeks)
    shifts = scenario.sales.reps * calendar.working_hours(starts, starts + WEEK_DAYS)
    hours = per_week(sales.work_start, sales.work_hours)
    return {
        "mql_events": per_week(sales.mql_time),
        "rep_utilization": _ratios(hours, shifts),
    }


def stationarity_drifts(
    scenario: Scenario, sales: SalesRecord, calendar: WorkingCalendar
) -> dict[str, dict[str, float]]:
    """Per weekly series of :func:`weekly_series`: its ``drift`` over the measured period (the
    fitted line's change from the first to the last week, as a share of the mean), the
    drift's standard error ``error`` and the number of ``weeks`` (``nan`` drifts with fewer
    than :data:`MIN_WEEKS`)."""
    result = {}
    for name, values in weekly_series(scenario, sales, calendar).items():
        drift, error = _drift(np.nan_to_num(values))
        result[name] = {"drift": drift, "error": error, "weeks": float(values.size)}
    return result


def _marketing_spend(
    scenario: Scenario,
    pop: Population,
    touches: Touches,
    created: np.ndarray,
    begin: float,
    horizon: float,
) -> float:
    channel_cost = np.array([c.cost_per_lead for c in scenario.population.channels])
    touches_in_period = ((touches.time >= begin) & (touches.time < horizon)).sum()
    return float(
        channel_cost[pop.channel[created]].sum()
        + scenario.costs.fixed_marketing_cost_per_day * (horizon - begin)
        + scenario.costs.cost_per_touch * touches_in_period
    )


@dataclass(frozen=True)
class _Missed:
    """The buyers whose window closed in the period (``cohort``, lead numbers) and, for each,
    how their window went."""

    cohort: np.ndarray
    missed: np.ndarray
    never: np.ndarray
    too_late: np.ndarray
    waited: np.ndarray
    not_reached: np.ndarray
    qualified_in_window: np.ndarray

    def causes(self) -> dict[str, np.ndarray]:
        """The metric of each flag: the total and its causes, which partition it."""
        return {
            "missed_opportunities": self.missed,
            "missed_never_mql": self.never,
            "missed_mql_too_late": self.too_late,
            "missed_waited_in_queue": self.waited,
            "missed_not_reached": self.not_reached,
        }


def _missed_opportunities(
    pop: Population, sales: SalesRecord, begin: float, horizon: float
) -> _Missed:
    """Missed buyers by cause, over windows closing in the period.

    A missed buyer's cause, judged at its window's close: no MQL inside the window and none
    after it → ``never_mql``; an MQL only after the window → ``mql_too_late``; its latest MQL
    inside the window not yet touched by sales at the close → ``waited_in_queue``; otherwise
    sales worked it but did not reach, accept or qualify it → ``not_reached``.
    """
    cohort = np.flatnonzero(pop.buyer & (pop.window_end >= begin) & (pop.window_end < horizon))
    start, end = pop.window_start[sales.lead], pop.window_end[sales.lead]
    in_window = (sales.mql_time >= start) & (sales.mql_time < end)
    after_window = (sales.mql_time >= end) & (sales.mql_time < horizon)
    converted = np.isin(sales.outcome, SQL_OUTCOMES)

    def leads_with(mask: np.ndarray) -> np.ndarray:
        return np.isin(cohort, sales.lead[mask])

    qualified_in_window = leads_with(in_window)
    won_over = leads_with(converted)
    latest = np.full(pop.size, -1, dtype=np.int64)
    episodes = np.flatnonzero(in_window)
    leads, last = latest_per_lead(sales.lead[episodes])
    latest[leads] = episodes[last]
    latest_cohort = latest[cohort]
    touch = np.full(cohort.size, np.inf)
    has_latest = latest_cohort >= 0
    first_touch = sales.first_touch[latest_cohort[has_latest]]
    touch[has_latest] = np.where(np.isnan(first_touch), np.inf, first_touch)

    missed = ~won_over
    never = missed & ~qualified_in_window
    too_late = never & leads_with(after_window)
    waited = missed & qualified_in_window & (touch >= pop.window_end[cohort])
    return _Missed(
        cohort=cohort,
        missed=missed,
        never=never & ~too_late,
        too_late=too_late,
        waited=waited,
        not_reached=missed & qualified_in_window & ~waited,
        qualified_in_window=qualified_in_window,
    )
