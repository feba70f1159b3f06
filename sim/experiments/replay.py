"""Backtest a scenario's policy on a recorded activity log (`mqlsim replay`, docs/replay.md).

The log is a CSV file with the columns ``lead_id,timestamp,activity``, optionally ``value`` (an
amount a policy may give points for, e.g. seconds on a page), ``source`` and the fit columns of
:data:`mqlsim.core.vocabulary.FIT_ATTRIBUTES`; a mapping file
(:mod:`mqlsim.experiments.mapping`) renames columns and maps the log's activity names. It is
read by :mod:`mqlsim.experiments.tabular` in chunks into compact arrays (lead index, time,
activity, value, fit and source codes), never one Python object per row, and turned into one
:class:`~mqlsim.core.events.EventLog`. A *lead snapshot* (one row per lead with activity counts
and totals, no times) becomes a log whose events all happen at one moment. The scenario's
policy then decides each lead's first MQL with the same ``make_policy(...).qualify(view)`` the
simulator calls.

Rules (docs/replay.md explains them to users):

* Timestamps are ISO-8601 (``2024-03-01``, ``2024-03-01T14:30``, ``2024-03-01 14:30:00.25``),
  optionally with a zone (``Z``, ``+02:00``, ``-0500``), with years 1970 to 2199. Zoned times
  are converted to UTC; times without a zone are taken as UTC. Output times are UTC with ``Z``.
* A lead's ``since`` is its first event. Its fit and source are, per column, the latest
  non-empty value among its rows (by timestamp, file order breaking ties); an empty cell is
  missing (:data:`~mqlsim.policies.base.MISSING_CODE`; no ICP points).
* Bad rows (wrong number of fields, text that is not UTF-8, empty ``lead_id``, unreadable
  timestamp, empty activity) are skipped; an unknown fit value or an unreadable ``value`` keeps
  its row and counts as missing; an activity name that is neither the model's nor mapped is one
  problem per name, with its count. Each problem carries its 1-based line (the header is line
  1); ``--strict`` makes any problem fatal. Blank lines are ignored.
* A row whose activity maps to an outcome stage records the lead reaching that stage then (its
  ``value``: the deal value); outcomes also come from an outcomes file
  (:mod:`mqlsim.experiments.lifecycle`) joined on ``lead_id``, whose leads without any activity
  join the backtest as leads the policy could not flag.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np

from mqlsim.core.errors import InputError, did_you_mean
from mqlsim.core.events import EventLog
from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE, FIT_ATTRIBUTES, GRADE_LABELS
from mqlsim.experiments.lifecycle import STAGES, Lifecycle, last_given, read_lifecycle
from mqlsim.experiments.mapping import IGNORE, ReplayMapping, SnapshotColumns, check_leakage
from mqlsim.experiments.tabular import (
    NO_TIME,
    NS_PER_DAY,
    Chunk,
    CsvFile,
    Interner,
    Problems,
    codes,
    columns_found,
    is_empty,
    parse_numbers,
    parse_timestamps,
    short,
    take,
    timestamp_problem,
)
from mqlsim.model.population import observed_grade_of
from mqlsim.policies import make_policy
from mqlsim.policies.base import MISSING_CODE, LeadView, Policy, rule_labels
from mqlsim.scenario.models import Scenario

SCHEMA_VERSION = 2
#: Activity names counted by name (unknown or ignored); more distinct names are lumped.
MAX_NAMES = 1000
OTHER_NAMES = "(other names)"
#: The largest activity count a snapshot cell may hold (each becomes an event).
MAX_SNAPSHOT_COUNT = 100_000

_EMPTY = -1  # code of an empty cell while reading
_UNKNOWN = -2  # code of a value outside the vocabulary
_IGNORED = -3  # code of an activity the mapping drops
_STAGE_BASE = 100  # activity code of outcome stage i: _STAGE_BASE + i
#: Breakdowns computed from the replay itself; any other ``--by`` name is a column of the log.
BUILT_IN_SEGMENTS: tuple[str, ...] = ("source", "rule", "grade", *FIT_ATTRIBUTES)
_FIT_CODES: dict[str, dict[str, int]] = {
    name: {value: code for code, value in enumerate(values)}
    for name, values in FIT_ATTRIBUTES.items()
}


# --- what was read --------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadOutcomes:
    """Per lead (aligned with the log's leads): whether and when it reached each stage.

    ``stages`` are those the outcomes record (a column, or rows mapped to them); ``at_ns`` is
    :data:`~mqlsim.experiments.tabular.NO_TIME` where not reached or not dated;
    ``deal_value`` is ``nan`` where unknown. ``sources`` names where they came from.
    """

    stages: tuple[str, ...]
    reached: dict[str, np.ndarray]
    at_ns: dict[str, np.ndarray]
    deal_value: np.ndarray
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Segment:
    """A per-lead text column for breakdowns: each lead's code into ``names`` (-1: none)."""

    code: np.ndarray
    names: list[str]


@dataclass(frozen=True)
class EventFile:
    """A recorded log as arrays, and what reading it found wrong.

    ``events`` holds the kept rows sorted by lead, then time (ties in file order), with times
    in days since ``origin_ns`` (the earliest event, nanoseconds since 1970 UTC); ``event_ns``
    is each event's exact time. A snapshot (``timed`` false) has all its events at day 0 and no
    ``event_ns``. Leads are numbered in order of first appearance in the file, then the leads
    only the outcomes file knows (no events).
    """

    label: str
    header: tuple[str, ...]
    lead_ids: list[str]
    events: EventLog
    event_ns: np.ndarray | None
    origin_ns: int
    fit: dict[str, np.ndarray]
    source: Segment
    segments: dict[str, Segment]
    outcomes: LeadOutcomes | None
    leads_with_conflicting_fit: int
    rows_read: int
    rows_used: int
    rows_skipped: int
    fit_values_ignored: int
    values_ignored: int
    unknown_activities: dict[str, int]
    ignored_activities: dict[str, int]
    problems: list[tuple[int, str]]  # (line, message): the first MAX_SHOWN, by line
    problem_count: int
    leads_without_events: int = 0
    notes: tuple[str, ...] = ()
    outcome_problems: tuple[Problems, ...] = ()  # of the outcomes files joined

    @property
    def timed(self) -> bool:
        """Whether events carry times (a log), not only counts (a snapshot)."""
        return self.event_ns is not None

    def problem_lines(self) -> list[str]:
        """The listed problems as ``FILE:LINE: message``."""
        return [f"{self.label}:{line}: {message}" for line, message in self.problems]

    @property
    def since(self) -> np.ndarray:
        """Each lead's first event (days since the origin; 0 for a lead without events)."""
        events = self.events
        first = events.starts[:-1]
        if not len(events):
            return np.zeros(first.size)
        has = first < events.starts[1:]
        return np.where(has, events.time[np.minimum(first, len(events) - 1)], 0.0)


@dataclass
class _Columns:
    """The kept rows of a log or snapshot, as growing compact arrays, and what was dropped."""

    lead: list[np.ndarray] = field(default_factory=list)
    ns: list[np.ndarray] = field(default_factory=list)
    activity: list[np.ndarray] = field(default_factory=list)
    value: list[np.ndarray] = field(default_factory=list)
    fit: dict[str, list[np.ndarray]] = field(default_factory=dict)
    text: dict[str, list[np.ndarray]] = field(default_factory=dict)  # source and segments
    delivered: int = 0  # rows the CSV reader handed on (the rest it skipped)
    skipped: int = 0  # of those, rows skipped for a bad value
    fit_values_ignored: int = 0
    values_ignored: int = 0
    unknown: Counter[str] = field(default_factory=Counter)
    unknown_line: dict[str, int] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)

    def count_name(self, counter: Counter[str], name: str, rows: int, line: int) -> None:
        """Count ``rows`` rows of activity ``name`` (lumping names beyond :data:`MAX_NAMES`),
        the first on ``line``."""
        if name not in counter and len(counter) >= MAX_NAMES:
            name = OTHER_NAMES
        counter[name] += rows
        if counter is self.unknown:
            self.unknown_line.setdefault(name, line)

    def add_fit(
        self, attribute: str, values: Any, keep: np.ndarray, line: np.ndarray, problems: Problems
    ) -> None:
        """Keep the fit codes of the kept rows; an unknown value is a problem (kept missing)."""
        fit = codes(values, _FIT_CODES[attribute], _EMPTY, _UNKNOWN)[keep]
        for row in np.flatnonzero(fit == _UNKNOWN):
            value = values[int(keep[row])].as_py()
            problems.note(int(line[keep[row]]), partial(_fit_message, attribute, value))
        self.fit_values_ignored += int(np.count_nonzero(fit == _UNKNOWN))
        self.fit.setdefault(attribute, []).append(np.maximum(fit, MISSING_CODE).astype(np.int8))

    def add_texts(
        self,
        columns: dict[str, Any],
        texts: dict[str, str],
        interners: dict[str, Interner],
        keep: np.ndarray,
    ) -> None:
        """Keep the source and segment values of the kept rows, as numbers."""
        for key, column in texts.items():
            numbers = interners[key].numbers(take(columns[column], keep), empty=MISSING_CODE)
            self.text.setdefault(key, []).append(numbers.astype(np.int32))


