"""Targets files for `mqlsim calibrate`: what a company observes of its own funnel.

A targets file is TOML with one table, ``[targets]``, keyed by metric names of
:mod:`mqlsim.core.metric_catalog` (docs/metrics.md), plus ``period_days``::

    [targets]
    period_days = 30                                 # the counts below are per 30 days
    leads = 900                                      # a number: +-5 % is close enough
    lead_to_mql_rate = { value = 0.18, n = 10800 }   # a rate and the count it was measured on
    mql_to_sql_rate = { low = 0.27, high = 0.33 }    # an interval

Rates are fractions (0.18, not 18), durations are in the metric's unit (``_days``, ``_hours``),
and totals over the measured period (:data:`PERIOD_TOTALS`: counts, money, rep hours) are per
``period_days``. Each target becomes a :class:`Target` with a central value and a band: a plain
number's band is +-:data:`DEFAULT_RELATIVE_TOLERANCE` of it; ``{ value, n }`` (rates only) is
the 95 % Wilson score interval of a proportion measured on ``n``; ``{ low, high }`` is itself.

Problems are reported like a scenario file's (one line each, naming the file, the key, what was
expected and the line), and so are targets that contradict each other (:func:`contradictions`).
Metrics that only the simulator can see (the hidden buying intent behind missed opportunities,
precision and recall) cannot be targets.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, create_model, model_validator

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import (
    METRIC_BY_NAME,
    METRIC_NAMES,
    SEGMENT_METRICS,
    format_value,
)
from mqlsim.core.schema import StrictModel
from mqlsim.scenario.loading import key_line, read_toml, validation_lines

#: A plain number's band: this share of the value either side.
DEFAULT_RELATIVE_TOLERANCE = 0.05
#: ``{ value, n }``: the Wilson score interval at 95 % (its normal quantile).
WILSON_Z = 1.959963984540054

#: Metrics that are totals over the measured period: a target gives them per ``period_days``.
PERIOD_TOTALS: frozenset[str] = frozenset(
    {
        "leads",
        "mqls",
        "mql_events",
        "sals",
        "sqls",
        "opportunities",
        "deals_won",
        "pipeline_value",
        "revenue_won",
        "sales_hours",
        "wasted_sales_hours",
        "missed_opportunities",
        "missed_never_mql",
        "missed_mql_too_late",
        "missed_waited_in_queue",
        "missed_not_reached",
        "lost_pipeline_value",
    }
)

#: Metrics a company cannot measure: they need the leads' hidden buying intent.
HIDDEN_METRICS: frozenset[str] = frozenset(
    {
        "missed_opportunities",
        "missed_never_mql",
        "missed_mql_too_late",
        "missed_waited_in_queue",
        "missed_not_reached",
        "lost_pipeline_value",
        "mql_precision",
        "mql_recall",
    }
)

#: Funnel counts, each at most the one before it.
FUNNEL_COUNTS: tuple[str, ...] = ("leads", "mqls", "sals", "sqls", "opportunities", "deals_won")
#: ``rate = numerator / denominator`` (docs/metrics.md).
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("lead_to_mql_rate", "mqls", "leads"),
    ("mql_to_sal_rate", "sals", "mqls"),
    ("mql_to_sql_rate", "sqls", "mqls"),
    ("sql_to_won_rate", "deals_won", "sqls"),
    ("mql_to_won_rate", "deals_won", "mqls"),
)
#: ``(smaller, larger, why)``: pairs of targets whose order the model's definitions fix.
ORDERED: tuple[tuple[str, str, str], ...] = (
    ("mql_to_sql_rate", "mql_to_sal_rate", "an SQL is an MQL that sales accepted"),
    ("mql_to_won_rate", "mql_to_sql_rate", "a won deal was an SQL first"),
    ("mqls", "mql_events", "every MQL lead has at least one MQL event"),
    (
        "speed_to_lead_hours_median",
        "speed_to_lead_hours_p90",
        "a median is at most the 90th percentile",
    ),
    ("wasted_sales_hours", "sales_hours", "wasted hours are part of the sales hours"),
)

_FORMS = "a number, { value = ..., n = ... } or { low = ..., high = ... }"


class TargetSpec(StrictModel):
    """One target as written: a number, ``{ value, n }`` or ``{ low, high }``."""

    value: float | None = None
    n: int | None = None
    low: float | None = None
    high: float | None = None

    #: Whether the metric is a share (``n`` allowed, values in 0-1); set by subclasses.
    share: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _number_is_a_value(cls, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | float | dict):
            raise ValueError(f"expected {_FORMS}, found {_show(data)}")
        if not isinstance(data, dict) and not math.isfinite(data):
            raise ValueError(f"expected a finite number, found {data}")
        return data if isinstance(data, dict) else {"value": data}

    @model_validator(mode="after")
    def _one_form(self) -> TargetSpec:
        given = [name for name in ("value", "n", "low", "high") if getattr(self, name) is not None]
        if given not in (["value"], ["value", "n"], ["low", "high"]):
            raise ValueError(f"expected {_FORMS}, found keys {', '.join(given) or 'none'}")
        for name in ("value", "low", "high"):
            number = getattr(self, name)
            if number is None:
                continue
            which = "" if given == ["value"] else f"{name}: "
            if not math.isfinite(number):
                raise ValueError(f"{which}expected a finite number, found {number}")
            if number < 0:
                raise ValueError(f"{which}expected a value >= 0, found {number:g}")
            if self.share and number > 1:
                raise ValueError(
                    f"{which}expected a fraction between 0 and 1, found {number:g}"
                    + (f" (write {number:g} % as {number / 100:g})" if number <= 100 else "")
                )
        if self.n is not None:
            if not self.share:
                raise ValueError(
                    "n is for rates (the count a rate was measured on); give a count or a"
                    " duration as { low = ..., high = ... }"
                )
            if self.n < 1:
                raise ValueError(f"n: expected a count >= 1, found {self.n}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"expected low < high, found low {self.low:g}, high {self.high:g}")
        if self.n is None and self.value == 0:
            raise ValueError(
                "a target of 0 has no relative tolerance: give { low = 0, high = ... }"
            )
        return self


class ShareSpec(TargetSpec):
    """A target on a rate or another share: values are fractions; ``n`` is allowed."""

    share: ClassVar[bool] = True


class HiddenSpec(StrictModel):
    """A metric a company cannot observe: refused whatever its value."""

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, data: Any) -> Any:
        raise ValueError(
            "cannot be a target: it needs the leads' hidden buying intent, which no CRM records"
        )


def _metric_fields(names: tuple[str, ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in names:
        if name in HIDDEN_METRICS:
            kind: type = HiddenSpec
        else:
            kind = ShareSpec if METRIC_BY_NAME[name].unit == "share" else TargetSpec
        fields[name] = (kind | None, Field(None, description=METRIC_BY_NAME[name].description))
    return fields


ChannelTable = create_model("ChannelTable", __base__=StrictModel, **_metric_fields(SEGMENT_METRICS))
"""``[targets.channel.NAME]``: one optional field per metric a breakdown by channel measures."""

TargetsTable = create_model(
    "TargetsTable",
    __base__=StrictModel,
    period_days=(
        float | None,
        Field(None, gt=0, description="Days the count targets are given per."),
    ),
    channel=(
        dict[str, ChannelTable] | None,
        Field(None, description="Targets of one channel, by the base scenario's channel name."),
    ),
    **_metric_fields(METRIC_NAMES),
)
"""``[targets]``: one optional field per catalogue metric, ``period_days`` and the per-channel
tables ``[targets.channel.NAME]``."""


class TargetsFile(StrictModel):
    """A whole targets file."""

    targets: TargetsTable


@dataclass(frozen=True)
class Target:
    """One target: a metric's observed ``value`` and the band ``[low, high]`` a simulated mean
    may fall in to match it; ``n`` when it was measured on ``n`` leads (rates)."""

    metric: str
    value: float
    low: float
    high: float
    form: Literal["value", "measured", "interval"]
    n: int | None = None
    #: The channel the target is about (``[targets.channel.NAME]``); ``None``: every lead.
    channel: str | None = None

    @property
    def key(self) -> str:
        """The target's key in the file: ``mql_to_won_rate``, ``channel.email.mql_to_won_rate``."""
        return self.metric if self.channel is None else f"channel.{self.channel}.{self.metric}"

    def z(self, simulated: float) -> float:
        """How far ``simulated`` is from the value, in half-bands: within the band is at most 1
        either side (the band may be asymmetric)."""
        if simulated >= self.value:
            return (simulated - self.value) / (self.high - self.value)
        return (simulated - self.value) / (self.value - self.low)

    def within(self, simulated: float) -> bool:
        """Whether ``simulated`` lies in the band."""
        return self.low <= simulated <= self.high

    def text(self) -> str:
        """The target as written, in the metric's display unit (``18.0 %``, ``900``...)."""
        unit = METRIC_BY_NAME[self.metric].unit
        symbol = " %" if unit == "share" else ""
        if self.form == "interval":
            return f"{_show_value(self.low, unit)}–{_show_value(self.high, unit)}{symbol}"
        shown = f"{_show_value(self.value, unit)}{symbol}"
        return shown if self.n is None else f"{shown} of {self.n:,}"

    def band_text(self) -> str:
        """The band in the metric's display unit (``17.1–18.9 %``)."""
        unit = METRIC_BY_NAME[self.metric].unit
        symbol = " %" if unit == "share" else ""
        return f"{_show_value(self.low, unit)}–{_show_value(self.high, unit)}{symbol}"


