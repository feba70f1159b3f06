"""What a run will cost, known before it starts: memory and time, from its expected size.

:func:`mqlsim.model.footprint.footprint` gives a replication's expected leads, activity events
and planned nurture touches; the constants below turn them into bytes and seconds. They were
measured on the 2-core reference machine (17 runs from 72,000 to 3 million leads and up to
51 million events; docs/experiments.md, "Memory and time", has the table): the memory
estimates came within 0.76-1.85 times the peak measured (1.06-1.54 for all but a
buying-window-heavy run and the predictive policy), the times within 0.67-2.5 times. A
policy family may add its own cost per lead (``extra_bytes_per_lead`` and
``extra_seconds_per_lead`` of :class:`mqlsim.policies.sections.PolicyConfigBase`; the
predictive policy does).

A run whose replications running at once would need more memory than the limit (this
machine's memory, or the container's, unless ``max_memory`` says otherwise) is refused with
the estimate and the limit; a run estimated to take longer than :data:`LONG_RUN_SECONDS` warns
how long.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mqlsim.core.errors import InputError, MqlsimWarning
from mqlsim.model.footprint import Footprint, footprint
from mqlsim.policies.sections import PolicyConfigBase
from mqlsim.scenario.models import Scenario

BYTES_PER_EVENT = 48
BYTES_PER_TOUCH = 40
BYTES_PER_LEAD = 250
BYTES_PER_REPLICATION = 32 << 20
#: A worker process (the interpreter, numpy, SimPy) before it runs anything.
BYTES_PER_WORKER = 64 << 20
SECONDS_PER_EVENT = 0.45e-6
SECONDS_PER_TOUCH = 0.05e-6
SECONDS_PER_LEAD = 6e-6
SECONDS_PER_REPLICATION = 0.5
#: Runs estimated to take longer than this say how long, before they start.
LONG_RUN_SECONDS = 600.0

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Estimate:
    """One replication's expected peak memory (bytes, its worker process excluded) and time."""

    bytes: float
    seconds: float
    leads: float
    events: float


def estimate(scenario: Scenario, size: Footprint | None = None) -> Estimate:
    """The expected cost of one replication of ``scenario`` (see the module docstring), from
    its ``size`` when that is known already."""
    size = footprint(scenario) if size is None else size
    touches = scenario.nurture.planned_touches_per_lead() * size.leads
    activity = size.events - touches
    policies = _policy_sections(scenario.policy)
    extra_bytes = sum(type(policy).extra_bytes_per_lead for policy in policies)
    extra_seconds = sum(type(policy).extra_seconds_per_lead for policy in policies)
    return Estimate(
        bytes=BYTES_PER_REPLICATION
        + BYTES_PER_EVENT * activity
        + BYTES_PER_TOUCH * touches
        + (BYTES_PER_LEAD + extra_bytes) * size.leads,
        seconds=SECONDS_PER_REPLICATION
        + SECONDS_PER_EVENT * activity
        + SECONDS_PER_TOUCH * touches
        + (SECONDS_PER_LEAD + extra_seconds) * size.leads,
        leads=size.leads,
        events=size.events,
    )


def _policy_sections(section: object) -> list[PolicyConfigBase]:
    """``section`` and every policy section nested in it (rules, a gate's rule, a bootstrap)."""
    found = [section] if isinstance(section, PolicyConfigBase) else []
    children: list[object] = []
    if isinstance(section, PolicyConfigBase):
        children = [getattr(section, name) for name in type(section).model_fields]
    elif isinstance(section, list | tuple):
        children = list(section)
    for child in children:
        if isinstance(child, PolicyConfigBase | list | tuple):
            found += _policy_sections(child)
    return found