def _activity_codes(mapping: ReplayMapping) -> dict[str, int]:
    """Every name the log may use: the vocabulary, then the mapping (which wins)."""
    resolve = dict(ACTIVITY_CODE)
    for name, target in mapping.activities.items():
        if target == IGNORE:
            resolve[name] = _IGNORED
        elif target in STAGES:
            resolve[name] = _STAGE_BASE + STAGES.index(target)
        else:
            resolve[name] = ACTIVITY_CODE[target]
    return resolve


def read_log(
    path: str | os.PathLike[str],
    mapping: ReplayMapping | None = None,
    segments: tuple[str, ...] = (),
) -> EventFile:
    """Read an activity log, or a lead snapshot when ``mapping`` has a ``[snapshot]`` table.

    ``segments`` are extra columns to keep per lead for breakdowns. Raises
    :class:`InputError` when the file cannot be read, lacks a required column, maps a policy
    input to a leakage column or has no valid row; other problems are returned.
    """
    mapping = mapping or ReplayMapping()
    if mapping.snapshot is not None:
        return _read_snapshot(path, mapping, segments)
    return read_events(path, mapping, segments)


def _missing_columns(label: str, header: list[str], wanted: dict[str, str]) -> list[str]:
    """One line per wanted column (``{what: column}``) not in ``header``, with a hint."""
    problems = []
    for what, column in wanted.items():
        if column not in header:
            hint = did_you_mean(column, header)
            problems.append(
                f"{label}:1: missing required column {column!r} ({what}; found"
                f" {columns_found(header)}){hint}"
            )
    return problems


