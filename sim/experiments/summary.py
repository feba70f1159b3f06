"""Per-metric summaries over replications: the mean and a 95 % Student-t confidence interval.

Replications are independent and few (typically 5-30), so the interval uses the t distribution
rather than the normal one. A replication that could not measure a metric (``nan``, e.g. a ratio
with no denominator) is left out of the mean and the interval but kept in ``values``, so the
per-replication record stays complete.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mqlsim.core.metric_catalog import METRIC_NAMES, SEGMENT_METRICS

CONFIDENCE = 0.95


@dataclass(frozen=True)
class MetricSummary:
    """One metric over the replications.

    ``ci_low`` and ``ci_high`` are ``nan`` when fewer than two replications measured the metric
    (no spread to estimate); ``mean`` is ``nan`` when none did.
    """

    mean: float
    ci_low: float
    ci_high: float
    values: tuple[float, ...]


def summarize(values: Sequence[float]) -> MetricSummary:
    """Mean and 95 % Student-t interval of ``values``, leaving the nan ones out."""
    everything = tuple(float(value) for value in values)
    measured = np.array([value for value in everything if not math.isnan(value)])
    n = measured.size
    if n == 0:
        return MetricSummary(math.nan, math.nan, math.nan, everything)
    mean = float(measured.mean())
    if n == 1:
        return MetricSummary(mean, math.nan, math.nan, everything)
    # The Student-t quantile is scipy.stats.t.ppf's own function, without loading scipy.stats
    # (about 0.5 s more); imported on first use.
    from scipy.special import stdtrit

    half_width = float(stdtrit(n - 1, 0.5 + CONFIDENCE / 2) * measured.std(ddof=1) / math.sqrt(n))
    return MetricSummary(mean, mean - half_width, mean + half_width, everything)


def summarize_rows(rows: Sequence[Mapping[str, float]]) -> dict[str, MetricSummary]:
    """Summarize every catalogue metric over metric ``rows`` (one per replication)."""
    return {name: summarize([row[name] for row in rows]) for name in METRIC_NAMES}


def summarize_segments(
    segments: Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]], dimension: str
) -> dict[str, dict[str, MetricSummary]]:
    """``{segment: {metric: summary}}`` of ``dimension`` over the replications' ``segments``
    (one ``{dimension: {segment: {metric: value}}}`` each), every metric of
    :data:`~mqlsim.core.metric_catalog.SEGMENT_METRICS`."""
    if not segments:
        return {}
    labels = segments[0][dimension]
    return {
        label: {
            name: summarize([replication[dimension][label][name] for replication in segments])
            for name in SEGMENT_METRICS
        }
        for label in labels
    }
