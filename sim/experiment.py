"""Replications of one scenario: seeds, execution and the per-replication metric rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.engine import run_replication
from sim.scenario import Scenario


@dataclass(frozen=True)
class ExperimentResult:
    """What a run produced: the scenario as run and one metric row per replication.

    ``replications[r]`` maps every name in :data:`sim.metric_catalog.METRIC_NAMES` to the value
    replication ``r`` measured (``nan`` where a ratio has no denominator).
    """

    scenario: Scenario
    replications: list[dict[str, float]]


def run_experiment(
    scenario: Scenario, progress: Callable[[int, int], None] | None = None
) -> ExperimentResult:
    """Run ``scenario.scenario.replications`` replications from ``scenario.scenario.seed``.

    ``progress(done, total)`` is called after each replication.
    """
    total = scenario.scenario.replications
    rows = []
    for index in range(total):
        rows.append(run_replication(scenario, index).metrics)
        if progress is not None:
            progress(index + 1, total)
    return ExperimentResult(scenario=scenario, replications=rows)