@dataclass(frozen=True)
class Targets:
    """A validated targets file: its label (the path as given), ``period_days`` and the
    targets in catalogue order."""

    label: str
    period_days: float | None
    items: tuple[Target, ...]

    def __iter__(self) -> Iterator[Target]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics that have a target for every lead (not per channel)."""
        return tuple(target.metric for target in self.items if target.channel is None)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels that have targets, in file order."""
        return tuple(dict.fromkeys(t.channel for t in self.items if t.channel is not None))

    def of_channel(self, channel: str | None) -> tuple[Target, ...]:
        """The targets about ``channel`` (``None``: those about every lead)."""
        return tuple(target for target in self.items if target.channel == channel)

    def per_period(self, metric: str, value: float, measured_days: float) -> float:
        """A simulated ``value`` of ``metric`` over ``measured_days``, on the targets' scale:
        per ``period_days`` for :data:`PERIOD_TOTALS`, as it is for the others."""
        if metric in PERIOD_TOTALS:
            assert self.period_days is not None  # load_targets requires it with totals
            return value * self.period_days / measured_days
        return value


def load_targets(path: str | os.PathLike[str]) -> Targets:
    """Read and check a targets file; :class:`InputError` with one line per problem (unreadable
    file, TOML syntax, unknown metric, bad value, targets that contradict each other)."""
    label = str(path)
    data, text = read_toml(Path(path), label)
    try:
        table: Any = TargetsFile.model_validate(data).targets
    except ValidationError as error:
        lines = validation_lines(error, TargetsFile, label, text)
        raise InputError(list(dict.fromkeys(lines))) from None

    def where(*keys: str) -> str:
        line = key_line(text, ("targets", *keys))
        return f" (line {line})" if line else ""

    items = tuple(
        _target(name, getattr(table, name))
        for name in METRIC_NAMES
        if getattr(table, name) is not None
    ) + tuple(
        _target(name, getattr(per_channel, name), channel)
        for channel, per_channel in (table.channel or {}).items()
        for name in SEGMENT_METRICS
        if getattr(per_channel, name) is not None
    )
    totals = [target.key for target in items if target.metric in PERIOD_TOTALS]
    problems = []
    if not items:
        problems.append(
            f"{label}: targets: no targets; expected metric names such as"
            " leads, lead_to_mql_rate, mql_to_sql_rate" + where()
        )
    if totals and table.period_days is None:
        problems.append(
            f"{label}: targets.period_days: required with totals ({', '.join(totals)}): they"
            " are counted per period_days, e.g. period_days = 30" + where()
        )
    targets = Targets(label=label, period_days=table.period_days, items=items)
    problems.extend(
        f"{label}: {message}{where(*first.split('.'))}"
        for first, message in contradictions(targets)
    )
    if problems:
        raise InputError(problems)
    return targets


