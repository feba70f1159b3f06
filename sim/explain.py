"""`mqlsim explain`: why each lead became MQL in a simulated run, and what sales made of it.

Every MQL carries a reason, written by the policy that made it (the same ``explain`` that
`mqlsim replay` uses). A reason is rebuilt after the run from what the policy saw: the lead's
observed activity, its fit, and where its current nurture run began (its arrival, or its return
after a recycle). That is exact because a decision depends only on the events up to it.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass

import numpy as np

from policies.base import LeadView
from sim.cli import EXIT_OK, scenario_overrides
from sim.engine import ReplicationResult, run_replication
from sim.errors import InputError
from sim.loading import load_scenario
from sim.sales import Outcome
from sim.scenario import Scenario

COLUMNS = ("lead", "pass", "mql_day", "outcome", "reason")


@dataclass(frozen=True)
class MqlReason:
    """One MQL episode: which lead, its pass (0 = first MQL), when, how it ended, and why."""

    lead: int
    pass_index: int
    mql_day: float
    outcome: str
    reason: str


def episode_since(result: ReplicationResult, cooldown_days: float) -> np.ndarray:
    """Where each episode's nurture run began: arrival, or the previous episode's end + cool-down.

    Episodes are in time order and a lead's next MQL comes only after its previous episode
    ended, so a lead's previous episode is the one just before it among its own.
    """
    sales = result.sales
    since = result.population.arrival[sales.lead].copy()
    order = np.lexsort((np.arange(sales.lead.size), sales.lead))
    same_lead = sales.lead[order][1:] == sales.lead[order][:-1]
    later, earlier = order[1:][same_lead], order[:-1][same_lead]
    since[later] = sales.end[earlier] + cooldown_days
    return since


def mql_reasons(
    scenario: Scenario, result: ReplicationResult, episodes: np.ndarray
) -> list[MqlReason]:
    """The reasons of ``episodes`` (indices into ``result.sales``), from the run's own policy."""
    events = result.observed_events()
    pop, sales = result.population, result.sales
    since = episode_since(result, scenario.nurture.recycle_cooldown_days)
    reasons = []
    for episode in episodes:
        lead = int(sales.lead[episode])
        view = LeadView(events=events, grade=pop.grade, fit=pop.fit, since=pop.arrival)
        single = view.subset(np.array([lead]))
        single = LeadView(single.events, single.grade, single.fit, np.array([since[episode]]))
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


def render(reasons: list[MqlReason], fmt: str) -> str:
    """The episodes as CSV, or as aligned text for a terminal or a log."""
    rows = [
        (str(r.lead), str(r.pass_index), f"{r.mql_day:.2f}", r.outcome, r.reason) for r in reasons
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        return buffer.getvalue()
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in [COLUMNS, *rows]
    ]
    return "\n".join(lines) + "\n"


def add_command(
    commands: argparse._SubParsersAction, scenario_options: argparse.ArgumentParser
) -> None:
    """Register `mqlsim explain`."""
    parser = commands.add_parser(
        "explain",
        parents=[scenario_options],
        help="list MQLs of one simulated run with the reason for each",
        description="Run one replication and list its MQL episodes: lead, pass, day, how sales "
        "ended it, and the policy's reason (e.g. 'score 104 >= 100: pricing_page +30, ...').",
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    parser.add_argument(
        "--replication", type=int, default=0, metavar="R", help="which replication (default 0)"
    )
    parser.add_argument(
        "--lead", type=int, action="append", metavar="ID", help="only this lead (repeatable)"
    )
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N episodes; 0: all (20)"
    )
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    parser.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, scenario_overrides(args))
    if not 0 <= args.replication < scenario.scenario.replications:
        raise InputError(
            f"--replication {args.replication}: expected 0 to {scenario.scenario.replications - 1}"
        )
    if args.limit < 0:
        raise InputError(f"--limit {args.limit}: expected 0 (all) or a positive number")
    result = run_replication(scenario, args.replication)
    episodes = np.arange(result.sales.lead.size)
    if args.lead:
        episodes = episodes[np.isin(result.sales.lead, args.lead)]
    if args.limit:
        episodes = episodes[: args.limit]
    sys.stdout.write(render(mql_reasons(scenario, result, episodes), args.format))
    return EXIT_OK
