"""What a replayed policy's MQLs became: precision, recall and lift against recorded outcomes,
by segment, and two policies on one log with bootstrap intervals and gates (docs/replay.md).

Definitions, for a policy replayed on a log whose leads carry outcomes (the stages each lead
reached, :class:`~mqlsim.experiments.replay.LeadOutcomes`):

* a lead *converted* at a stage when its outcomes say it reached it, whenever that was; the
  *converted stage* of the headline numbers is the deepest stage the outcomes record
  (customer, else opportunity, SQL, SAL) unless one is chosen;
* *precision* at a stage: the share of the policy's MQLs that converted there; *recall*: the
  share of the leads that converted there which the policy flagged; *lift*: precision over the
  base rate (the share of all leads that converted there);
* *timing*: a flagged converter was flagged *before* converting when its MQL came at or
  before the stage's date, and the lead time is the days between; converters flagged only
  after converting are counted apart (the policy would not have helped them);
* leads sales never worked (no CRM MQL, SAL or later stage) never had a chance to convert: when
  the outcomes record the CRM's MQL, the report splits the policy's MQLs into leads worked
  then (whose outcomes say what the policy would have found) and leads never worked (whose
  outcome is unknown, counted as not converted: precision is a lower bound).

The numbers gates read have the names of docs/metrics.md, with these meanings on a log:
``leads``, ``mqls`` (leads flagged), ``lead_to_mql_rate``, ``sals``, ``sqls``,
``opportunities``, ``deals_won`` (flagged leads that reached the stage), ``mql_to_sal_rate``,
``mql_to_sql_rate``, ``sql_to_won_rate``, ``pipeline_value`` and ``revenue_won`` (deal values
of flagged opportunities and customers), ``mql_precision`` and ``mql_recall`` (at the converted
stage) and ``time_to_mql_days`` (timed logs). Others are not measured by a replay.

Two policies on one log: the leads each flags, the leads only one flags and how those
converted, and each number's difference B - A with a 95 % interval from a bootstrap over leads
(resampled with replacement, ``resamples`` times, from ``seed``: the same seed gives the same
bytes), judged by ``--fail-if`` gates exactly as `mqlsim compare` judges them
(:mod:`mqlsim.experiments.gates`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.core.vocabulary import FIT_ATTRIBUTES, GRADES
from mqlsim.experiments.gates import Gate, GateResult, evaluate_gate
from mqlsim.experiments.lifecycle import OUTCOME_STAGES, STAGES
from mqlsim.experiments.paired import PairedComparison
from mqlsim.experiments.replay import EventFile, LeadOutcomes, PolicyReplay, lead_rows
from mqlsim.experiments.tabular import NO_TIME, NS_PER_DAY

#: The catalogue metric counting flagged leads that reached each stage.
STAGE_METRICS = {
    "sal": "sals",
    "sql": "sqls",
    "opportunity": "opportunities",
    "customer": "deals_won",
}
#: Bootstrap resamples by default, and the most allowed.
RESAMPLES = 1000
MAX_RESAMPLES = 100_000
CONFIDENCE = 0.95
NONE_LABEL = "(none)"
NOT_MQL = "(not MQL)"


@dataclass(frozen=True)
class StageResult:
    """A policy at one outcome stage."""

    stage: str
    converters: int
    base_rate: float
    flagged: int  # converters the policy flagged
    precision: float
    recall: float
    lift: float
    flagged_before: int | None  # flagged at or before the stage's date; None: no dates
    flagged_after: int | None
    lead_days_median: float  # over the flagged-before ones


@dataclass(frozen=True)
class SegmentRow:
    """A policy within one value of a segment column, at the converted stage."""

    value: str
    leads: int
    converters: int
    base_rate: float
    mqls: int
    flagged: int
    precision: float
    recall: float
    lift: float


@dataclass(frozen=True)
class Worked:
    """The policy's MQLs split by whether sales worked them then (the CRM's MQL or later)."""

    known: bool
    worked: int
    worked_converted: int
    never_worked: int

    @property
    def precision_worked(self) -> float:
        """Precision among the MQLs sales worked (nan when none)."""
        return _ratio(self.worked_converted, self.worked)


@dataclass(frozen=True)
class OutcomeReport:
    """One policy's MQLs against the recorded outcomes."""

    converted_stage: str
    leads: int
    mqls: int
    stages: tuple[StageResult, ...]
    segments: dict[str, tuple[SegmentRow, ...]]
    worked: Worked
    metrics: dict[str, float]

    @property
    def headline(self) -> StageResult:
        """The converted stage's numbers."""
        return next(s for s in self.stages if s.stage == self.converted_stage)