@dataclass(frozen=True)
class _Layout:
    """Which columns of a file are read, and as what."""

    fit: dict[str, str]  # fit attribute -> column
    texts: dict[str, str]  # "source" or "segment:NAME" -> column


def _layout(
    mapping: ReplayMapping, header: list[str], segments: tuple[str, ...], label: str
) -> _Layout:
    """The fit, source and segment columns present; a ``--by`` column must be."""
    missing = [
        f"--by {name}: no column {name!r} in {label}{did_you_mean(name, header)}"
        for name in segments
        if name not in header
    ]
    if missing:
        raise InputError(missing)
    names = mapping.columns
    fit = {a: names.fit_column(a) for a in FIT_ATTRIBUTES if names.fit_column(a) in header}
    texts = {"source": names.source} if names.source in header else {}
    return _Layout(fit, texts | {f"segment:{name}": name for name in segments})


def read_events(
    path: str | os.PathLike[str],
    mapping: ReplayMapping | None = None,
    segments: tuple[str, ...] = (),
) -> EventFile:
    """Read an activity log (see the module docstring for the rules)."""
    mapping = mapping or ReplayMapping()
    names = mapping.columns
    label = str(path)
    required = {"lead id": names.lead_id, "timestamp": names.timestamp, "activity": names.activity}
    with CsvFile(path, label, ",".join(required.values())) as table:
        header = table.header
        problems = _missing_columns(label, header, required)
        if problems:
            raise InputError(problems)
        check_leakage(mapping, header, label)
        layout = _layout(mapping, header, segments, label)
        value_column = names.value if names.value in header else None
        read = [*required.values(), *layout.fit.values(), *layout.texts.values()]
        read += [value_column] if value_column else []
        reader = _LogReader(mapping, _activity_codes(mapping), layout, value_column, table.problems)
        for chunk in table.chunks(list(dict.fromkeys(read))):
            reader.add(chunk)
        reader.note_unknown()
        return _assemble_log(label, table, reader)


@dataclass
class _LogReader:
    """Checks an activity log's rows chunk by chunk and keeps the good ones."""

    mapping: ReplayMapping
    resolve: dict[str, int]
    layout: _Layout
    value_column: str | None
    problems: Problems
    leads: Interner = field(default_factory=Interner)
    interners: dict[str, Interner] = field(default_factory=dict)
    grown: _Columns = field(default_factory=_Columns)

    def add(self, chunk: Chunk) -> None:
        """Check one chunk of rows and keep its good ones."""
        names, grown, problems = self.mapping.columns, self.grown, self.problems
        columns, line = chunk.columns, chunk.line
        ids, stamps = columns[names.lead_id], columns[names.timestamp]
        activities = columns[names.activity]
        grown.delivered += len(chunk)
        ns, stamp_ok = parse_timestamps(stamps)
        activity = codes(activities, self.resolve, _EMPTY, _UNKNOWN)
        bad = is_empty(ids) | ~stamp_ok | (activity == _EMPTY)
        for row in np.flatnonzero(bad):
            at = int(row)
            problems.note(
                int(line[row]),
                partial(
                    _row_message,
                    ids[at].as_py(),
                    stamps[at].as_py(),
                    activities[at].as_py(),
                    names,
                ),
            )
        report_unknown = self.mapping.unknown_activities != IGNORE
        unknown = (activity == _UNKNOWN) & ~bad
        self._count(activities, line, unknown, grown.unknown if report_unknown else grown.ignored)
        self._count(activities, line, (activity == _IGNORED) & ~bad, grown.ignored)
        grown.skipped += int(np.count_nonzero(bad | (unknown & report_unknown)))
        keep = np.flatnonzero(~bad & (activity != _UNKNOWN) & (activity != _IGNORED))
        grown.lead.append(self.leads.numbers(take(ids, keep)).astype(np.int32))
        grown.ns.append(ns[keep])
        grown.activity.append(activity[keep].astype(np.int16))
        if self.value_column is not None:
            self._add_values(columns[self.value_column], keep, line)
        for attribute, column in self.layout.fit.items():
            grown.add_fit(attribute, columns[column], keep, line, problems)
        for key in self.layout.texts:
            self.interners.setdefault(key, Interner())
        grown.add_texts(columns, self.layout.texts, self.interners, keep)

    def _count(self, activities: Any, line: np.ndarray, rows: np.ndarray, counter: Any) -> None:
        """Count the rows ``rows`` (a mask) by activity name, with each name's first line."""
        where = np.flatnonzero(rows)
        if not where.size:
            return
        encoded = take(activities, where).dictionary_encode()
        index = encoded.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(index, minlength=len(encoded.dictionary))
        _, first = np.unique(index, return_index=True)
        for code, name in enumerate(encoded.dictionary.to_pylist()):
            self.grown.count_name(counter, name, int(counts[code]), int(line[where[first[code]]]))

    def _add_values(self, texts: Any, keep: np.ndarray, line: np.ndarray) -> None:
        kept = take(texts, keep)
        values, ok = parse_numbers(kept)
        self.grown.value.append(values)
        self.grown.values_ignored += int(np.count_nonzero(~ok))
        column = self.value_column
        for row in np.flatnonzero(~ok):
            text = kept[int(row)].as_py()
            self.problems.note(
                int(line[keep[row]]),
                f"{column} {short(text)} is not a finite decimal number; treated as missing",
            )

    def note_unknown(self) -> None:
        """One problem per unknown activity name, on its first line, with its count."""
        known = [*ACTIVITIES, *self.mapping.activities]
        for name, count in self.grown.unknown.items():
            rows = f"{count:,} row{'s' * (count != 1)}"
            first = self.grown.unknown_line[name]
            if name == OTHER_NAMES:
                message = f"{rows} with other unknown activities beyond the first {MAX_NAMES:,}"
            else:
                message = (
                    f"unknown activity {short(name)}{did_you_mean(name, known)}: {rows}, first"
                    " on this line, skipped; map it in a mapping file's [activities]"
                )
            self.problems.note(first, message)