def _target(metric: str, spec: TargetSpec, channel: str | None = None) -> Target:
    if spec.low is not None and spec.high is not None:
        return Target(
            metric, (spec.low + spec.high) / 2, spec.low, spec.high, "interval", channel=channel
        )
    assert spec.value is not None  # TargetSpec checked the forms
    if spec.n is not None:
        low, high = wilson_interval(spec.value, spec.n)
        return Target(metric, spec.value, low, high, "measured", spec.n, channel)
    half = DEFAULT_RELATIVE_TOLERANCE * spec.value
    return Target(
        metric, spec.value, spec.value - half, spec.value + half, "value", channel=channel
    )


def wilson_interval(rate: float, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``rate`` observed on ``n`` trials: unlike
    ``rate +- z * se`` it stays inside 0-1 and is not empty at 0 or 1."""
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def contradictions(targets: Targets) -> list[tuple[str, str]]:
    """Targets that cannot hold together, even at the edges of their bands: ``(metric, line)``
    pairs, the metric being where the line points.

    Funnel counts must not grow down the funnel, an SQL rate cannot exceed the SAL rate (and
    the other pairs of :data:`ORDERED`), and a rate given with both of its counts must agree
    with their ratio.
    """
    found: list[tuple[str, str]] = []
    for channel in (None, *targets.channels):
        found.extend(_contradictions({t.metric: t for t in targets.of_channel(channel)}))
    return found


def _contradictions(given: dict[str, Target]) -> list[tuple[str, str]]:
    """:func:`contradictions` among the targets of one channel (or of every lead)."""
    found = []

    def shown(target: Target) -> str:
        return f"targets.{target.key} ({target.text()})"

    counts = [given[name] for name in FUNNEL_COUNTS if name in given]
    for position, later in enumerate(counts):
        for earlier in counts[:position]:
            if later.low > earlier.high:
                found.append(
                    (
                        later.key,
                        f"{shown(later)} exceeds {shown(earlier)}: each funnel stage counts"
                        " leads of the stage before it",
                    )
                )
    for smaller, larger, why in ORDERED:
        if smaller in given and larger in given and given[smaller].low > given[larger].high:
            found.append(
                (
                    given[smaller].key,
                    f"{shown(given[smaller])} exceeds {shown(given[larger])}: {why}",
                )
            )
    for rate, numerator, denominator in RATIOS:
        if not all(name in given for name in (rate, numerator, denominator)):
            continue
        top, bottom = given[numerator], given[denominator]
        lowest = top.low / bottom.high
        highest = top.high / bottom.low if bottom.low > 0 else math.inf
        if lowest > given[rate].high or highest < given[rate].low:
            found.append(
                (
                    given[rate].key,
                    f"{shown(given[rate])} disagrees with {shown(top)} / {shown(bottom)}"
                    f" = {_show_value(top.value / bottom.value, 'share')} %: give two of the"
                    " three, or bands that overlap",
                )
            )
    return found


def _show_value(value: float, unit: str) -> str:
    """A target's number as tables show the metric, with more digits for small shares."""
    if unit == "share":
        return f"{value * 100:.1f}" if value >= 0.01 else f"{value * 100:.2g}"
    if unit in ("leads", "events", "deals"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return format_value(value, unit)


def _show(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
