"""`mqlsim explain`: why each lead became MQL in a simulated run, and what sales made of it.

Every MQL carries a reason, written by the policy that made it (the same ``explain`` that
`mqlsim replay` uses). A reason is rebuilt after the run from what the policy saw: the lead's
observed activity, its fit, and where its current nurture run began (its arrival, its return
after a recycle, or the start of an existing lead's history; the run records it per episode).
That is exact because a decision depends only on the events up to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.model.engine import ReplicationResult, check_policy_sources, run_replication
from mqlsim.model.sales import Outcome
from mqlsim.scenario.models import Scenario


@dataclass(frozen=True)
class MqlReason:
    """One MQL episode: which lead, its pass (0 = first MQL), when, how it ended, and why."""

    lead: int
    pass_index: int
    mql_day: float
    outcome: str
    reason: str


def mql_reasons(
    scenario: Scenario, result: ReplicationResult, episodes: np.ndarray
) -> list[MqlReason]:
    """The reasons of ``episodes`` (indices into ``result.sales``), from the run's own policy."""
    events = result.observed_events()
    pop, sales = result.population, result.sales
    since = result.episode_since
    reasons = []
    for episode in episodes:
        lead = int(sales.lead[episode])
        view = pop.view(np.arange(pop.size), events, pop.arrival)
        single = view.subset(np.array([lead])).with_since(np.array([since[episode]]))
        reasons.append(
            MqlReason(
                lead=lead,
                pass_index=int(sales.pass_index[episode]),
                mql_day=float(sales.mql_time[episode]),
                outcome=Outcome(int(sales.outcome[episode])).name.lower(),
                reason=result.policy.explain(single, 0),
            )
        )
    return reasons


def explain_run(
    scenario: Scenario,
    replication: int = 0,
    leads: Sequence[int] = (),
    limit: int | None = 20,
) -> list[MqlReason]:
    """Run one replication and give its MQL episodes with reasons, in time order.

    ``leads`` keeps only those leads' episodes; ``limit`` keeps the first ones (``None``: all).
    """
    if not 0 <= replication < scenario.scenario.replications:
        raise InputError(
            f"replication {replication}: expected 0 to {scenario.scenario.replications - 1}"
        )
    if limit is not None and limit < 1:
        raise InputError(f"limit {limit}: expected a positive number, or None for all")
    check_policy_sources(scenario)
    result = run_replication(scenario, replication)
    episodes = np.arange(result.sales.lead.size)
    if leads:
        episodes = episodes[np.isin(result.sales.lead, list(leads))]
    if limit is not None:
        episodes = episodes[:limit]
    return mql_reasons(scenario, result, episodes)