def _row_message(lead: str, stamp: str, activity: str, names: Any) -> str:
    """What is wrong with a skipped row, for a person."""
    parts = []
    if not lead:
        parts.append(f"{names.lead_id} is empty")
    if not stamp:
        parts.append(f"{names.timestamp} is empty")
    elif not parse_timestamps([stamp])[1][0]:
        parts.append(timestamp_problem(names.timestamp, stamp))
    if not activity:
        parts.append(f"{names.activity} is empty")
    return "; ".join(parts)


def _fit_message(attribute: str, value: str) -> str:
    allowed = FIT_ATTRIBUTES[attribute]
    return (
        f"{attribute}: unknown value {short(value)}{did_you_mean(value, allowed)} "
        f"(expected one of {', '.join(allowed)}); treated as missing"
    )


def _joined(parts: list[np.ndarray], order: np.ndarray, dtype: Any) -> np.ndarray:
    """The chunks' arrays end to end, in ``order``; the chunks are released on the way."""
    joined = np.concatenate([np.empty(0, dtype=dtype), *parts])
    parts.clear()
    return joined.take(order)


def _assemble_log(label: str, table: CsvFile, reader: _LogReader) -> EventFile:
    """One EventLog over the kept rows, each lead's fit, source and outcome rows.

    Memory: the rows' compact arrays are joined and sorted one column at a time, each
    column's chunks released as it is joined, and per-row fit and text columns are reduced to
    one value per lead at once; the peak is a few bytes per row above what the policy needs.
    """
    grown = reader.grown
    lead_ids = reader.leads.names  # only kept rows were numbered
    n = len(lead_ids)
    lead = np.concatenate([np.empty(0, dtype=np.int32), *grown.lead])
    grown.lead.clear()
    if lead.size == 0:
        raise InputError([f"{label}: no valid rows", *table.problems.error_lines()])
    ns = np.concatenate(grown.ns)
    grown.ns.clear()
    order = np.lexsort((ns, lead))  # stable: file order breaks ties
    lead, ns = lead.take(order), ns.take(order)
    activity = _joined(grown.activity, order, np.int16)
    values = _joined(grown.value, order, np.float64) if grown.value else None
    fit, conflicting = {}, np.zeros(n, dtype=bool)
    for attribute in FIT_ATTRIBUTES:
        rows = _joined(grown.fit[attribute], order, np.int8) if attribute in grown.fit else None
        fit[attribute], conflicts = latest_values(lead, rows, n)
        conflicting |= conflicts
    texts = {
        key: Segment(
            latest_values(lead, _joined(grown.text[key], order, np.int32), n)[0].astype(np.int64),
            reader.interners[key].names,
        )
        for key in reader.layout.texts
    }
    del order
    source = texts.pop("source", Segment(np.full(n, MISSING_CODE, dtype=np.int64), []))
    is_event = activity < _STAGE_BASE
    outcomes = None
    if not is_event.all():
        outcomes = _outcome_rows(lead, ns, activity, values, ~is_event, n, label)
        lead, ns, activity = lead[is_event], ns[is_event], activity[is_event]
        values = values[is_event] if values is not None else None
    origin = int(ns.min()) if ns.size else 0
    events = EventLog(
        lead=lead,
        time=(ns - origin) / NS_PER_DAY,
        activity=activity.astype(np.int8),
        starts=np.searchsorted(lead, np.arange(n + 1)),
        value=values if values is not None and not np.isnan(values).all() else None,
    )
    ignored = sum(grown.ignored.values())
    return EventFile(
        label=label,
        header=tuple(table.header),
        lead_ids=lead_ids,
        events=events,
        event_ns=ns,
        origin_ns=origin,
        fit=fit,
        source=source,
        segments={key.removeprefix("segment:"): segment for key, segment in texts.items()},
        outcomes=outcomes,
        leads_with_conflicting_fit=int(conflicting.sum()),
        rows_read=table.rows_read,
        rows_used=grown.delivered - grown.skipped - ignored,
        rows_skipped=table.rows_read - grown.delivered + grown.skipped,
        fit_values_ignored=grown.fit_values_ignored,
        values_ignored=grown.values_ignored,
        unknown_activities=dict(grown.unknown),
        ignored_activities=dict(grown.ignored),
        problems=table.problems.shown,
        problem_count=table.problems.count,
        leads_without_events=int(np.count_nonzero(np.diff(events.starts) == 0)),
    )


