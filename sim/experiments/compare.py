"""Two scenarios on common random numbers, metric by metric, with gates (`mqlsim compare`).

B runs on A's root seed and replication count (or those given), so replication ``r`` of both
draws the same leads and journeys and only the scenarios' differences show. Both run together
through :func:`mqlsim.experiments.runner.run_experiments`, sharing one pool and the replication
cache. The statistics are in :mod:`mqlsim.experiments.paired`, the gates in
:mod:`mqlsim.experiments.gates`, ``REV:path`` sources in :mod:`mqlsim.scenario.revisions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import SEGMENT_METRICS, parse_dimensions
from mqlsim.experiments.gates import Gate, GateKind, GateResult, evaluate_gate, parse_gate
from mqlsim.experiments.paired import PairedComparison, compare_rows
from mqlsim.experiments.runner import Execution, Progress, run_experiments
from mqlsim.scenario.loading import Overrides, load_scenario
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.revisions import load_revision_scenario, split_revision


@dataclass(frozen=True)
class Comparison:
    """Everything a comparison reports: what ran, the per-metric comparisons, the gate verdicts."""

    a_source: str
    b_source: str
    a_name: str
    b_name: str
    seed: int
    replications: int
    notes: tuple[str, ...]
    metrics: Mapping[str, PairedComparison]
    gates: tuple[GateResult, ...]
    #: Per breakdown dimension asked for, per segment A and B both have, every segment metric
    #: (:data:`~mqlsim.core.metric_catalog.SEGMENT_METRICS`) compared as ``metrics`` are.
    segments: Mapping[str, Mapping[str, Mapping[str, PairedComparison]]] = field(
        default_factory=dict
    )

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that failed."""
        return tuple(result for result in self.gates if not result.passed)

    @property
    def passed(self) -> bool:
        """Whether every gate passed (true when there are none)."""
        return not self.failed

    def to_records(self) -> list[dict[str, Any]]:
        """One record per metric: A's and B's means, B − A with its interval, the mark."""
        return [
            {
                "metric": name,
                "a_mean": metric.a_mean,
                "b_mean": metric.b_mean,
                "difference": metric.difference,
                "ci_low": metric.ci_low,
                "ci_high": metric.ci_high,
                "relative_change": metric.relative,
                "significant": metric.significant,
                "mark": metric.mark,
                "n": metric.n,
            }
            for name, metric in self.metrics.items()
        ]

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame indexed by metric (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records(), index="metric")


def parse_gates(expressions: Sequence[str]) -> list[Gate]:
    """All gates, or one :class:`InputError` line per invalid one."""
    gates, problems = [], []
    for expression in expressions:
        try:
            gates.append(parse_gate(expression))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(problems)
    return gates


def load_source(source: str | Scenario, overrides: Overrides = ()) -> Scenario:
    """A scenario from a file, from ``REV:path`` (a file as committed in a git revision; see
    :func:`mqlsim.scenario.revisions.split_revision`), or a loaded one with ``overrides``."""
    if isinstance(source, str) and (revision := split_revision(source)) is not None:
        return load_revision_scenario(*revision, overrides)
    return load_scenario(source, overrides)


def load_pair(
    a: str | Scenario, b: str | Scenario, overrides: Overrides = ()
) -> tuple[Scenario, Scenario]:
    """Load A and B; :class:`InputError` with the problems of both when either is invalid."""
    loaded, problems = [], []
    for source in (a, b):
        try:
            loaded.append(load_source(source, overrides))
        except InputError as error:
            problems.extend(error.lines)
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    return loaded[0], loaded[1]


def compare_scenarios(
    a: Scenario,
    b_own: Scenario,
    gates: Sequence[Gate] = (),
    *,
    sources: tuple[str, str] = ("A", "B"),
    given: tuple[bool, bool] = (False, False),
    by: Sequence[str] = (),
    progress: Progress | None = None,
    **execution: Unpack[Execution],
) -> Comparison:
    """Run A and B (on A's seed and replication count) and compare them metric by metric, and
    segment by segment for each breakdown dimension of ``by``.

    ``sources`` names A and B as the user gave them; ``given`` says whether the seed and the
    replication count were given explicitly (rather than A's own), for the notes.
    """
    dimensions = parse_dimensions(by)
    seed, replications = a.scenario.seed, a.scenario.replications
    change_gates = [gate for gate in gates if gate.kind is not GateKind.BOUND]
    if change_gates and replications < 2:
        raise InputError(
            f"--fail-if {change_gates[0].expression!r}: a change gate needs at least 2"
            f" replications for its interval, not {replications}"
        )
    b = b_own.model_copy(
        update={
            "scenario": b_own.scenario.model_copy(
                update={"seed": seed, "replications": replications}
            )
        }
    )
    a_result, b_result = run_experiments([a, b], progress, **execution)
    metrics = compare_rows(a_result.replications, b_result.replications)
    segments, unpaired = {}, []
    for dimension in dimensions:
        a_labels = list(a_result.segments[0][dimension]) if a_result.segments else []
        b_labels = set(b_result.segments[0][dimension]) if b_result.segments else set()
        segments[dimension] = {
            label: compare_rows(
                [row[dimension][label] for row in a_result.segments],
                [row[dimension][label] for row in b_result.segments],
                SEGMENT_METRICS,
            )
            for label in a_labels
            if label in b_labels
        }
        alone = [label for label in a_labels if label not in b_labels]
        alone += sorted(b_labels - set(a_labels))
        if alone:
            unpaired.append(
                f"By {dimension}: {', '.join(alone)} exist in only one of A and B, so are not "
                "compared."
            )
    return Comparison(
        a_source=sources[0],
        b_source=sources[1],
        a_name=a.scenario.name,
        b_name=b.scenario.name,
        seed=seed,
        replications=replications,
        notes=(*_notes(a, b_own, given), *unpaired),
        metrics=metrics,
        gates=tuple(evaluate_gate(gate, metrics[gate.metric]) for gate in gates),
        segments=segments,
    )


def _notes(a: Scenario, b_own: Scenario, given: tuple[bool, bool]) -> tuple[str, ...]:
    """Which seed and how many replications ran, and what of B's own settings was overridden."""
    seed, replications = a.scenario.seed, a.scenario.replications
    seed_from = "given" if given[0] else "A's"
    count_from = "given" if given[1] else "A's"
    plural = "" if replications == 1 else "s"
    notes = [
        f"Common random numbers: A and B both ran {replications} replication{plural}"
        f" ({count_from}) from root seed {seed} ({seed_from})."
    ]
    differs = []
    if b_own.scenario.seed != seed:
        differs.append(f"seed {b_own.scenario.seed}")
    if b_own.scenario.replications != replications:
        differs.append(f"{b_own.scenario.replications} replications")
    if differs:
        notes.append(
            f"B's file sets {' and '.join(differs)}; A's win, since a paired comparison needs"
            " the same seeds."
        )
    return tuple(notes)
