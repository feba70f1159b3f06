"""`--fail-if` gates of `mqlsim compare`: parse ``METRIC OP VALUE[%|pp]`` and judge it.

The grammar is one regular expression (no ``eval``): a catalogue metric name, one of ``>``,
``>=``, ``<``, ``<=``, and a finite number with an optional unit. The number's sign and unit say
what is bounded, and each form means one thing only:

- signed with ``%`` (``missed_opportunities > +5%``): the **relative change** of B against A;
- signed without ``%`` (``wasted_sales_hours > +100``): the **absolute change** B - A, in the
  metric's own unit. A share's change is a fraction (``-0.02``) or, as the tables show it, in
  percentage points with ``pp`` (``-2pp``): the same gate;
- unsigned (``mql_to_sql_rate < 0.20``): a **bound on B's mean**. A share's bound is a fraction
  or, as the tables show it, a percentage (``20%``): the same gate.

Rates are fractions in files and gates and shown as % in tables (docs/ci.md), so a gate written
in the table's unit is either understood as above or refused with a line that says what to
write: a share's bound above 1 (``< 20``: did you mean ``20%``?), a share's change beyond 1
(``< -2``: ``-2pp`` or ``-2%``?), ``pp`` on a metric that is not a share or without a sign, and an
unsigned ``%`` on a metric that is not a share (relative change or bound?). Numbers that are not
finite (``1e999``) are refused too.

The expression describes the bad case. A *change* gate fails only when the change is beyond the
bound *and* significantly so: its whole 95 % interval lies beyond the bound (for ``>`` the
interval's low end is above the bound, for ``<`` its high end is below it). A bound gate fails
when B's mean is beyond the bound. A gate whose numbers are undefined (the metric was never
measured, a relative change against a mean of 0) fails, saying why. Every number in a verdict is
in the table's unit: shares in %, their changes in percentage points (pp), relative changes in %.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mqlsim.core.errors import InputError, shown
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES, UNIT_FORMATS, format_value
from mqlsim.experiments.paired import PairedComparison

GRAMMAR = (
    "METRIC OP VALUE[%|pp] with OP one of >, >=, <, <=, e.g. 'missed_opportunities > +5%'"
    " (see docs/ci.md)"
)

_GATE = re.compile(
    r"""^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)
    \s*(?P<op>>=|<=|>|<)
    \s*(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    \s*(?P<unit>%|pp)?\s*$""",
    re.VERBOSE,
)
_OPERATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    ">": (operator.gt, "above"),
    ">=": (operator.ge, "at or above"),
    "<": (operator.lt, "below"),
    "<=": (operator.le, "at or below"),
}


class GateKind(StrEnum):
    """What a gate bounds."""

    RELATIVE = "relative change"
    ABSOLUTE = "absolute change"
    BOUND = "B's mean"


@dataclass(frozen=True)
class Gate:
    """A parsed ``--fail-if``: fail when ``metric``'s ``kind`` is ``operator`` ``value``.

    ``value`` is in the metric's own unit, shares as fractions (``-2pp`` and ``20%`` of a share
    are ``-0.02`` and ``0.20``); a relative gate's is a fraction too (``+5%`` is ``0.05``).
    ``unit`` is the unit as written: ``"%"``, ``"pp"`` or ``""``.
    """

    expression: str
    metric: str
    operator: str
    value: float
    kind: GateKind
    unit: str = ""


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict and the numbers behind it, as a sentence."""

    gate: Gate
    passed: bool
    reason: str


