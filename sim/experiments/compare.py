"""Two scenarios, or two saved runs, metric by metric, with gates (`mqlsim compare`).

Each side is a scenario to run or a run already done (a saved ``results.json``, see
:mod:`mqlsim.experiments.saved`, or a result in memory). A scenario runs on the root seed and
replication count of the other side when that side is done, else on A's (or on those given), so
replication ``r`` of both draws the same leads and journeys and only the differences show. Scenarios
that run do so together through :func:`mqlsim.experiments.runner.run_experiments`, sharing one
pool and the replication cache. When both sides share their seed and replication count the
comparison is paired; two saved runs that do not are compared as independent samples, and the
notes say so. The statistics are in :mod:`mqlsim.experiments.paired`, the gates in
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
from mqlsim.experiments.saved import SavedRun
from mqlsim.policies.plugins import PluginAccess
from mqlsim.scenario.loading import Overrides, load_scenario
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.revisions import load_revision_scenario, split_revision

#: One side of a comparison: a scenario to run, or a finished run.
Side = Scenario | SavedRun


@dataclass(frozen=True)
class Comparison:
    """Everything a comparison reports: what ran, the per-metric comparisons, the gate verdicts.

    ``seed`` and ``replications`` are A's; B's differ only when the comparison is not
    ``paired`` (two saved runs of different seeds or counts).
    """

    a_source: str
    b_source: str
    a_name: str
    b_name: str
    seed: int
    replications: int
    notes: tuple[str, ...]
    metrics: Mapping[str, PairedComparison]
    gates: tuple[GateResult, ...]
    paired: bool = True
    b_seed: int | None = None
    b_replications: int | None = None
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


def load_source(
    source: str | Scenario, overrides: Overrides = (), *, plugins: PluginAccess = "entry_points"
) -> Scenario:
    """A scenario from a file, from ``REV:path`` (a file as committed in a git revision; see
    :func:`mqlsim.scenario.revisions.split_revision`), or a loaded one with ``overrides``;
    ``plugins`` as in :func:`mqlsim.scenario.loading.load_scenario`."""
    if isinstance(source, str) and (revision := split_revision(source)) is not None:
        return load_revision_scenario(*revision, overrides, plugins=plugins)
    return load_scenario(source, overrides, plugins=plugins)


def _seed_and_count(side: Side) -> tuple[int, int]:
    if isinstance(side, SavedRun):
        return side.seed, side.replications
    return side.scenario.seed, side.scenario.replications


def _on(scenario: Scenario, seed: int, replications: int) -> Scenario:
    """``scenario`` run on ``seed`` with ``replications``."""
    meta = scenario.scenario.model_copy(update={"seed": seed, "replications": replications})
    return scenario.model_copy(update={"scenario": meta})


def compare_sides(
    a: Side,
    b: Side,
    gates: Sequence[Gate] = (),
    *,
    sources: tuple[str, str] = ("A", "B"),
    given: tuple[bool, bool] = (False, False),
    by: Sequence[str] = (),
    progress: Progress | None = None,
    **execution: Unpack[Execution],
) -> Comparison:
    """Compare B with A metric by metric, and segment by segment for each breakdown dimension
    of ``by``, running the sides that are scenarios.

    A scenario runs on the seed and replication count of the other side when that side is a
    finished run, else on A's, unless ``given`` says the seed or the count was given explicitly
    (then the scenario's own, which holds the given one). ``sources`` names A and B as the user
    gave them. A change gate needs at least 2 replications on each side; that is checked before
    anything runs.
    """
    dimensions = parse_dimensions(by)
    reference = b if isinstance(b, SavedRun) and not isinstance(a, SavedRun) else a
    seed, count = _seed_and_count(reference)
    sides: list[Side] = []
    for side in (a, b):
        if isinstance(side, Scenario) and side is not reference:
            own_seed, own_count = _seed_and_count(side)
            side = _on(side, own_seed if given[0] else seed, own_count if given[1] else count)
        sides.append(side)
    _check_change_gates(gates, [_seed_and_count(side)[1] for side in sides])
    for side, source in zip(sides, sources, strict=True):
        if isinstance(side, SavedRun):
            side.check_dimensions(dimensions, source)
    to_run = [side for side in sides if isinstance(side, Scenario)]
    results = iter(run_experiments(to_run, progress, **execution) if to_run else [])
    runs = [
        side if isinstance(side, SavedRun) else SavedRun.from_result(next(results), source)
        for side, source in zip(sides, sources, strict=True)
    ]
    first, second = runs
    paired = (first.seed, first.replications) == (second.seed, second.replications)
    metrics = compare_rows(first.rows, second.rows, paired=paired)
    segments, unpaired = {}, []
    for dimension in dimensions:
        a_labels = list(first.segments[0][dimension]) if first.segments else []
        b_labels = set(second.segments[0][dimension]) if second.segments else set()
        segments[dimension] = {
            label: compare_rows(
                [row[dimension][label] for row in first.segments],
                [row[dimension][label] for row in second.segments],
                paired=paired,
                names=SEGMENT_METRICS,
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
        a_name=first.name,
        b_name=second.name,
        seed=first.seed,
        replications=first.replications,
        notes=(*_notes((a, b), runs, given, paired), *unpaired),
        metrics=metrics,
        gates=tuple(evaluate_gate(gate, metrics[gate.metric]) for gate in gates),
        paired=paired,
        b_seed=None if paired else second.seed,
        b_replications=None if paired else second.replications,
        segments=segments,
    )


def _check_change_gates(gates: Sequence[Gate], counts: Sequence[int]) -> None:
    change_gates = [gate for gate in gates if gate.kind is not GateKind.BOUND]
    if change_gates and min(counts) < 2:
        raise InputError(
            f"--fail-if {change_gates[0].expression!r}: a change gate needs at least 2"
            f" replications for its interval, not {min(counts)}"
        )


def _plural(count: int) -> str:
    return f"{count} replication" + ("" if count == 1 else "s")


def _notes(
    given_sides: tuple[Side, Side],
    runs: Sequence[SavedRun],
    given: tuple[bool, bool],
    paired: bool,
) -> tuple[str, ...]:
    """How the sides were paired (or not), and what of a side's own settings was overridden."""
    a, b = runs
    saved = [isinstance(side, SavedRun) for side in given_sides]
    what = ["A's saved results" if saved[0] else "A", "B's saved results" if saved[1] else "B"]
    notes = []
    if paired and not any(saved):
        count_from = "given" if given[1] else "A's"
        seed_from = "given" if given[0] else "A's"
        notes.append(
            f"Common random numbers: A and B both ran {_plural(a.replications)} ({count_from})"
            f" from root seed {a.seed} ({seed_from})."
        )
    elif paired:
        how = "nothing was run" if all(saved) else "the scenario ran on the saved run's"
        notes.append(
            f"Common random numbers: A and B both have {_plural(a.replications)} from root seed"
            f" {a.seed} ({how})."
        )
    else:
        notes.append(
            f"Not paired: {what[0]} are {_plural(a.replications)} from root seed {a.seed},"
            f" {what[1]} {_plural(b.replications)} from root seed {b.seed}; each interval is"
            " Welch's for two independent samples, wider than a paired one. Run both on one"
            " seed and count to pair them."
        )
    for label, side, run in zip(("A", "B"), given_sides, runs, strict=True):
        if not isinstance(side, Scenario):
            continue
        differs = []
        if side.scenario.seed != run.seed:
            differs.append(f"seed {side.scenario.seed}")
        if side.scenario.replications != run.replications:
            differs.append(_plural(side.scenario.replications))
        if differs:
            winner = "A's win" if label == "B" and not saved[0] else "the saved run's win"
            notes.append(
                f"{label}'s file sets {' and '.join(differs)}; {winner}, since a paired"
                " comparison needs the same seeds."
            )
    versions = {run.package_version for run in runs if run.package_version is not None}
    if len(versions) > 1:
        notes.append(
            "The saved runs come from different versions of mqlsim"
            f" ({', '.join(sorted(versions))}): the model may differ between them, not only"
            " the scenarios."
        )
    for label, run in zip(("A", "B"), runs, strict=True):
        if run.missing:
            notes.append(
                f"{label}'s saved results lack {len(run.missing)} metrics of this version"
                f" ({', '.join(run.missing[:3])}{'...' if len(run.missing) > 3 else ''}):"
                " shown as n/a."
            )
    return tuple(notes)