def converted_stage(outcomes: LeadOutcomes, chosen: str | None) -> str:
    """The stage the headline numbers count as converted: ``chosen``, else the deepest
    recorded; :class:`InputError` when it is not recorded (or nothing after the MQL is)."""
    recorded = [stage for stage in OUTCOME_STAGES if stage in outcomes.stages]
    if chosen is not None:
        if chosen not in recorded:
            have = ", ".join(recorded) or "none"
            raise InputError(
                f"--converted {chosen}: the outcomes do not record that stage (they record: {have})"
            )
        return chosen
    if not recorded:
        raise InputError(
            "the outcomes record no stage after the MQL (sal, sql, opportunity or customer);"
            " a backtest has nothing to measure the policy by"
        )
    return recorded[-1]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def stage_result(result: PolicyReplay, outcomes: LeadOutcomes, stage: str) -> StageResult:
    """The policy at ``stage``: precision, recall, lift and timing (module docstring)."""
    flag, reached = result.mql, outcomes.reached[stage]
    leads, mqls = flag.size, int(flag.sum())
    converters = int(reached.sum())
    flagged = int(np.count_nonzero(flag & reached))
    base = _ratio(converters, leads)
    precision = _ratio(flagged, mqls)
    at = outcomes.at_ns[stage]
    dated = flag & reached & (at != NO_TIME)
    before: int | None = None
    after: int | None = None
    median = math.nan
    if result.file.timed and (at != NO_TIME).any():
        before = after = 0
    if result.file.timed and dated.any():
        lead_days = (at[dated] - result.mql_ns[dated]) / NS_PER_DAY
        before = int(np.count_nonzero(lead_days >= 0))
        after = int(np.count_nonzero(lead_days < 0))
        if before:
            median = float(np.median(lead_days[lead_days >= 0]))
    return StageResult(
        stage=stage,
        converters=converters,
        base_rate=base,
        flagged=flagged,
        precision=precision,
        recall=_ratio(flagged, converters),
        lift=_ratio(precision, base),
        flagged_before=before,
        flagged_after=after,
        lead_days_median=median,
    )


def segment_values(result: PolicyReplay, name: str) -> tuple[np.ndarray, list[str]]:
    """Per lead, its value of segment ``name`` as a code into the returned labels: ``source``,
    ``rule``, ``grade``, a fit attribute, or a column kept with the log (``--by``)."""
    file = result.file
    n = result.mql.size
    if name == "rule":
        labels = sorted({rule for rule in result.rules if rule})
        index = {label: code for code, label in enumerate(labels)}
        codes = np.array([index.get(rule, len(labels)) for rule in result.rules], dtype=np.int64)
        return codes, [*labels, NOT_MQL]
    if name == "grade":
        return result.grade.astype(np.int64), list(GRADES)
    if name == "source":
        segment = file.source
    elif name in FIT_ATTRIBUTES and name not in file.segments:
        return _with_none(file.fit[name].astype(np.int64), list(FIT_ATTRIBUTES[name]))
    else:
        segment = file.segments[name]
    assert segment.code.size == n
    return _with_none(segment.code, segment.names)


