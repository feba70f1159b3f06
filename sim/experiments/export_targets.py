"""Calibration targets from a CRM lifecycle export (`mqlsim calibrate --from-export`).

The export is read by :func:`mqlsim.experiments.lifecycle.read_lifecycle` (one row per lead,
HubSpot's column names by default); an export in several files (contacts and deals, say) is
joined on the lead id there, by the rule that merges a lead's rows within one file. From it,
:func:`targets_from_export` computes what the targets file of docs/calibration.md holds, with
the counts they were measured on:

* **Cohorts.** Leads are counted by the date they entered the first stage the export records
  (created, else MQL: an export of MQLs only, such as Olist's, starts there), inside one
  window. The window opens on the day the export first records its deepest stage (an export
  that shows no deal before some date was cut then, and earlier cohorts would look as if they
  never converted) and closes :data:`MATURITY` of the way through the export's own lags: a
  cohort is kept only when the export's end leaves it the time that 90 % of the observed
  conversions from the first to the deepest stage took (the right-censoring of leads too young
  to have converted). ``since`` and ``until`` override either end.
* **Targets.** Counts per ``period_days`` (``leads``, ``mqls``; the file's default band); each
  rate between two recorded stages as ``{ value, n }`` on the cohort's leads that reached the
  earlier stage; the median days lead→MQL and MQL→won as the distribution-free 95 % interval
  of a median; the same counts and rates per source, as ``[targets.channel.NAME]``
  (leads without a source count in the totals only).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.experiments.lifecycle import Lifecycle, LifecycleColumns, read_lifecycle
from mqlsim.experiments.tabular import NO_TIME, NS_PER_DAY
from mqlsim.scenario.targets import (
    DEFAULT_RELATIVE_TOLERANCE,
    WILSON_Z,
    Target,
    Targets,
    contradictions,
    wilson_interval,
)

#: A cohort is kept when the export's end leaves it the time this share of the observed
#: conversions took.
MATURITY = 0.9
#: The stages a rate target joins, ``(rate, earlier stage, later stage)``; ``created`` is the
#: lead's creation.
RATE_STAGES: tuple[tuple[str, str, str], ...] = (
    ("lead_to_mql_rate", "created", "mql"),
    ("mql_to_sal_rate", "mql", "sal"),
    ("mql_to_sql_rate", "mql", "sql"),
    ("sql_to_won_rate", "sql", "customer"),
    ("mql_to_won_rate", "mql", "customer"),
)
#: Median durations, ``(metric, earlier stage, later stage)``.
MEDIAN_STAGES: tuple[tuple[str, str, str], ...] = (
    ("time_to_mql_days_median", "created", "mql"),
    ("days_mql_to_won_median", "mql", "customer"),
)
#: The count of leads that entered each stage, as a metric.
COUNTS: dict[str, str] = {"created": "leads", "mql": "mqls"}


@dataclass(frozen=True)
class ExportTargets:
    """Targets computed from an export and how: the cohort window (``since`` inclusive,
    ``until`` exclusive, nanoseconds since 1970 UTC), the stage cohorts start at, the
    maturity lag in days, and the leads read and kept."""

    targets: Targets
    since_ns: int
    until_ns: int
    first_stage: str
    maturity_days: float
    leads_read: int
    leads_kept: int
    problems: tuple[str, ...]

    @staticmethod
    def day(ns: int) -> str:
        """A window's end as a date (``2017-12-05``)."""
        return _day(ns)


def read_exports(
    paths: Sequence[str | os.PathLike[str]],
    columns: LifecycleColumns | None = None,
    *,
    day_first: bool = False,
) -> tuple[Lifecycle, tuple[str, ...]]:
    """Read one or more lifecycle export files, joined on the lead id (as
    :func:`~mqlsim.experiments.lifecycle.read_lifecycle` merges a lead's rows); returns the
    lifecycle and every file's problems (``FILE:LINE: ...``)."""
    if not paths:
        raise InputError("--from-export: expected at least one lifecycle export file")
    lifecycle = read_lifecycle(paths, columns, day_first=day_first)
    problems = tuple(line for file in lifecycle.problems for line in file.error_lines())
    return lifecycle, problems


