"""Paired comparison of two scenarios run on common random numbers: statistics only.

Replication ``r`` of A and replication ``r`` of B draw the same random numbers, so the noise they
share cancels in the per-replication difference ``B_r - A_r``. Each metric's difference is
therefore summarised by a *paired* 95 % Student-t interval over those differences, which is much
narrower than comparing two independent intervals.

Rules, for every metric:

- A replication where A or B did not measure the metric (``nan``) is dropped for that metric
  only; ``n`` counts the pairs left. A's mean, B's mean and the difference are all taken over
  those ``n`` pairs, so the difference is ``b_mean - a_mean`` (up to rounding).
- The relative change is the difference divided by A's mean, and its interval is the paired
  interval of the difference divided by A's mean (A's mean taken as known: a first-order
  approximation that ignores A's own sampling error). It is undefined (``nan``) when A's mean is
  0, except when every difference is 0 too (no change: 0 %).
- The change is *significant* when its interval excludes 0 (needs ``n >= 2``). The mark is
  ``+`` for a significant change in the good direction (:attr:`MetricSpec.higher_is_better`),
  ``-`` for one in the bad direction, ``~`` when not significant, and ``*`` for a significant
  change of a metric with no good direction (``higher_is_better is None``: volumes such as
  ``mqls``, where more is neither better nor worse by itself).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from mqlsim.experiments.summary import summarize

BETTER = "+"
WORSE = "-"
NOT_SIGNIFICANT = "~"
CHANGED = "*"
MARK_LEGEND = (
    f"{BETTER} better, {WORSE} worse, {NOT_SIGNIFICANT} not significant (95 % interval contains 0),"
    f" {CHANGED} significant change of a volume that is neither better nor worse by itself"
)


@dataclass(frozen=True)
class PairedComparison:
    """One metric of B against A over ``n`` paired replications (``nan`` where undefined)."""

    name: str
    n: int
    a_mean: float
    b_mean: float
    difference: float
    ci_low: float
    ci_high: float
    relative: float
    relative_low: float
    relative_high: float

    @property
    def significant(self) -> bool:
        """Whether the 95 % interval of the difference excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0  # False when the interval is nan

    @property
    def mark(self) -> str:
        """``+``, ``-``, ``~`` or ``*`` as explained in the module docstring."""
        if not self.significant:
            return NOT_SIGNIFICANT
        higher_is_better = METRIC_BY_NAME[self.name].higher_is_better
        if higher_is_better is None:
            return CHANGED
        return BETTER if (self.difference > 0) == higher_is_better else WORSE


def compare_metric(
    name: str, a_values: Sequence[float], b_values: Sequence[float]
) -> PairedComparison:
    """Compare metric ``name`` over paired replications (``a_values[r]`` with ``b_values[r]``)."""
    if len(a_values) != len(b_values):
        raise ValueError(f"{name}: {len(a_values)} replications of A, {len(b_values)} of B")
    pairs = [
        (float(a), float(b))
        for a, b in zip(a_values, b_values, strict=True)
        if not (math.isnan(a) or math.isnan(b))
    ]
    n = len(pairs)
    if n == 0:
        return PairedComparison(name, 0, *([math.nan] * 8))
    a_mean = math.fsum(a for a, _ in pairs) / n
    b_mean = math.fsum(b for _, b in pairs) / n
    differences = [b - a for a, b in pairs]
    summary = summarize(differences)
    if a_mean != 0:
        low, high = sorted((summary.ci_low / a_mean, summary.ci_high / a_mean))
        relative = (summary.mean / a_mean, low, high)
    elif all(d == 0 for d in differences):
        relative = (0.0, 0.0, 0.0) if n >= 2 else (0.0, math.nan, math.nan)
    else:
        relative = (math.nan, math.nan, math.nan)
    return PairedComparison(
        name, n, a_mean, b_mean, summary.mean, summary.ci_low, summary.ci_high, *relative
    )


def compare_rows(
    a_rows: Sequence[Mapping[str, float]],
    b_rows: Sequence[Mapping[str, float]],
    names: Sequence[str] = METRIC_NAMES,
) -> dict[str, PairedComparison]:
    """Compare the metrics ``names`` (every catalogue metric, by default) in that order;
    ``a_rows[r]`` pairs with ``b_rows[r]``."""
    if len(a_rows) != len(b_rows):
        raise ValueError(f"cannot pair {len(a_rows)} replications of A with {len(b_rows)} of B")
    return {
        name: compare_metric(name, [row[name] for row in a_rows], [row[name] for row in b_rows])
        for name in names
    }
