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

Two saved runs that do not share their seed and replication count (``mqlsim compare`` of two
``results.json``) cannot be paired: :func:`compare_unpaired` then compares the two samples with
Welch's t-interval (unequal variances, Welch–Satterthwaite degrees of freedom), which is wider,
and the same rules apply with ``n`` and ``n_b`` counting each side's measured replications.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from mqlsim.experiments.summary import CONFIDENCE, summarize

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
    #: False for two independent samples (:func:`compare_unpaired`); ``n`` then counts A's
    #: measured replications and ``n_b`` B's.
    paired: bool = True
    n_b: int | None = None

    @property
    def sample(self) -> str:
        """How many replications the interval rests on: ``n=5``, or ``n=5 and 3 (unpaired)``."""
        if self.paired:
            return f"n={self.n}"
        return f"n={self.n} and {self.n_b} (unpaired)"

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
        return _unmeasured(name, 0)
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


def _unmeasured(name: str, n: int, paired: bool = True, n_b: int | None = None) -> PairedComparison:
    """A comparison with nothing to compare: every number ``nan``."""
    nan = math.nan
    return PairedComparison(name, n, nan, nan, nan, nan, nan, nan, nan, nan, paired, n_b)


def compare_unpaired(
    name: str, a_values: Sequence[float], b_values: Sequence[float]
) -> PairedComparison:
    """Compare metric ``name`` over two independent samples: Welch's 95 % t-interval of
    ``mean(B) - mean(A)``; the relative change and its interval are divided by A's mean as in
    :func:`compare_metric`."""
    a = np.array([float(v) for v in a_values if not math.isnan(v)])
    b = np.array([float(v) for v in b_values if not math.isnan(v)])
    nan = math.nan
    if a.size == 0 or b.size == 0:
        return _unmeasured(name, int(a.size), paired=False, n_b=int(b.size))
    a_mean, b_mean = float(a.mean()), float(b.mean())
    difference = b_mean - a_mean
    low = high = math.nan
    if a.size >= 2 and b.size >= 2:
        a_var, b_var = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        spread = a_var + b_var
        if spread == 0:
            low = high = difference
        else:
            freedom = spread**2 / (a_var**2 / (a.size - 1) + b_var**2 / (b.size - 1))
            # scipy.stats.t.ppf's own function, without loading scipy.stats (as summarize does)
            from scipy.special import stdtrit

            half = float(stdtrit(freedom, 0.5 + CONFIDENCE / 2) * math.sqrt(spread))
            low, high = difference - half, difference + half
    if a_mean != 0:
        relative_low, relative_high = sorted((low / a_mean, high / a_mean))
        relative = difference / a_mean
    elif difference == 0 and low == high == 0:
        relative = relative_low = relative_high = 0.0
    else:
        relative = relative_low = relative_high = nan
    return PairedComparison(
        name,
        int(a.size),
        a_mean,
        b_mean,
        difference,
        low,
        high,
        relative,
        relative_low,
        relative_high,
        False,
        int(b.size),
    )


def compare_rows(
    a_rows: Sequence[Mapping[str, float]],
    b_rows: Sequence[Mapping[str, float]],
    paired: bool = True,
    names: Sequence[str] = METRIC_NAMES,
) -> dict[str, PairedComparison]:
    """Compare the metrics ``names`` (every catalogue metric, by default) in that order:
    ``a_rows[r]`` pairs with ``b_rows[r]``, or, with ``paired=False``, the two samples are
    independent (:func:`compare_unpaired`)."""
    if paired and len(a_rows) != len(b_rows):
        raise ValueError(f"cannot pair {len(a_rows)} replications of A with {len(b_rows)} of B")
    compare = compare_metric if paired else compare_unpaired
    return {
        name: compare(name, [row[name] for row in a_rows], [row[name] for row in b_rows])
        for name in names
    }