def targets_from_export(
    lifecycle: Lifecycle,
    *,
    period_days: float = 30.0,
    since_ns: int | None = None,
    until_ns: int | None = None,
    problems: Sequence[str] = (),
) -> ExportTargets:
    """The targets a lifecycle export supports (see the module docstring)."""
    dated = _dated_stages(lifecycle)
    if not dated:
        raise InputError(
            f"{lifecycle.label}: no dated stage (created, mql, ...); expected dates in the"
            " lifecycle columns (docs/calibration.md)"
        )
    first, deepest = dated[0], dated[-1]
    start = _at(lifecycle, first)
    in_first = start != NO_TIME
    end = max(int(_at(lifecycle, stage)[_at(lifecycle, stage) != NO_TIME].max()) for stage in dated)
    lags = _lags(lifecycle, first, deepest)
    maturity = float(np.quantile(lags, MATURITY)) if lags.size else 0.0
    if since_ns is None:
        reached_deepest = _at(lifecycle, deepest)
        since_ns = int(reached_deepest[reached_deepest != NO_TIME].min()) if len(dated) > 1 else 0
        since_ns = max(since_ns // NS_PER_DAY * NS_PER_DAY, int(start[in_first].min()))
    if until_ns is None:
        last_day = (int(start[in_first].max()) // NS_PER_DAY + 1) * NS_PER_DAY
        until_ns = min(end - int(maturity * NS_PER_DAY), last_day)
    if until_ns <= since_ns:
        raise InputError(
            f"{lifecycle.label}: no cohort old enough: the window from {_day(since_ns)} to"
            f" {_day(until_ns)} is empty (90 % of conversions to {deepest} took"
            f" {maturity:.0f} days, and the export ends {_day(end)}); give --since and --until"
        )
    cohort = in_first & (start >= since_ns) & (start < until_ns)
    window_days = (until_ns - since_ns) / NS_PER_DAY
    label = lifecycle.label
    items = _targets(lifecycle, cohort, dated, period_days / window_days, None)
    sources = np.array(lifecycle.source, dtype=object)
    for name in dict.fromkeys(lifecycle.source):
        if name:
            items += _targets(
                lifecycle, cohort & (sources == name), dated, period_days / window_days, name
            )
    targets = Targets(label=label, period_days=period_days, items=tuple(items))
    clashes = contradictions(targets)
    if clashes:
        raise InputError([f"{label}: {message}" for _, message in clashes])
    return ExportTargets(
        targets=targets,
        since_ns=since_ns,
        until_ns=until_ns,
        first_stage=first,
        maturity_days=maturity,
        leads_read=lifecycle.n_leads,
        leads_kept=int(cohort.sum()),
        problems=tuple(problems),
    )


def _dated_stages(lifecycle: Lifecycle) -> list[str]:
    """``created`` (when the export dates creation apart from the MQL) and the dated stages
    the export records, in funnel order."""
    stages = [s for s in lifecycle.stages if (lifecycle.at_ns[s] != NO_TIME).any()]
    created = lifecycle.created_ns
    has_created = (created != NO_TIME).any()
    if has_created and "mql" in stages:
        mql = lifecycle.at_ns["mql"]
        both = (created != NO_TIME) & (mql != NO_TIME)
        # An export of MQLs only (every lead an MQL, on the day it was created) has no lead
        # stage before the MQL: the model's leads are not in it.
        if lifecycle.reached["mql"].all() and np.all(
            mql[both] // NS_PER_DAY == created[both] // NS_PER_DAY
        ):
            has_created = False
    return (["created"] if has_created else []) + stages


def _at(lifecycle: Lifecycle, stage: str) -> np.ndarray:
    return lifecycle.created_ns if stage == "created" else lifecycle.at_ns[stage]


def _lags(lifecycle: Lifecycle, earlier: str, later: str) -> np.ndarray:
    """Days from ``earlier`` to ``later`` of the leads dated at both (negative lags, a later
    stage recorded before the earlier, count as 0)."""
    a, b = _at(lifecycle, earlier), _at(lifecycle, later)
    both = (a != NO_TIME) & (b != NO_TIME)
    return np.clip((b[both] - a[both]) / NS_PER_DAY, 0.0, None)


def _targets(
    lifecycle: Lifecycle,
    cohort: np.ndarray,
    dated: list[str],
    per_period: float,
    channel: str | None,
) -> list[Target]:
    """The counts, rates and medians of one cohort (every lead, or one source's)."""
    found: list[Target] = []
    for stage, metric in COUNTS.items():
        if stage == dated[0]:
            value = float(cohort.sum()) * per_period
            if value > 0:
                half = DEFAULT_RELATIVE_TOLERANCE * value
                found.append(
                    Target(metric, value, value - half, value + half, "value", channel=channel)
                )
    for metric, earlier, later in RATE_STAGES:
        if earlier not in dated or later not in dated:
            continue
        entered = cohort & _reached(lifecycle, earlier)
        n = int(entered.sum())
        if n:
            rate = float((entered & _reached(lifecycle, later)).sum()) / n
            low, high = wilson_interval(rate, n)
            found.append(Target(metric, rate, low, high, "measured", n, channel))
    if channel is None:
        for metric, earlier, later in MEDIAN_STAGES:
            if earlier in dated and later in dated:
                median = _median_target(metric, lifecycle, cohort, earlier, later)
                if median is not None:
                    found.append(median)
    return found


def _reached(lifecycle: Lifecycle, stage: str) -> np.ndarray:
    if stage == "created":
        return lifecycle.created_ns != NO_TIME
    return lifecycle.reached[stage]


def _median_target(
    metric: str, lifecycle: Lifecycle, cohort: np.ndarray, earlier: str, later: str
) -> Target | None:
    """The median lag of the cohort as its distribution-free 95 % interval (the order
    statistics ``n/2 -+ 1.96 sqrt(n)/2``), or the default band when they are all alike;
    ``None`` for fewer than 10 leads."""
    a, b = _at(lifecycle, earlier), _at(lifecycle, later)
    both = cohort & (a != NO_TIME) & (b != NO_TIME)
    lags = np.sort(np.clip((b[both] - a[both]) / NS_PER_DAY, 0.0, None))
    n = lags.size
    if n < 10:
        return None
    spread = WILSON_Z * math.sqrt(n) / 2
    low = float(lags[max(0, math.floor(n / 2 - spread) - 1)])
    high = float(lags[min(n - 1, math.ceil(n / 2 + spread) - 1)])
    if not low < high:  # lags all alike: the file's default band around them
        half = DEFAULT_RELATIVE_TOLERANCE * low
        return Target(metric, low, low - half, low + half, "value") if low > 0 else None
    # Written as { low, high } (a targets file's form for durations), so its value is the
    # interval's middle: within a few per cent of the median for any sample worth fitting.
    return Target(metric, (low + high) / 2, low, high, "interval")


def _day(ns: int) -> str:
    return str(np.datetime64(ns, "ns").astype("datetime64[D]"))