def parse_gate(expression: str) -> Gate:
    """Parse one ``--fail-if`` expression; :class:`InputError` (one line) if it is not valid."""

    def invalid(problem: str) -> InputError:
        return InputError(f"--fail-if {shown(expression)}: {problem}")

    found = _GATE.match(expression)
    if found is None:
        raise invalid(f"expected {GRAMMAR}")
    metric, value_text, unit, op = found["metric"], found["value"], found["unit"] or "", found["op"]
    if metric not in METRIC_BY_NAME:
        close = difflib.get_close_matches(metric, METRIC_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see docs/metrics.md"
        raise invalid(f"unknown metric {metric!r} ({hint})")
    value = float(value_text)
    if not math.isfinite(value):
        raise invalid(f"{value_text} is not a finite number")
    signed = value_text[0] in "+-"
    share = METRIC_BY_NAME[metric].unit == "share"
    magnitude = value_text.lstrip("+-")
    if unit == "pp":
        if not share:
            raise invalid(
                f"pp (percentage points) is for shares; {metric} is in"
                f" {UNIT_FORMATS[METRIC_BY_NAME[metric].unit][1]}: write {op} {value_text}"
                f" for a change or {op} +{magnitude}% for a relative change"
            )
        if not signed:
            raise invalid(
                f"percentage points measure a change and need a sign: {metric} {op} +{magnitude}pp"
                f" or {op} -{magnitude}pp; a bound on B's mean is {metric} {op} {magnitude}%"
            )
        return Gate(expression, metric, op, value / 100, GateKind.ABSOLUTE, unit)
    if unit == "%" and signed:
        return Gate(expression, metric, op, value / 100, GateKind.RELATIVE, unit)
    if unit == "%":
        if not share:
            raise invalid(
                f"a percentage of {metric} is a relative change against A and needs a sign"
                f" ({op} +{magnitude}% or {op} -{magnitude}%); a bound on B's mean is a plain"
                " number in the metric's unit"
            )
        if value > 100:
            raise invalid(f"{metric} is a share: B's mean lies between 0% and 100%")
        return Gate(expression, metric, op, value / 100, GateKind.BOUND, unit)
    if share and signed and abs(value) > 1:
        raise invalid(
            f"{metric} is a share, written as a fraction: a change of {value_text} is more than"
            f" 100 percentage points; write {op} {value_text}pp for percentage points (as the"
            f" table shows them), {op} {value / 100:+g} as a fraction, or {op} {value_text}%"
            " for a relative change against A"
        )
    if share and value > 1:
        raise invalid(
            f"{metric} is a share, written as a fraction: B's mean lies between 0 and 1; write"
            f" {op} {value_text}% (as the table shows it) or {op} {value / 100:g}"
        )
    return Gate(expression, metric, op, value, GateKind.ABSOLUTE if signed else GateKind.BOUND)


def evaluate_gate(gate: Gate, comparison: PairedComparison) -> GateResult:
    """Judge ``gate`` on its metric's comparison (see the module docstring)."""
    beyond, word = _OPERATORS[gate.operator]
    unit = METRIC_BY_NAME[gate.metric].unit
    if gate.kind is GateKind.BOUND:
        mean = comparison.b_mean
        if math.isnan(mean):
            return GateResult(gate, False, f"cannot be judged: B never measured {gate.metric}")
        shown_mean = f"B's mean {_number(mean, unit, False)}"
        bound = _number(gate.value, unit, False)
        if beyond(mean, gate.value):
            return GateResult(gate, False, f"{shown_mean} is {word} {bound}")
        return GateResult(gate, True, f"{shown_mean} is not {word} {bound}")

    if gate.kind is GateKind.RELATIVE:
        change, low, high = comparison.relative, comparison.relative_low, comparison.relative_high
    else:
        change, low, high = comparison.difference, comparison.ci_low, comparison.ci_high
    if math.isnan(low) or math.isnan(high):
        return GateResult(gate, False, f"cannot be judged: {_undefined(gate, comparison)}")
    near = low if gate.operator in (">", ">=") else high

    def show(value: float) -> str:
        if gate.kind is GateKind.RELATIVE:
            return f"{value * 100:+.1f} %"
        return _number(value, unit, True)

    numbers = (
        f"{gate.kind} {show(change)} (95 % CI {show(low)} to {show(high)}, {comparison.sample})"
    )
    bound = show(gate.value)
    if beyond(near, gate.value):
        verdict = f"significantly {word} {bound} (the whole interval is)"
        return GateResult(gate, False, f"{numbers}: {verdict}")
    if beyond(change, gate.value):
        return GateResult(
            gate,
            True,
            f"{numbers}: {word} {bound} but not significantly (the interval reaches {show(near)})",
        )
    return GateResult(gate, True, f"{numbers}: not {word} {bound}")


def _undefined(gate: Gate, comparison: PairedComparison) -> str:
    """Why a change gate has no interval to judge."""
    both = "in both A and B" if comparison.paired else "in A or in B"
    if comparison.n == 0:
        return f"no replication measured {gate.metric} {both}"
    if comparison.n == 1 or comparison.n_b == 1:
        return f"only 1 replication measured {gate.metric} {both}; an interval needs 2"
    return (
        f"A's mean of {gate.metric} is 0, so a relative change is undefined; use an absolute gate"
    )


def _number(value: float, unit: str, signed: bool) -> str:
    """A gate's number as the tables show it: shares in %, their changes in percentage points."""
    if unit == "share":
        return f"{value * 100:+.1f} pp" if signed else f"{value * 100:.1f} %"
    text = f"{format_value(value, unit)} {UNIT_FORMATS[unit][1]}"
    return f"+{text}" if signed and value > 0 else text