def _with_none(code: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Missing values (-1) as a last label, :data:`NONE_LABEL`."""
    return np.where(code < 0, len(names), code), [*names, NONE_LABEL]


def segment_rows(
    result: PolicyReplay, outcomes: LeadOutcomes, stage: str, name: str
) -> tuple[SegmentRow, ...]:
    """The policy within each value of segment ``name`` (values with leads, most leads first;
    ties by label), at ``stage``; lift is against the base rate of all leads."""
    codes, labels = segment_values(result, name)
    flag, reached = result.mql, outcomes.reached[stage]
    size = len(labels)
    leads = np.bincount(codes, minlength=size)
    converters = np.bincount(codes, weights=reached, minlength=size)
    mqls = np.bincount(codes, weights=flag, minlength=size)
    flagged = np.bincount(codes, weights=flag & reached, minlength=size)
    overall = _ratio(float(reached.sum()), flag.size)
    rows = []
    for code in sorted(np.flatnonzero(leads), key=lambda c: (-leads[c], labels[c])):
        precision = _ratio(flagged[code], mqls[code])
        rows.append(
            SegmentRow(
                value=labels[code],
                leads=int(leads[code]),
                converters=int(converters[code]),
                base_rate=_ratio(converters[code], leads[code]),
                mqls=int(mqls[code]),
                flagged=int(flagged[code]),
                precision=precision,
                recall=_ratio(flagged[code], converters[code]),
                lift=_ratio(precision, overall),
            )
        )
    return tuple(rows)


def worked_by_sales(outcomes: LeadOutcomes | None) -> np.ndarray | None:
    """Per lead, whether sales worked it (the CRM's MQL or any later stage); ``None`` when
    the outcomes do not record the CRM's MQL, so that leads never worked cannot be told."""
    if outcomes is None or "mql" not in outcomes.stages:
        return None
    worked = np.zeros(outcomes.deal_value.size, dtype=bool)
    for recorded in outcomes.stages:
        worked |= outcomes.reached[recorded]
    return worked


def worked_split(result: PolicyReplay, outcomes: LeadOutcomes, stage: str) -> Worked:
    """The policy's MQLs split by whether sales worked them (known only with the CRM's MQL)."""
    worked = worked_by_sales(outcomes)
    if worked is None:
        return Worked(False, 0, 0, 0)
    flag = result.mql
    return Worked(
        known=True,
        worked=int(np.count_nonzero(flag & worked)),
        worked_converted=int(np.count_nonzero(flag & worked & outcomes.reached[stage])),
        never_worked=int(np.count_nonzero(flag & ~worked)),
    )


def outcome_report(result: PolicyReplay, stage: str, segments: Sequence[str] = ()) -> OutcomeReport:
    """``result``'s MQLs against its log's outcomes (module docstring), converted at
    ``stage``, with a breakdown by each of ``segments`` (see :func:`segment_values`)."""
    outcomes = result.file.outcomes
    assert outcomes is not None, "the log has outcomes"
    recorded = tuple(s for s in OUTCOME_STAGES if s in outcomes.stages)
    return OutcomeReport(
        converted_stage=stage,
        leads=int(result.mql.size),
        mqls=int(result.mql.sum()),
        stages=tuple(stage_result(result, outcomes, s) for s in recorded),
        segments={name: segment_rows(result, outcomes, stage, name) for name in segments},
        worked=worked_split(result, outcomes, stage),
        metrics=metrics_of(_PerLead.of(result, outcomes, stage), np.ones(result.mql.size)),
    )


# --- the numbers gates read, for any weighting of the leads ---------------------------------


@dataclass(frozen=True)
class _PerLead:
    """Per lead, what the metrics add up (for one policy); the outcome columns are ``None``
    when the log has no outcomes."""

    flag: np.ndarray
    reached: dict[str, np.ndarray]  # catalogue metric -> flagged & reached
    converted: np.ndarray | None  # reached the converted stage
    value: np.ndarray | None  # deal value (0 where unknown), None when none is known
    opportunity: np.ndarray | None
    customer: np.ndarray | None
    wait: np.ndarray | None  # days to MQL (0 where not MQL), None for a snapshot

    @classmethod
    def of(cls, result: PolicyReplay, outcomes: LeadOutcomes | None, stage: str | None) -> _PerLead:
        """The columns of ``result`` against ``outcomes``, converted at ``stage``."""
        flag = result.mql
        wait = np.nan_to_num(result.time_to_mql_days) if result.file.timed else None
        if outcomes is None or stage is None:
            return cls(flag, {}, None, None, None, None, wait)
        known_value = not np.isnan(outcomes.deal_value).all()
        return cls(
            flag=flag,
            reached={
                STAGE_METRICS[s]: flag & outcomes.reached[s]
                for s in OUTCOME_STAGES
                if s in outcomes.stages
            },
            converted=outcomes.reached[stage],
            value=np.nan_to_num(outcomes.deal_value) if known_value else None,
            opportunity=outcomes.reached.get("opportunity"),
            customer=outcomes.reached.get("customer"),
            wait=wait,
        )


def metrics_of(columns: _PerLead, weight: np.ndarray) -> dict[str, float]:
    """Every catalogue metric a replay measures (the module docstring), the others ``nan``,
    with lead ``i`` counted ``weight[i]`` times (1 each: the log itself; a bootstrap resample's
    counts)."""
    flag = columns.flag
    leads = float(weight.sum())
    mqls = float(weight @ flag)
    out = dict.fromkeys(METRIC_NAMES, math.nan)
    out["leads"] = leads
    out["mqls"] = mqls
    out["lead_to_mql_rate"] = _ratio(mqls, leads)
    if columns.wait is not None:
        out["time_to_mql_days"] = _ratio(float(weight @ (flag * columns.wait)), mqls)
    if columns.converted is None:
        return out
    for name, reached in columns.reached.items():
        out[name] = float(weight @ reached)
    out["mql_to_sal_rate"] = _ratio(out["sals"], mqls)
    out["mql_to_sql_rate"] = _ratio(out["sqls"], mqls)
    out["sql_to_won_rate"] = _ratio(out["deals_won"], out["sqls"])
    converters = float(weight @ columns.converted)
    flagged = float(weight @ (flag & columns.converted))
    out["mql_precision"] = _ratio(flagged, mqls)
    out["mql_recall"] = _ratio(flagged, converters)
    if columns.value is not None:
        flagged_value = weight * flag * columns.value
        if columns.opportunity is not None:
            out["pipeline_value"] = float(flagged_value @ columns.opportunity)
        if columns.customer is not None:
            out["revenue_won"] = float(flagged_value @ columns.customer)
    return out


def measured_metrics(file: EventFile, stage: str | None) -> list[str]:
    """The catalogue metrics a replay of ``file`` measures, converted at ``stage`` (``None``:
    no outcomes), in catalogue order: what the log records, whatever a policy flags."""
    measured = {"leads", "mqls", "lead_to_mql_rate"}
    if file.timed:
        measured.add("time_to_mql_days")
    outcomes = file.outcomes
    if outcomes is not None and stage is not None:
        recorded = set(outcomes.stages)
        measured |= {"mql_precision", "mql_recall"}
        measured |= {metric for s, metric in STAGE_METRICS.items() if s in recorded}
        measured |= {"mql_to_sal_rate"} if "sal" in recorded else set()
        measured |= {"mql_to_sql_rate"} if "sql" in recorded else set()
        measured |= {"sql_to_won_rate"} if {"sql", "customer"} <= recorded else set()
        if not np.isnan(outcomes.deal_value).all():
            measured |= {"pipeline_value"} if "opportunity" in recorded else set()
            measured |= {"revenue_won"} if "customer" in recorded else set()
    return [name for name in METRIC_NAMES if name in measured]


def check_request(file: EventFile, converted: str | None, gates: Sequence[Gate]) -> str | None:
    """Check what a backtest of ``file`` is asked before any policy runs: the converted stage
    (returned: ``converted``, the deepest recorded, or ``None`` without outcomes) and that each
    gate is on a metric the log measures; :class:`InputError` otherwise."""
    if file.outcomes is None:
        if converted is not None:
            raise InputError(f"--converted {converted}: the log has no outcomes")
        stage = None
    else:
        stage = converted_stage(file.outcomes, converted)
    available = measured_metrics(file, stage)
    problems = [
        f"--fail-if {gate.expression!r}: a replay of this log does not measure {gate.metric};"
        f" it measures {', '.join(available)}"
        for gate in gates
        if gate.metric not in available
    ]
    if problems:
        raise InputError(problems)
    return stage


# --- two policies on one log ---------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """One group of leads by which policies flag them, and how they converted."""

    group: str  # "both", "only A", "only B", "neither"
    leads: int
    converted: dict[str, int]  # per outcome stage recorded
    never_worked: int | None  # leads sales never worked (None when unknown)


@dataclass(frozen=True)
class LogComparison:
    """Policies A and B replayed on the same log: the overlap of their MQLs, every measured
    number of B against A with its bootstrap interval, and the gates' verdicts."""

    overlap: tuple[Overlap, ...]
    metrics: dict[str, PairedComparison]
    gates: tuple[GateResult, ...]
    seed: int
    resamples: int


def compare_on_log(
    a: PolicyReplay,
    b: PolicyReplay,
    stage: str | None,
    *,
    gates: Sequence[Gate] = (),
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> LogComparison:
    """Compare policies A and B on the same log, converted at ``stage`` (``None``: the log has
    no outcomes), judging ``gates`` (checked with :func:`check_request` beforehand)."""
    outcomes = a.file.outcomes
    metrics = paired_metrics(
        _PerLead.of(a, outcomes, stage),
        _PerLead.of(b, outcomes, stage),
        measured_metrics(a.file, stage),
        seed,
        resamples,
    )
    return LogComparison(
        overlap=overlap(a, b, outcomes),
        metrics=metrics,
        gates=tuple(evaluate_gate(gate, metrics[gate.metric]) for gate in gates),
        seed=seed,
        resamples=resamples,
    )


def overlap(a: PolicyReplay, b: PolicyReplay, outcomes: LeadOutcomes | None) -> tuple[Overlap, ...]:
    """The leads both, only A, only B and neither flag, and their conversions by stage."""
    worked = worked_by_sales(outcomes)
    recorded = [s for s in OUTCOME_STAGES if outcomes is not None and s in outcomes.stages]
    groups = {
        "both": a.mql & b.mql,
        "only A": a.mql & ~b.mql,
        "only B": ~a.mql & b.mql,
        "neither": ~a.mql & ~b.mql,
    }
    return tuple(
        Overlap(
            group=name,
            leads=int(members.sum()),
            converted={
                s: int(np.count_nonzero(members & outcomes.reached[s]))
                for s in recorded
                if outcomes is not None
            },
            never_worked=None if worked is None else int(np.count_nonzero(members & ~worked)),
        )
        for name, members in groups.items()
    )


def paired_metrics(
    a: _PerLead, b: _PerLead, names: Sequence[str], seed: int, resamples: int
) -> dict[str, PairedComparison]:
    """Metrics ``names`` of B against A, with percentile intervals of the difference from
    ``resamples`` bootstrap resamples of the leads (the same resamples for A and B)."""
    n = a.flag.size
    ones = np.ones(n)
    a_point, b_point = metrics_of(a, ones), metrics_of(b, ones)
    differences = np.empty((resamples, len(names)))
    relatives = np.empty((resamples, len(names)))
    rng = np.random.default_rng(seed)
    for resample in range(resamples):
        weight = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        a_row, b_row = metrics_of(a, weight), metrics_of(b, weight)
        for column, name in enumerate(names):
            difference = b_row[name] - a_row[name]
            differences[resample, column] = difference
            relatives[resample, column] = _relative(difference, a_row[name])
    tail = (1 - CONFIDENCE) / 2
    out = {}
    for column, name in enumerate(names):
        low, high = _interval(differences[:, column], tail)
        relative_low, relative_high = _interval(relatives[:, column], tail)
        difference = b_point[name] - a_point[name]
        out[name] = PairedComparison(
            name=name,
            n=n,
            a_mean=a_point[name],
            b_mean=b_point[name],
            difference=difference,
            ci_low=low,
            ci_high=high,
            relative=_relative(difference, a_point[name]),
            relative_low=relative_low,
            relative_high=relative_high,
        )
    return out


def _relative(difference: float, base: float) -> float:
    """``difference / base``: 0 for no change, ``nan`` for a change against 0."""
    if base != 0:
        return difference / base
    return 0.0 if difference == 0 else math.nan


def _interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    """The percentile interval of ``values``; ``nan`` when any resample left it undefined (a
    ratio without a denominator) or there is only one resample."""
    if values.size < 2 or np.isnan(values).any():
        return math.nan, math.nan
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


# --- everything `mqlsim replay` reports -------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What `mqlsim replay` found: policy A's decisions on the log (``a``), with outcomes its
    report (``report``), and with ``--against`` policy B's decisions and the comparison."""

    a: PolicyReplay
    report: OutcomeReport | None = None
    b: PolicyReplay | None = None
    b_report: OutcomeReport | None = None
    comparison: LogComparison | None = None

    @property
    def file(self) -> EventFile:
        """The log replayed."""
        return self.a.file

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that failed."""
        gates = self.comparison.gates if self.comparison is not None else ()
        return tuple(result for result in gates if not result.passed)

    @property
    def passed(self) -> bool:
        """Whether every gate passed (true when there are none)."""
        return not self.failed

    def to_records(self) -> list[dict[str, Any]]:
        """One record per lead: A's decision (and B's, prefixed ``b_``), and with outcomes
        whether the lead reached each stage recorded (``reached_mql``: the CRM made it MQL,
        ``reached_customer``...)."""
        rows = lead_rows(self.a)
        if self.b is not None:
            for row, other in zip(rows, lead_rows(self.b), strict=True):
                row.update({f"b_{key}": value for key, value in other.items() if key != "lead_id"})
        outcomes = self.file.outcomes
        if outcomes is not None:
            stages = [stage for stage in STAGES if stage in outcomes.stages]
            for lead, row in enumerate(rows):
                for stage in stages:
                    row[f"reached_{stage}"] = bool(outcomes.reached[stage][lead])
        return rows

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame indexed by lead id (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records(), index="lead_id")


def backtest(
    a: PolicyReplay,
    b: PolicyReplay | None = None,
    *,
    stage: str | None = None,
    segments: Sequence[str] = (),
    gates: Sequence[Gate] = (),
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Replay:
    """Policy A's replay (and B's, on the same log) measured against the log's outcomes,
    converted at ``stage`` (``None``: the log has none); the request was checked by
    :func:`check_request`."""
    outcomes = a.file.outcomes
    report = outcome_report(a, stage, segments) if stage is not None else None
    if b is None:
        return Replay(a, report)
    return Replay(
        a,
        report,
        b,
        outcome_report(b, stage, segments) if stage is not None and outcomes else None,
        compare_on_log(a, b, stage, gates=gates, seed=seed, resamples=resamples),
    )
