"""`--fail-if` gates of `mqlsim compare`: parse ``METRIC OP VALUE[%]`` and judge it.

The grammar is one regular expression (no ``eval``): a catalogue metric name, one of ``>``,
``>=``, ``<``, ``<=``, and a number. The number's form says what is bounded:

- signed with ``%`` (``missed_opportunities > +5%``): the relative change of B against A;
- signed without ``%`` (``wasted_sales_hours > +100``): the absolute change B - A, in the
  metric's own unit (shares as fractions: ``-0.02`` is two percentage points);
- unsigned (``mql_to_sql_rate < 0.20``): B's mean itself. An unsigned ``%`` is rejected as
  ambiguous.

The expression describes the bad case. A *change* gate fails only when the change is beyond the
bound *and* significantly so: its whole 95 % paired interval lies beyond the bound (for ``>``
the interval's low end is above the bound, for ``<`` its high end is below it). A bound gate
fails when B's mean is beyond the bound. A gate whose numbers are undefined (the metric was never
measured, a relative change against a mean of 0) fails, saying why.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES, UNIT_FORMATS, format_value
from mqlsim.experiments.paired import PairedComparison

GRAMMAR = "METRIC OP VALUE[%] with OP one of >, >=, <, <=, e.g. 'missed_opportunities > +5%'"

_GATE = re.compile(
    r"""^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)
    \s*(?P<op>>=|<=|>|<)
    \s*(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    \s*(?P<percent>%)?\s*$""",
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

    ``value`` of a relative gate is a fraction (``+5%`` is ``0.05``).
    """

    expression: str
    metric: str
    operator: str
    value: float
    kind: GateKind


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict and the numbers behind it, as a sentence."""

    gate: Gate
    passed: bool
    reason: str


def parse_gate(expression: str) -> Gate:
    """Parse one ``--fail-if`` expression; :class:`InputError` (one line) if it is not valid."""

    def invalid(problem: str) -> InputError:
        return InputError(f"--fail-if {expression!r}: {problem}")

    found = _GATE.match(expression)
    if found is None:
        raise invalid(f"expected {GRAMMAR}")
    metric, value_text = found["metric"], found["value"]
    if metric not in METRIC_BY_NAME:
        close = difflib.get_close_matches(metric, METRIC_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see docs/metrics.md"
        raise invalid(f"unknown metric {metric!r} ({hint})")
    signed = value_text[0] in "+-"
    if found["percent"] and not signed:
        raise invalid(
            "a percentage is a relative change against A and needs a sign (+5% or -5%); "
            "a bound on B's mean is a plain number such as 0.20"
        )
    value = float(value_text)
    if found["percent"]:
        return Gate(expression, metric, found["op"], value / 100, GateKind.RELATIVE)
    return Gate(
        expression, metric, found["op"], value, GateKind.ABSOLUTE if signed else GateKind.BOUND
    )


def evaluate_gate(gate: Gate, comparison: PairedComparison) -> GateResult:
    """Judge ``gate`` on its metric's paired comparison (see the module docstring)."""
    beyond, word = _OPERATORS[gate.operator]
    unit = METRIC_BY_NAME[gate.metric].unit
    if gate.kind is GateKind.BOUND:
        mean = comparison.b_mean
        if math.isnan(mean):
            return GateResult(gate, False, f"cannot be judged: B never measured {gate.metric}")
        shown = f"B's mean {_number(mean, unit, False)}"
        bound = _number(gate.value, unit, False)
        if beyond(mean, gate.value):
            return GateResult(gate, False, f"{shown} is {word} {bound}")
        return GateResult(gate, True, f"{shown} is not {word} {bound}")

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

    numbers = f"{gate.kind} {show(change)} (95 % CI {show(low)} to {show(high)}, n={comparison.n})"
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
    if comparison.n == 0:
        return f"no replication measured {gate.metric} in both A and B"
    if comparison.n == 1:
        return f"only 1 replication measured {gate.metric} in both A and B; an interval needs 2"
    return (
        f"A's mean of {gate.metric} is 0, so a relative change is undefined; use an absolute gate"
    )


def _number(value: float, unit: str, signed: bool) -> str:
    """A gate's number in the metric's unit; shares as fractions, like the expression."""
    if unit == "share":
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    text = f"{format_value(value, unit)} {UNIT_FORMATS[unit][1]}"
    return f"+{text}" if signed and value > 0 else text