def _outcome_rows(
    lead: np.ndarray,
    ns: np.ndarray,
    activity: np.ndarray,
    values: np.ndarray | None,
    is_outcome: np.ndarray,
    n: int,
    label: str,
) -> LeadOutcomes | None:
    """Stages reached per lead from rows whose activity maps to an outcome stage (sorted by
    lead and time: each stage at its earliest row; the deal value of the last with one)."""
    if not is_outcome.any():
        return None
    reached, at_ns = {}, {}
    stages = []
    for index, stage in enumerate(STAGES):
        rows = np.flatnonzero(is_outcome & (activity == _STAGE_BASE + index))
        if not rows.size:
            continue
        stages.append(stage)
        reached[stage] = np.zeros(n, dtype=bool)
        reached[stage][lead[rows]] = True
        at = np.full(n, NO_TIME, dtype=np.int64)
        first = rows[np.unique(lead[rows], return_index=True)[1]]
        at[lead[first]] = ns[first]
        at_ns[stage] = at
    deal_value = (
        np.full(n, np.nan)
        if values is None
        else last_given(lead[is_outcome], values[is_outcome], n, np.nan)
    )
    return LeadOutcomes(tuple(stages), reached, at_ns, deal_value, (f"{label} (outcome rows)",))


def latest_values(
    lead: np.ndarray, codes: np.ndarray | None, n_leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per lead, the last non-missing code of rows sorted by (lead, time); and which leads have
    rows that disagree."""
    value = np.full(n_leads, MISSING_CODE, dtype=np.int64 if codes is None else codes.dtype)
    conflicting = np.zeros(n_leads, dtype=bool)
    if codes is None:
        return value, conflicting
    given = np.flatnonzero(codes != MISSING_CODE)
    owner = lead[given]
    last = given[np.append(owner[1:] != owner[:-1], True)] if given.size else given
    value[lead[last]] = codes[last]
    conflicting[owner[codes[given] != value[owner]]] = True
    return value, conflicting


# --- lead snapshots -------------------------------------------------------------------------


def _read_snapshot(
    path: str | os.PathLike[str], mapping: ReplayMapping, segments: tuple[str, ...]
) -> EventFile:
    """A one-row-per-lead table as a log whose events all happen at day 0 (docs/replay.md,
    "Lead snapshots")."""
    assert mapping.snapshot is not None
    snapshot, names = mapping.snapshot, mapping.columns
    label = str(path)
    with CsvFile(path, label, ",".join([names.lead_id, *snapshot.counts.values()])) as table:
        header = table.header
        wanted = {"lead id": names.lead_id}
        wanted |= {f"{a} count": c for a, c in snapshot.counts.items()}
        wanted |= {f"{a} value": c for a, c in snapshot.values.items()}
        problems = _missing_columns(label, header, wanted)
        if problems:
            raise InputError(problems)
        check_leakage(mapping, header, label)
        layout = _layout(mapping, header, segments, label)
        reader = _SnapshotReader(snapshot, names.lead_id, layout, table.problems)
        read = [*wanted.values(), *layout.fit.values(), *layout.texts.values()]
        for chunk in table.chunks(list(dict.fromkeys(read))):
            reader.add(chunk)
        if not len(reader.leads):
            raise InputError([f"{label}: no valid rows", *table.problems.error_lines()])
        return reader.assemble(label, table)


@dataclass
class _SnapshotReader:
    """Checks a lead snapshot's rows chunk by chunk and keeps the good ones."""

    snapshot: SnapshotColumns
    id_column: str
    layout: _Layout
    problems: Problems
    leads: Interner = field(default_factory=Interner)
    interners: dict[str, Interner] = field(default_factory=dict)
    grown: _Columns = field(default_factory=_Columns)
    counts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    totals: dict[str, list[np.ndarray]] = field(default_factory=dict)
    first_line: dict[int, int] = field(default_factory=dict)

    def add(self, chunk: Chunk) -> None:
        """Check one chunk of rows (one per lead) and keep the good ones."""
        columns, line, problems = chunk.columns, chunk.line, self.problems
        ids = columns[self.id_column]
        self.grown.delivered += len(chunk)
        bad = is_empty(ids)
        for row in np.flatnonzero(bad):
            problems.note(int(line[row]), f"{self.id_column} is empty; row skipped")
        counted = {}
        for activity, column in self.snapshot.counts.items():
            counted[activity], ok = _counts(columns[column], column, line, bad, problems)
            bad |= ~ok
        totals = {}
        for activity, column in self.snapshot.values.items():
            totals[activity], ok = parse_numbers(columns[column])
            for row in np.flatnonzero(~ok & ~bad):
                text = columns[column][int(row)].as_py()
                problems.note(
                    int(line[row]),
                    f"{column} {short(text)} is not a finite decimal number; row skipped",
                )
            bad |= ~ok
        keep = np.flatnonzero(~bad)
        self.grown.skipped += int(np.count_nonzero(bad))
        lead = self.leads.numbers(take(ids, keep))
        for number, where in zip(lead.tolist(), line[keep].tolist(), strict=True):
            seen = self.first_line.setdefault(number, where)
            if seen != where:
                problems.note(where, f"the lead of line {seen} again; this later row is used")
        self.grown.lead.append(lead)
        for activity, number in counted.items():
            self.counts.setdefault(activity, []).append(number[keep])
        for activity, number in totals.items():
            self.totals.setdefault(activity, []).append(number[keep])
        for attribute, column in self.layout.fit.items():
            self.grown.add_fit(attribute, columns[column], keep, line, problems)
        for key in self.layout.texts:
            self.interners.setdefault(key, Interner())
        self.grown.add_texts(columns, self.layout.texts, self.interners, keep)

    def assemble(self, label: str, table: CsvFile) -> EventFile:
        """The snapshot's leads as one EventLog at day 0: per lead, the event that created it
        (``created_activity``), then each counted activity as many times as its count, in
        vocabulary order, its total value on the first of them; a value with a count of 0 (or
        no count column) makes one event to carry it."""
        grown, n = self.grown, len(self.leads)
        numbered = np.concatenate(grown.lead)
        owners, from_end = np.unique(numbered[::-1], return_index=True)
        last = np.zeros(n, dtype=np.int64)  # each lead's last row: the one that counts
        last[owners] = numbered.size - 1 - from_end
        activities = sorted(set(self.counts) | set(self.totals), key=ACTIVITY_CODE.__getitem__)
        count = {
            a: np.concatenate(self.counts[a])[last] if a in self.counts else np.zeros(n, int)
            for a in activities
        }
        total = {a: np.concatenate(parts)[last] for a, parts in self.totals.items()}
        lifted = 0
        for activity, values in total.items():
            needs_event = (count[activity] == 0) & ~np.isnan(values) & (values != 0)
            lifted += int(np.count_nonzero(needs_event))
            count[activity] = np.where(needs_event, 1, count[activity])
        created = self.snapshot.created_activity
        ordered = ([created] if created != "none" else []) + activities
        columns = [np.ones(n, dtype=np.int64)] * (created != "none")
        columns += [count[a].astype(np.int64) for a in activities]
        matrix = np.stack(columns, axis=1) if columns else np.zeros((n, 0), dtype=np.int64)
        per_lead = matrix.sum(axis=1)
        starts = np.concatenate(([0], np.cumsum(per_lead)))
        column_codes = np.array([ACTIVITY_CODE[a] for a in ordered], dtype=np.int8)
        lead = np.repeat(np.arange(n), per_lead)
        value = None
        if total:
            value = np.full(lead.size, np.nan)
            first_of_column = starts[:-1, None] + np.cumsum(matrix, axis=1) - matrix
            for activity, values in total.items():
                column = len(ordered) - len(activities) + activities.index(activity)
                has = (matrix[:, column] > 0) & ~np.isnan(values)
                value[first_of_column[has, column]] = values[has]
        events = EventLog(
            lead=lead,
            time=np.zeros(lead.size),
            activity=np.repeat(np.tile(column_codes, n), matrix.ravel()),
            starts=starts,
            value=value,
        )
        fit = {
            attribute: np.concatenate(grown.fit[attribute])[last]
            if attribute in grown.fit
            else np.full(n, MISSING_CODE, dtype=np.int8)
            for attribute in FIT_ATTRIBUTES
        }
        texts = {
            key: Segment(np.concatenate(grown.text[key])[last], self.interners[key].names)
            for key in self.layout.texts
        }
        source = texts.pop("source", Segment(np.full(n, MISSING_CODE, dtype=np.int64), []))
        leads = f"{lifted:,} lead has" if lifted == 1 else f"{lifted:,} leads have"
        notes = (f"{leads} a value but a count of 0 for its activity: 1 event each",) * bool(lifted)
        return EventFile(
            label=label,
            header=tuple(table.header),
            lead_ids=self.leads.names,
            events=events,
            event_ns=None,
            origin_ns=0,
            fit=fit,
            source=source,
            segments={key.removeprefix("segment:"): seg for key, seg in texts.items()},
            outcomes=None,
            leads_with_conflicting_fit=0,
            rows_read=table.rows_read,
            rows_used=numbered.size,
            rows_skipped=table.rows_read - numbered.size,
            fit_values_ignored=grown.fit_values_ignored,
            values_ignored=0,
            unknown_activities={},
            ignored_activities={},
            problems=table.problems.shown,
            problem_count=table.problems.count,
            leads_without_events=int(np.count_nonzero(per_lead == 0)),
            notes=notes,
        )


def _counts(
    values: Any, column: str, line: np.ndarray, bad: np.ndarray, problems: Problems
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-number counts (an empty cell is 0), and which cells were usable."""
    number, ok = parse_numbers(values)
    whole = ok & (np.isnan(number) | ((number == np.round(number)) & (number >= 0)))
    whole &= ~(number > MAX_SNAPSHOT_COUNT)
    for row in np.flatnonzero(~whole & ~bad):
        text = values[int(row)].as_py()
        problems.note(
            int(line[row]),
            f"{column} {short(text)} is not a count (a whole number from 0 to"
            f" {MAX_SNAPSHOT_COUNT:,}); row skipped",
        )
    return np.where(whole, np.nan_to_num(number, nan=0.0), 0).astype(np.int64), whole


# --- outcomes -------------------------------------------------------------------------------


def outcome_columns_of(
    path: str | os.PathLike[str], file: EventFile, mapping: ReplayMapping
) -> list[Lifecycle]:
    """The outcomes the log carries in lifecycle columns (mapped by ``[outcomes]``), read as a
    lifecycle export keyed by the log's own id column; ``[]`` when it has none."""
    names = mapping.outcomes
    if not any(names.stage_column(stage) in file.header for stage in STAGES):
        return []
    return [read_lifecycle(path, names, lead_id=mapping.columns.lead_id, one_row_per_lead=False)]


def join_outcomes(
    file: EventFile, lifecycles: list[Lifecycle], *, add_leads: bool = True
) -> EventFile:
    """``file`` with the outcomes of ``lifecycles`` joined on lead id: merged with the outcome
    rows of the log (each stage at its earliest date; the deal value from the log's rows
    first). Leads the log lacks are appended without events if ``add_leads`` (an outcomes
    file's leads that did nothing the log saw), else left out (outcome columns of the log
    itself, whose rows the log skipped). A lead's source is the log's, else the lifecycle's."""
    if not lifecycles:
        return file
    index = {lead_id: number for number, lead_id in enumerate(file.lead_ids)}
    extra: list[str] = []
    for lifecycle in lifecycles:
        for lead_id in lifecycle.lead_ids:
            if add_leads and lead_id not in index:
                index[lead_id] = len(index)
                extra.append(lead_id)
    n = len(index)
    grown = _grow(file, len(extra))
    base = file.outcomes
    stages = [
        s for s in STAGES if (base and s in base.stages) or any(s in lc.stages for lc in lifecycles)
    ]
    reached = {
        s: _pad(base.reached[s], n, False) if base and s in base.stages else np.zeros(n, dtype=bool)
        for s in stages
    }
    at_ns = {
        s: _pad(base.at_ns[s], n, NO_TIME)
        if base and s in base.stages
        else np.full(n, NO_TIME, dtype=np.int64)
        for s in stages
    }
    deal_value = _pad(base.deal_value, n, np.nan) if base else np.full(n, np.nan)
    source_names = {name: code for code, name in enumerate(grown.source.names)}
    source = grown.source.code.copy()
    for lifecycle in lifecycles:
        mine = np.array([lead_id in index for lead_id in lifecycle.lead_ids], dtype=bool)
        where = np.array(
            [index[lead_id] for lead_id in lifecycle.lead_ids if lead_id in index], dtype=np.int64
        )
        for stage in lifecycle.stages:
            reached[stage][where] |= lifecycle.reached[stage][mine]
            incoming = lifecycle.at_ns[stage][mine]
            dated = incoming != NO_TIME
            current = at_ns[stage][where[dated]]
            at_ns[stage][where[dated]] = np.where(
                (current == NO_TIME) | (incoming[dated] < current), incoming[dated], current
            )
        given = lifecycle.deal_value[mine]
        valued = ~np.isnan(given) & np.isnan(deal_value[where])
        deal_value[where[valued]] = given[valued]
        names = [name for name, keep in zip(lifecycle.source, mine.tolist(), strict=True) if keep]
        for position in np.flatnonzero(source[where] == MISSING_CODE):
            if names[position]:
                name = names[position]
                source[where[position]] = source_names.setdefault(name, len(source_names))
    labels = (*(base.sources if base else ()), *(lc.label for lc in lifecycles))
    return replace(
        grown,
        outcome_problems=tuple(p for lc in lifecycles for p in lc.problems if p.count),
        lead_ids=[*file.lead_ids, *extra],
        source=Segment(source, list(source_names)),
        outcomes=LeadOutcomes(tuple(stages), reached, at_ns, deal_value, labels),
    )


def _pad(values: np.ndarray, n: int, fill: Any) -> np.ndarray:
    """``values`` extended to ``n`` entries with ``fill``."""
    out = np.full(n, fill, dtype=values.dtype)
    out[: values.size] = values
    return out


def _grow(file: EventFile, extra: int) -> EventFile:
    """``file`` with ``extra`` more leads that have no events (fit and source unknown)."""
    if not extra:
        return file
    n = len(file.lead_ids) + extra
    events = file.events
    starts = np.concatenate([events.starts, np.full(extra, events.starts[-1])])
    return replace(
        file,
        events=replace(events, starts=starts),
        fit={name: _pad(codes, n, MISSING_CODE) for name, codes in file.fit.items()},
        source=Segment(_pad(file.source.code, n, MISSING_CODE), file.source.names),
        segments={
            name: Segment(_pad(segment.code, n, MISSING_CODE), segment.names)
            for name, segment in file.segments.items()
        },
        leads_without_events=file.leads_without_events + extra,
    )


# --- replaying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyReplay:
    """A policy's decisions on a recorded log: per lead, whether, when and why it became MQL,
    and by which rule.

    On a snapshot, ``mql_ns`` and ``time_to_mql_days`` say nothing (no times) and ``untimed``
    lists the parts of the policy that could not be evaluated without times.
    """

    file: EventFile
    scenario_name: str
    policy_kind: str
    grade: np.ndarray
    mql: np.ndarray
    mql_ns: np.ndarray  # int64, valid where ``mql`` on a timed log
    time_to_mql_days: np.ndarray  # from the lead's first event; nan when never MQL
    reasons: list[str]  # "" for leads that never became MQL
    rules: list[str]  # the rule that made each lead MQL ("" for the others)
    untimed: tuple[str, ...] = ()
    sources_not_in_log: tuple[str, ...] = ()


def replay_file(file: EventFile, scenario: Scenario) -> PolicyReplay:
    """Run ``scenario``'s policy over ``file``: the simulator's own ``qualify``, then ``explain``
    for each lead that became MQL (on a one-lead view, so the cost stays linear)."""
    events, since = file.events, file.since
    has_events = np.diff(events.starts) > 0
    if has_events.any():
        last = events.time[events.starts[1:][has_events] - 1]
        span = float(np.max(last - since[has_events]))
    else:
        span = 0.0
    try:
        scenario.policy.check_horizon(span)
    except ValueError as error:
        raise InputError(
            f"policy: {error}; the longest lead history in {file.label} spans {span:.0f} days"
        ) from None
    grade = observed_grade_of(file.fit, scenario.population.icp)
    source = file.source
    view = LeadView(
        events=events,
        grade=grade,
        fit=file.fit,
        since=since,
        source=source.code if source.names else None,
        source_names=tuple(source.names),
    )
    policy: Policy = make_policy(scenario.policy)
    decision = policy.qualify(view)
    mql = np.isfinite(decision.time)
    mql_ns = np.zeros(events.n_leads, dtype=np.int64)
    if file.event_ns is not None:
        from_event = mql & (decision.event >= 0)
        mql_ns[mql] = file.origin_ns + np.round(decision.time[mql] * NS_PER_DAY).astype(np.int64)
        mql_ns[from_event] = file.event_ns[decision.event[from_event]]
    reasons = [""] * events.n_leads
    for lead in np.flatnonzero(mql):
        reasons[lead] = policy.explain(view.subset(np.array([lead])), 0)
    named = scenario.policy.sources_named()
    return PolicyReplay(
        file=file,
        scenario_name=scenario.scenario.name,
        policy_kind=scenario.policy.kind,
        grade=grade,
        mql=mql,
        mql_ns=mql_ns,
        time_to_mql_days=np.where(mql, decision.time - since, np.nan),
        reasons=reasons,
        rules=rule_labels(policy, scenario.policy.kind, decision),
        untimed=() if file.timed else tuple(scenario.policy.untimed_parts()),
        sources_not_in_log=tuple(sorted(named - set(source.names))),
    )


# --- results as data --------------------------------------------------------------------------


def iso(ns: np.ndarray) -> np.ndarray:
    """UTC ISO-8601 strings ending in ``Z``, in the coarsest unit of seconds that loses nothing."""
    unit: Literal["s", "ms", "us", "ns"] = "ns"
    steps: tuple[tuple[Literal["s", "ms", "us"], int], ...] = (
        ("s", 10**9),
        ("ms", 10**6),
        ("us", 10**3),
    )
    for candidate, step in steps:
        if not np.any(ns % step):
            unit = candidate
            break
    return np.datetime_as_string(ns.astype("datetime64[ns]"), unit=unit, timezone="UTC")


def days(value: float) -> float | None:
    """A number of days for JSON (``None`` when undefined), to nine decimals."""
    return round(value, 9) if math.isfinite(value) else None


def summary(result: PolicyReplay) -> dict[str, Any]:
    """The summary of ``replay.json``: counts, MQL rate, time to MQL, rows skipped, problems."""
    file = result.file
    leads, mqls = file.events.n_leads, int(result.mql.sum())
    waits = result.time_to_mql_days[result.mql]
    timed = file.event_ns is not None and file.event_ns.size > 0
    first, last = (
        iso(np.array([file.event_ns.min(), file.event_ns.max()]))  # type: ignore[union-attr]
        if timed
        else (None, None)
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "events_file": file.label,
        "input": "activity log" if file.timed else "lead snapshot",
        "scenario": result.scenario_name,
        "policy_kind": result.policy_kind,
        "first_event": None if first is None else str(first),
        "last_event": None if last is None else str(last),
        "rows_read": file.rows_read,
        "rows_used": file.rows_used,
        "rows_skipped": file.rows_skipped,
        "fit_values_ignored": file.fit_values_ignored,
        "values_ignored": file.values_ignored,
        "unknown_activities": file.unknown_activities,
        "ignored_activities": file.ignored_activities,
        "leads_with_conflicting_fit": file.leads_with_conflicting_fit,
        "leads": leads,
        "leads_without_events": file.leads_without_events,
        "mqls": mqls,
        "mql_rate": mqls / leads,
        "time_to_mql_days_mean": days(float(waits.mean())) if mqls and file.timed else None,
        "time_to_mql_days_median": days(float(np.median(waits))) if mqls and file.timed else None,
        "not_evaluated_without_times": list(result.untimed),
        "policy_sources_not_in_log": list(result.sources_not_in_log),
        "notes": list(file.notes),
        "problems": file.problem_lines(),
        "problems_not_shown": file.problem_count - len(file.problems),
        "outcome_problems": [
            line for problems in file.outcome_problems for line in problems.error_lines()
        ],
    }


def lead_rows(result: PolicyReplay) -> list[dict[str, Any]]:
    """One dict per lead, in order of first appearance in the log (then the outcomes file)."""
    timed = result.file.timed
    when = iso(result.mql_ns) if timed else [None] * len(result.mql)
    return [
        {
            "lead_id": lead_id,
            "mql": bool(mql),
            "mql_at": str(at) if mql and timed else None,
            "time_to_mql_days": days(float(wait)) if timed else None,
            "grade": GRADE_LABELS[grade],
            "rule": rule,
            "reason": reason,
        }
        for lead_id, mql, at, wait, grade, rule, reason in zip(
            result.file.lead_ids,
            result.mql,
            when,
            result.time_to_mql_days,
            result.grade,
            result.rules,
            result.reasons,
            strict=True,
        )
    ]