def memory_limit() -> int:
    """This machine's memory, or its container's limit when lower (cgroup v2 or v1)."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        limit = 1 << 60
    for control in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(control).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return limit


def parse_memory(text: str | int, option: str = "--max-memory") -> int:
    """A memory size in bytes: ``16GB``, ``16G``, ``512MiB``, ``1.5T`` (powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    found = _SIZE.match(str(text))
    if found is None or float(found.group(1)) <= 0:
        raise InputError(f"{option} {text!r}: expected a size such as 16GB or 512MB")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def check_budget(
    scenarios: Sequence[Scenario],
    pending: Sequence[tuple[int, int]],
    slots: int,
    max_memory: int | None = None,
    *,
    local: bool = True,
    stages: Sequence[int] | None = None,
) -> None:
    """Refuse a run that cannot fit in memory; warn when it will take long.

    ``pending`` are the (scenario index, replication) pairs to compute and ``slots`` how many
    run at once, each in its own worker process: on this machine when ``local``, else on a
    cluster's machines, where only one replication is held to the limit. Scenarios with the
    same ``stages`` entry share everything but their policy, hence their size (a sweep's
    points are sized once).
    """
    if not pending:
        return
    sizes: dict[int, Footprint] = {}
    estimates = {}
    for index in sorted({index for index, _ in pending}):
        stage = index if stages is None else stages[index]
        if stage not in sizes:
            sizes[stage] = footprint(scenarios[index])
        estimates[index] = estimate(scenarios[index], sizes[stage])
    largest = max(estimates, key=lambda index: estimates[index].bytes)
    one = estimates[largest]
    slots = min(slots, len(pending))
    at_once = slots if local else 1
    need = at_once * (BYTES_PER_WORKER + one.bytes)
    limit = memory_limit() if max_memory is None else max_memory
    if not need <= limit:  # nan-safe: a size beyond floats is too big
        fits = limit / (BYTES_PER_WORKER + one.bytes)
        advice = (
            f"run fewer at once (--workers {int(fits)}), "
            if 1 <= fits < at_once
            else "make the scenario smaller (fewer leads, a shorter horizon, lower rates), "
        )
        whose = f"scenario {scenarios[largest].scenario.name!r}"
        workers = "" if at_once == 1 else f", {at_once} at once {_size(need)}"
        source = "--max-memory" if max_memory is not None else "this machine's memory"
        raise InputError(
            f"{whose}: a replication needs {_size(BYTES_PER_WORKER + one.bytes)}"
            f" ({_count(one.leads)} leads, {_count(one.events)} events){workers}; the limit is"
            f" {_size(limit, exact=True)} ({source}): {advice}or raise the limit with"
            " --max-memory"
        )
    total = sum(estimates[index].seconds for index, _ in pending) / slots
    if not total <= LONG_RUN_SECONDS:
        warnings.warn(
            f"this run will take {_duration(total)}: {len(pending):,} replications of"
            f" {_duration(total * slots / len(pending))} each, {slots} at once"
            " (an estimate; Ctrl-C keeps the finished ones in the cache)",
            MqlsimWarning,
            stacklevel=3,
        )


def _size(value: float, exact: bool = False) -> str:
    """``about 5.1 GB`` (``5.1 GB`` when ``exact``); an absurd size as ``more than 1,000 TB``."""
    if not value < 1 << 50:
        return "more than 1,000 TB"
    about = "" if exact else "about "
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if value >= scale:
            return f"{about}{value / scale:.1f} {unit}"
    return f"{about}{value / (1 << 20):.2f} MB"


def _count(value: float) -> str:
    if not value < 1e15:
        return "more than a thousand trillion"
    for name, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if value >= scale:
            return f"{value / scale:,.1f} {name}"
    return f"{value:,.0f}"


def _duration(seconds: float) -> str:
    """``about 3 h 20 min``; an absurd time as ``more than 30 years``."""
    if not seconds < 1e9:
        return "more than 30 years"
    if seconds < 90:
        return f"about {seconds:.1f} s" if seconds < 10 else f"about {seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"about {minutes:.0f} min"
    hours = math.floor(minutes / 60)
    if hours < 48:
        return f"about {hours} h {minutes - 60 * hours:.0f} min"
    return f"about {minutes / 60 / 24:,.1f} days"
