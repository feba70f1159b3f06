"""A simulated run's records in the shape of a CRM export: the activity log `mqlsim replay`
reads, and a lifecycle export of what became of every lead (docs/replay.md, "A log whose truth
is known").

A backtest on real data can never be checked against the truth; on the simulator's own records
it can. One replication is recorded:

* ``events``: every event marketing observed (organic activity and the answers to the nurture
  touches sent), one row each, with the lead's source (its channel) and fit on every row;
* ``lifecycle``: one row per lead, with HubSpot's column names
  (:class:`~mqlsim.experiments.lifecycle.LifecycleColumns`): created at its arrival, its source,
  the date of its first MQL and of the first time sales took it to each later stage, and its
  deal value when it became an opportunity. The simulator decides SAL, SQL, opportunity and
  won at the qualification call, so those stages share the call's end as their date.

Day 0 of the simulation is :data:`EPOCH` (a Monday, as the simulator's day 0 is); times are
written to the microsecond, in UTC. Lead ids are ``lead-<index>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.core.vocabulary import ACTIVITIES, FIT_ATTRIBUTES
from mqlsim.experiments.lifecycle import LifecycleColumns
from mqlsim.model.engine import ReplicationResult, check_policy_sources, run_replication
from mqlsim.model.sales import Outcome
from mqlsim.scenario.models import Scenario

#: The date and time of the simulation's day 0 (a Monday, midnight UTC).
EPOCH = np.datetime64("2025-01-06T00:00:00", "us")
#: The episode outcomes at which a lead has reached each stage after the MQL.
_REACHED_BY: dict[str, tuple[Outcome, ...]] = {
    "sal": (Outcome.NOT_SQL, Outcome.SQL_NO_OPPORTUNITY, Outcome.LOST, Outcome.WON),
    "sql": (Outcome.SQL_NO_OPPORTUNITY, Outcome.LOST, Outcome.WON),
    "opportunity": (Outcome.LOST, Outcome.WON),
    "customer": (Outcome.WON,),
}


@dataclass(frozen=True)
class Recording:
    """The two tables of a recorded replication, as columns of strings (header -> values)."""

    events: dict[str, np.ndarray]
    lifecycle: dict[str, np.ndarray]


def stamps(days: np.ndarray) -> np.ndarray:
    """Simulation days as UTC timestamps to the microsecond (empty where ``nan``)."""
    known = np.isfinite(days)
    micros = np.round(np.where(known, days, 0.0) * 86_400e6).astype(np.int64)
    text = np.datetime_as_string(EPOCH + micros.astype("timedelta64[us]"), timezone="UTC")
    return np.where(known, text, "")


def _fit_values(result: ReplicationResult, leads: np.ndarray) -> dict[str, np.ndarray]:
    """The fit columns of ``leads`` as text (empty where undisclosed)."""
    columns = {}
    for name, values in FIT_ATTRIBUTES.items():
        codes = result.population.fit[name][leads]
        columns[name] = np.where(codes >= 0, np.array(values)[np.maximum(codes, 0)], "")
    return columns


def record(result: ReplicationResult) -> Recording:
    """The activity log and the lifecycle export of one replication's result."""
    pop, sales = result.population, result.sales
    channel = np.array(pop.channel_names)[pop.channel]
    lead_id = np.char.add("lead-", np.arange(pop.size).astype(str))
    events = result.observed_events()
    events_table = {
        "lead_id": lead_id[events.lead],
        "timestamp": stamps(events.time),
        "activity": np.array(ACTIVITIES)[events.activity],
        "source": channel[events.lead],
        **_fit_values(result, events.lead),
    }
    names = LifecycleColumns()
    first_mql = np.full(pop.size, np.nan)
    np.fmin.at(first_mql, sales.lead, sales.mql_time)
    # An existing lead that was MQL before the run (day 0) has no sales record of it.
    before_start = result.first_mql_time < 0
    first_mql[before_start] = result.first_mql_time[before_start]
    lifecycle = {
        names.lead_id: lead_id,
        names.created: stamps(pop.arrival),
        names.source: channel,
        names.mql: stamps(first_mql),
    }
    opportunity = np.zeros(pop.size, dtype=bool)
    for stage, outcomes in _REACHED_BY.items():
        reached = np.isin(sales.outcome, outcomes)
        at = np.full(pop.size, np.nan)
        np.fmin.at(at, sales.lead[reached], sales.end[reached])
        lifecycle[names.stage_column(stage)] = stamps(at)
        if stage == "opportunity":
            opportunity = np.isfinite(at)
    lifecycle[names.deal_value] = np.where(opportunity, np.round(pop.deal_value, 2).astype(str), "")
    return Recording(events_table, lifecycle)


def record_replication(scenario: Scenario, replication: int = 0) -> Recording:
    """Run replication ``replication`` of ``scenario`` and record it."""
    if not 0 <= replication < scenario.scenario.replications:
        raise InputError(
            f"replication {replication}: expected 0 to {scenario.scenario.replications - 1}"
        )
    check_policy_sources(scenario)
    return record(run_replication(scenario, replication))
