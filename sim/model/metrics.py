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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.core.vocabulary import LANES
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


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if values.size else float("nan")


def overlap(start: np.ndarray, end: np.ndarray, begin: float, finish: float) -> np.ndarray:
    """How much of each interval ``[start, end)`` lies inside ``[begin, finish)``."""
    return np.clip(np.minimum(end, finish) - np.maximum(start, begin), 0.0, None)


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
    deal_value = deal_values(pop, scenario.sales)
    m: dict[str, float] = {}

    created = (pop.arrival >= begin) & (pop.arrival < horizon)
    m["leads"] = float(created.sum())

    in_period = (sales.mql_time >= begin) & (sales.mql_time < horizon)
    outcome = sales.outcome
    sql = outcome >= Outcome.SQL_NO_OPPORTUNITY
    accepted = outcome >= Outcome.NOT_SQL
    opportunity = outcome >= Outcome.OPPORTUNITY_OPEN
    won = outcome == Outcome.WON
    closed = won | (outcome == Outcome.LOST)

    def distinct(mask: np.ndarray) -> np.ndarray:
        return np.unique(sales.lead[in_period & mask])

    mql_leads = distinct(np.ones_like(in_period))
    opportunity_leads = distinct(opportunity)
    won_leads = distinct(won)
    m["mqls"] = float(mql_leads.size)
    m["mql_events"] = float(in_period.sum())
    m["sals"] = float(distinct(accepted).size)
    m["sqls"] = float(distinct(sql).size)
    m["opportunities"] = float(opportunity_leads.size)
    m["deals_won"] = float(won_leads.size)
    m["lead_to_mql_rate"] = _ratio(m["mqls"], m["leads"])
    m["mql_to_sal_rate"] = _ratio(m["sals"], m["mqls"])
    m["mql_to_sql_rate"] = _ratio(m["sqls"], m["mqls"])
    m["sql_to_won_rate"] = _ratio(m["deals_won"], m["sqls"])
    m["pipeline_value"] = float(deal_value[opportunity_leads].sum())
    m["revenue_won"] = float(deal_value[won_leads].sum())
    cycle_days = (sales.close - sales.sql_time)[in_period & closed]
    m["pipeline_velocity"] = _ratio(
        m["opportunities"]
        * _ratio(float((in_period & won).sum()), float((in_period & closed).sum()))
        * _mean(deal_value[opportunity_leads]),
        _mean(cycle_days),
    )

    # Rep hours, counted when spent. A rep finishes a task begun before the end of the day, so
    # time at work is the shifts plus that overtime, and utilisation stays a share.
    work_start = np.clip(sales.work_start, begin, horizon)
    work_end = np.clip(sales.work_start + sales.work_hours / HOURS_PER_DAY, begin, horizon)
    hours = (work_end - work_start) * HOURS_PER_DAY
    episode_outcome = outcome[sales.work_episode]
    wasted = (episode_outcome != Outcome.OPEN) & ~np.isin(episode_outcome, SQL_OUTCOMES)
    m["sales_hours"] = float(hours.sum())
    m["wasted_sales_hours"] = float(hours[wasted].sum())
    overtime = hours.sum() - calendar.working_hours(work_start, work_end).sum()
    shifts = scenario.sales.reps * calendar.working_hours(np.array([begin]), np.array([horizon]))
    m["rep_utilization"] = _ratio(m["sales_hours"], float(shifts[0] + overtime))

    m.update(_missed_opportunities(pop, deal_value, sales, begin, horizon))

    first = in_period & (sales.pass_index == 0)
    time_to_mql = sales.mql_time[first] - pop.arrival[sales.lead[first]]
    m["time_to_mql_days"] = _mean(time_to_mql)
    m["time_to_mql_days_median"] = _quantile(time_to_mql, 0.5)
    m["days_mql_to_sal"] = _mean((sales.call_time - sales.mql_time)[in_period & accepted])
    m["days_sal_to_sql"] = _mean((sales.sql_time - sales.call_time)[in_period & sql])
    m["days_sql_to_won"] = _mean((sales.close - sales.sql_time)[in_period & won])

    touched = in_period & np.isfinite(sales.first_touch)
    speed = (sales.first_touch[touched] - sales.mql_time[touched]) * HOURS_PER_DAY
    m["speed_to_lead_hours"] = _mean(speed)
    m["speed_to_lead_hours_median"] = _quantile(speed, 0.5)
    m["speed_to_lead_hours_p90"] = _quantile(speed, 0.9)
    lanes = LaneRules.of(scenario.sales)
    deadline = sales.mql_time + np.array(lanes.sla_days)[sales.lane]
    breached = np.where(np.isfinite(sales.first_touch), sales.first_touch > deadline, True)
    decided = in_period & (np.isfinite(sales.first_touch) | (deadline < horizon))
    m["sla_breach_rate"] = _ratio(float((decided & breached).sum()), float(decided.sum()))
    aged_out = outcome == Outcome.AGED_OUT
    m["aged_out_rate"] = _ratio(float((in_period & aged_out).sum()), m["mql_events"])

    # Queue: waits of entries made in the period (censored at the horizon); time-average length.
    leave = np.where(np.isnan(sales.queue_leave), horizon, sales.queue_leave)
    entered = (sales.queue_enter >= begin) & (sales.queue_enter < horizon)
    m["queue_wait_hours"] = _mean((leave[entered] - sales.queue_enter[entered]) * HOURS_PER_DAY)
    m["queue_length"] = float(overlap(sales.queue_enter, leave, begin, horizon).sum() / period_days)

    spend = _marketing_spend(scenario, pop, touches, created, begin, horizon)
    m["cost_per_mql"] = _ratio(spend, m["mqls"])
    m["cost_per_sql"] = _ratio(spend, m["sqls"])
    costs = scenario.costs
    m["marketing_cost"] = spend
    m["sales_cost"] = (
        scenario.sales.reps * costs.cost_per_rep_per_year * period_days / DAYS_PER_YEAR
        + costs.cost_per_mql_worked * float(touched.sum())
    )
    m["net_revenue"] = m["revenue_won"] - m["marketing_cost"] - m["sales_cost"]
    m["unsubscribe_rate"] = _ratio(float((created & unsubscribed).sum()), m["leads"])

    lead = sales.lead[in_period]
    mql_time = sales.mql_time[in_period]
    in_market_then = (
        pop.buyer[lead] & (mql_time >= pop.window_start[lead]) & (mql_time < pop.window_end[lead])
    )
    m["mql_precision"] = _ratio(float(in_market_then.sum()), m["mql_events"])

    for index, name in enumerate(LANES):
        lane = in_period & (sales.lane == index)
        events = float(lane.sum())
        lane_touched = lane & np.isfinite(sales.first_touch)
        lane_speed = (
            sales.first_touch[lane_touched] - sales.mql_time[lane_touched]
        ) * HOURS_PER_DAY
        m[f"{name}_mql_events"] = events
        m[f"{name}_speed_to_lead_hours_median"] = _quantile(lane_speed, 0.5)
        m[f"{name}_sla_breach_rate"] = _ratio(
            float((lane & decided & breached).sum()), float((lane & decided).sum())
        )
        m[f"{name}_sql_rate"] = _ratio(float((lane & sql).sum()), events)
        m[f"{name}_won_rate"] = _ratio(float((lane & won).sum()), events)
    return {name: float(m[name]) for name in METRIC_NAMES}


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


def _missed_opportunities(
    pop: Population, deal_value: np.ndarray, sales: SalesRecord, begin: float, horizon: float
) -> dict[str, float]:
    """Missed buyers by cause, lost pipeline, and recall, over windows closing in the period.

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
    not_reached = missed & qualified_in_window & ~waited
    return {
        "missed_opportunities": float(missed.sum()),
        "missed_never_mql": float((never & ~too_late).sum()),
        "missed_mql_too_late": float(too_late.sum()),
        "missed_waited_in_queue": float(waited.sum()),
        "missed_not_reached": float(not_reached.sum()),
        "lost_pipeline_value": float(deal_value[cohort[missed]].sum()),
        "mql_recall": _ratio(float(qualified_in_window.sum()), float(cohort.size)),
    }
