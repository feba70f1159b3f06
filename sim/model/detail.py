"""The records of one replication that the run figures draw (docs/figures.md): its measured
period in weekly bins, and its policy against the hidden truth, lead by lead.

Pure numpy, computed from a :class:`~mqlsim.model.engine.ReplicationResult` as
sim/model/metrics.py computes the totals. They sit below the drawing (sim/render/figures.py,
which loads matplotlib) so that the worker process that simulated the replication can compute
them and send back these few arrays instead of the whole result (:func:`replication_detail`;
docs/performance.md, target 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import pairwise

import numpy as np

from mqlsim.core.vocabulary import GRADE_LABELS
from mqlsim.model.engine import ReplicationResult
from mqlsim.model.metrics import WEEK_DAYS, overlap
from mqlsim.model.sales import HOURS_PER_DAY, SQL_OUTCOMES, Outcome, WorkingCalendar
from mqlsim.policies.base import LeadView
from mqlsim.policies.matrix import MatrixPolicy
from mqlsim.policies.score import ScorePolicy
from mqlsim.scenario.models import Scenario


@dataclass(frozen=True)
class WeeklyData:
    """One replication's measured period in weekly bins ``[edges[i], edges[i + 1])`` (days; the
    last bin is shorter when the period is not whole weeks).

    MQL episodes by the bin of their MQL (first MQLs and re-MQLs of recycled leads); the
    time-average number waiting in the queue; speed to lead (hours) of the bin's MQLs touched by
    the horizon, median and 90th percentile (``nan``: none); rep hours spent in the bin on
    episodes that became SQL, ended without one, or were still open at the horizon; and rep
    hours at work (shifts plus overtime), the denominator of ``rep_utilization``.
    """

    edges: np.ndarray
    first_mqls: np.ndarray
    re_mqls: np.ndarray
    queue_length: np.ndarray
    speed_median: np.ndarray
    speed_p90: np.ndarray
    productive_hours: np.ndarray
    wasted_hours: np.ndarray
    open_hours: np.ndarray
    hours_at_work: np.ndarray

    @property
    def days(self) -> np.ndarray:
        """Length of each bin in days."""
        return np.diff(self.edges)

    def whole_weeks(self) -> WeeklyData:
        """The bins that are a whole week (all but a shorter last one), for weekly plots."""
        n = int(np.sum(self.days >= WEEK_DAYS - 1e-9))
        return WeeklyData(
            self.edges[: n + 1], *(getattr(self, f.name)[:n] for f in fields(self)[1:])
        )


def measured_period(scenario: Scenario) -> tuple[float, float]:
    """The measured period ``[warmup_days, horizon_days)``, in days."""
    meta = scenario.scenario
    return meta.warmup_days, meta.horizon_days


def _bins(begin: float, horizon: float) -> np.ndarray:
    return np.append(np.arange(begin, horizon, WEEK_DAYS), horizon)


def _quantiles(values: np.ndarray, bin_index: np.ndarray, n_bins: int, q: float) -> np.ndarray:
    return np.array(
        [
            np.quantile(values[bin_index == b], q) if np.any(bin_index == b) else math.nan
            for b in range(n_bins)
        ]
    )


def weekly_data(scenario: Scenario, result: ReplicationResult) -> WeeklyData:
    """The weekly series of one replication, computed as the metrics compute their totals."""
    begin, horizon = measured_period(scenario)
    sales = result.sales
    edges = _bins(begin, horizon)
    n_bins = edges.size - 1

    def bin_of(times: np.ndarray) -> np.ndarray:
        return np.searchsorted(edges, times, side="right") - 1

    in_period = (sales.mql_time >= begin) & (sales.mql_time < horizon)
    first = in_period & (sales.pass_index == 0)
    first_mqls = np.bincount(bin_of(sales.mql_time[first]), minlength=n_bins)
    re_mqls = np.bincount(bin_of(sales.mql_time[in_period & ~first]), minlength=n_bins)

    touched = in_period & np.isfinite(sales.first_touch)
    speed = (sales.first_touch[touched] - sales.mql_time[touched]) * HOURS_PER_DAY
    speed_bin = bin_of(sales.mql_time[touched])

    leave = np.where(np.isnan(sales.queue_leave), horizon, sales.queue_leave)
    start = np.clip(sales.work_start, begin, horizon)
    end = np.clip(sales.work_start + sales.work_hours / HOURS_PER_DAY, begin, horizon)
    outcome = sales.outcome[sales.work_episode]
    productive = np.isin(outcome, SQL_OUTCOMES)
    still_open = outcome == Outcome.OPEN
    wasted = ~productive & ~still_open
    calendar = WorkingCalendar(scenario.sales)
    queue = np.zeros(n_bins)
    hours = np.zeros((4, n_bins))  # productive, wasted, open, at work
    for b, (low, high) in enumerate(pairwise(edges)):
        queue[b] = overlap(sales.queue_enter, leave, low, high).sum() / (high - low)
        inside = (end > low) & (start < high)
        piece_start, piece_end = np.clip(start[inside], low, high), np.clip(end[inside], low, high)
        spent = (piece_end - piece_start) * HOURS_PER_DAY
        overtime = spent.sum() - calendar.working_hours(piece_start, piece_end).sum()
        shifts = scenario.sales.reps * calendar.working_hours(np.array([low]), np.array([high]))
        hours[0, b] = spent[productive[inside]].sum()
        hours[1, b] = spent[wasted[inside]].sum()
        hours[2, b] = spent[still_open[inside]].sum()
        hours[3, b] = shifts[0] + overtime
    return WeeklyData(
        edges=edges,
        first_mqls=first_mqls,
        re_mqls=re_mqls,
        queue_length=queue,
        speed_median=_quantiles(speed, speed_bin, n_bins, 0.5),
        speed_p90=_quantiles(speed, speed_bin, n_bins, 0.9),
        productive_hours=hours[0],
        wasted_hours=hours[1],
        open_hours=hours[2],
        hours_at_work=hours[3],
    )


@dataclass(frozen=True)
class TruthData:
    """The policy against the hidden truth, one entry per lead created in the measured period.

    ``in_market``: its buying window opened before the horizon (hidden from the policy);
    ``mql``: it became MQL at least once by the horizon. For a score-based policy, ``score`` is
    its highest score over its observed activity from arrival to the horizon and ``bar`` the
    score it needs to become MQL (``inf``: none will do, as for a grade a matrix leaves out);
    ``thresholds`` names each distinct finite bar. For other policies both are ``None``.
    """

    in_market: np.ndarray
    mql: np.ndarray
    score: np.ndarray | None
    bar: np.ndarray | None
    thresholds: dict[str, float]


def _score_rule(
    policy: object,
) -> tuple[Callable[[LeadView], np.ndarray], np.ndarray, dict[str, float]] | None:
    """The per-event score of a score-based policy, the bar to reach by grade code (A–D, then
    unknown), and the bars by label; ``None`` for a policy without one score."""
    if isinstance(policy, ScorePolicy):
        threshold = policy.config.threshold
        return policy.scores, np.full(len(GRADE_LABELS), threshold), {"threshold": threshold}
    if isinstance(policy, MatrixPolicy):
        grades: dict[float, list[str]] = {}
        for grade, cell in zip(GRADE_LABELS, policy.cells, strict=True):
            if math.isfinite(cell):
                grades.setdefault(float(cell), []).append(grade)
        labels = {f"grade {', '.join(names)}": cell for cell, names in grades.items()}
        return policy.engagement.scores, policy.cells, labels
    return None


def truth_data(scenario: Scenario, result: ReplicationResult) -> TruthData:
    """What :class:`TruthData` holds, for one replication. Scores come from the policy's own
    scoring of the activity marketing saw."""
    begin, horizon = measured_period(scenario)
    pop = result.population
    cohort = np.flatnonzero((pop.arrival >= begin) & (pop.arrival < horizon))
    in_market = pop.in_market[cohort] & (pop.window_start[cohort] < horizon)
    mql = np.isin(cohort, result.sales.lead)
    rule = _score_rule(result.policy)
    if rule is None:
        return TruthData(in_market, mql, None, None, {})
    scores, bar_by_grade, thresholds = rule
    view = pop.view(np.arange(pop.size), result.observed_events(), pop.arrival).subset(cohort)
    score = scores(view)
    best = np.full(cohort.size, -np.inf)
    np.maximum.at(best, view.events.lead, np.where(np.isnan(score), -np.inf, score))
    return TruthData(in_market, mql, best, bar_by_grade[view.grade], thresholds)


@dataclass(frozen=True)
class ReplicationDetail:
    """What the run figures draw from one replication's records: :func:`weekly_data` and
    :func:`truth_data`. Small and picklable, unlike the whole result."""

    weekly: WeeklyData
    truth: TruthData


def replication_detail(scenario: Scenario, result: ReplicationResult) -> ReplicationDetail:
    """The :class:`ReplicationDetail` of ``result``, a replication of ``scenario``."""
    return ReplicationDetail(weekly_data(scenario, result), truth_data(scenario, result))
