"""Is the measured period a steady state? The drift of weekly series over it, and the warning.

Each replication fits a line to its weekly MQL events and its weekly rep utilisation over the
measured period (:func:`mqlsim.model.metrics.stationarity_drifts`): the line's change from the
first week to the last, as a share of the mean, is the series' **drift**, with a standard error
widened for the weeks' autocorrelation. Over the replications the drift is their mean, with the
error of a mean of independent estimates. A series **drifts** when its drift is both
significant (two-sided, :data:`SIGNIFICANCE`) and material (at least :data:`MATERIAL_DRIFT`
of its mean): a trend too small to matter, or too uncertain to tell, is not reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: The weekly series checked, with how a warning names each.
SERIES: dict[str, str] = {
    "mql_events": "weekly MQL events",
    "rep_utilization": "weekly rep utilisation",
}
#: A drift is significant when its two-sided p-value is below this.
SIGNIFICANCE = 0.01
#: ...and material when it moves the series by at least this share of its mean.
MATERIAL_DRIFT = 0.05
_Z95 = NormalDist().inv_cdf(0.975)
_Z_SIGNIFICANT = NormalDist().inv_cdf(1.0 - SIGNIFICANCE / 2.0)


@dataclass(frozen=True)
class DriftCheck:
    """One weekly series over the replications: its mean ``drift`` with a 95 % interval, each
    replication's drift (``values``; ``nan`` where the period held too few weeks), the number
    of whole ``weeks`` and whether the series ``drifts``."""

    series: str
    drift: float
    ci_low: float
    ci_high: float
    values: tuple[float, ...]
    weeks: int
    drifts: bool

    def warning(self, scenario_name: str) -> str:
        """One line for the user: which series drifts, by how much, and what to do."""
        return (
            f"{scenario_name}: not a steady state: {SERIES[self.series]} drift "
            f"{self.drift:+.0%} over the measured period (95 % CI {self.ci_low:+.0%} to "
            f"{self.ci_high:+.0%}, {len(self.values)} replication"
            f"{'' if len(self.values) == 1 else 's'}); start from the stationary stock "
            "(population.initial_stock) or lengthen scenario.warmup_days"
        )


def check_stationarity(rows: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, DriftCheck]:
    """Every series of :data:`SERIES` over the replications' ``rows`` (one
    ``{series: {"drift", "error", "weeks"}}`` per replication)."""
    checks = {}
    for series in SERIES:
        values = tuple(float(row[series]["drift"]) for row in rows)
        errors = [float(row[series]["error"]) for row in rows]
        weeks = int(rows[0][series]["weeks"]) if rows else 0
        measured = [(v, e) for v, e in zip(values, errors, strict=True) if math.isfinite(v)]
        if not measured:
            checks[series] = DriftCheck(series, math.nan, math.nan, math.nan, values, weeks, False)
            continue
        drift = sum(v for v, _ in measured) / len(measured)
        error = math.sqrt(sum(e * e for _, e in measured)) / len(measured)
        significant = error == 0 or abs(drift) > _Z_SIGNIFICANT * error
        checks[series] = DriftCheck(
            series=series,
            drift=drift,
            ci_low=drift - _Z95 * error,
            ci_high=drift + _Z95 * error,
            values=values,
            weeks=weeks,
            drifts=significant and abs(drift) >= MATERIAL_DRIFT,
        )
    return checks
