"""Backtest a scenario's policy on a recorded activity log (`mqlsim replay`, docs/replay.md).

The log is a CSV file with the columns ``lead_id,timestamp,activity``, optionally ``value``
(accepted and ignored: policies read activities only) and the fit columns of
:data:`mqlsim.core.vocabulary.FIT_ATTRIBUTES`. It is read in blocks by pyarrow's streaming CSV
reader into compact arrays (lead index, time, activity and fit codes), never one Python object
per row, and turned into one :class:`~mqlsim.core.events.EventLog`. The scenario's policy then
decides each lead's first MQL with the same ``make_policy(...).qualify(view)`` the simulator
calls.

Rules (docs/replay.md explains them to users):

* Timestamps are ISO-8601 (``2024-03-01``, ``2024-03-01T14:30``, ``2024-03-01 14:30:00.25``),
  optionally with a zone (``Z``, ``+02:00``, ``-0500``). Zoned times are converted to UTC; times
  without a zone are taken as UTC. Output times are UTC with a ``Z``.
* A lead's ``since`` is its first event. Its fit is, per attribute, the latest non-empty value
  among its rows (by timestamp, file order breaking ties); an empty cell is missing
  (:data:`~mqlsim.policies.base.MISSING_CODE` in ``LeadView.fit``; no ICP points).
* Bad rows (wrong number of fields, empty ``lead_id``, unreadable timestamp, unknown activity)
  are skipped; an unknown fit value keeps its row but counts as missing. Each is a problem
  reported with its 1-based line number (the header is line 1); ``--strict`` makes any problem
  fatal. Blank lines are ignored.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.core.events import EventLog
from mqlsim.core.extras import require
from mqlsim.core.vocabulary import ACTIVITIES, ACTIVITY_CODE, FIT_ATTRIBUTES, GRADE_LABELS
from mqlsim.model.population import observed_grade_of
from mqlsim.policies import make_policy
from mqlsim.policies.base import MISSING_CODE, LeadView, Policy
from mqlsim.scenario.models import Scenario

REQUIRED_COLUMNS: tuple[str, ...] = ("lead_id", "timestamp", "activity")
SCHEMA_VERSION = 1
#: Problems listed in full (errors, ``replay.json``); the rest are counted.
MAX_SHOWN = 20

#: Bytes per parsed block; pyarrow's streaming reader reads about 32 blocks ahead, so small
#: blocks keep memory bounded while a block still holds thousands of rows.
_BLOCK_BYTES = 1 << 20
_NS_PER_DAY = 86_400 * 10**9
_EMPTY = MISSING_CODE  # code of an empty cell (activity or fit) while reading
_UNKNOWN = -2  # code of a value outside the vocabulary while reading
_FIT_CODES: dict[str, dict[str, int]] = {
    name: {value: code for code, value in enumerate(values)}
    for name, values in FIT_ATTRIBUTES.items()
}
_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?"
_ZONE = r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)"
_NAIVE_TIMESTAMP = rf"^{_DATE}({_TIME})?$"
_ZONED_TIMESTAMP = rf"^{_DATE}{_TIME}{_ZONE}$"


# --- reading the log ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFile:
    """A recorded activity log as arrays, and what reading it found wrong.

    ``events`` holds the kept rows sorted by lead, then time (ties in file order), with times in
    days since ``origin_ns`` (the earliest event, nanoseconds since 1970 UTC); ``event_ns`` is
    each event's exact time. Leads are numbered in order of first appearance in the file.
    """

    label: str
    lead_ids: list[str]
    events: EventLog
    event_ns: np.ndarray
    origin_ns: int
    fit: dict[str, np.ndarray]
    leads_with_conflicting_fit: int
    rows_read: int
    rows_skipped: int
    fit_values_ignored: int
    problems: list[tuple[int, str]]  # (line, message): the first MAX_SHOWN, by line
    problem_count: int

    def problem_lines(self) -> list[str]:
        """The listed problems as ``FILE:LINE: message``."""
        return [f"{self.label}:{line}: {message}" for line, message in self.problems]

    @property
    def since(self) -> np.ndarray:
        """Each lead's first event (days since the origin)."""
        return self.events.time[self.events.starts[:-1]]


def _read_header(path: Path, label: str) -> list[str]:
    """The header's column names; a file that cannot be read or has no header is an error."""
    try:
        with open(path, "rb") as handle:
            header = next(csv.reader([handle.readline().decode("utf-8-sig")]), [])
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a folder, expected a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(
            f"{label}:1: the header is not UTF-8 text; save the file as UTF-8"
        ) from None
    except OSError as error:
        raise InputError(f"{label}: cannot read the file ({error.strerror})") from None
    if not any(name.strip() for name in header):
        expected = ",".join(REQUIRED_COLUMNS)
        raise InputError(f"{label}: the file is empty; expected a header line {expected}")
    problems = []
    for name in sorted({n for n in header if header.count(n) > 1}):
        problems.append(f"{label}:1: column {name!r} appears more than once")
    for name in REQUIRED_COLUMNS:
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"{label}:1: missing required column {name!r} (found {', '.join(header)}){hint}"
            )
    if problems:
        raise InputError(problems)
    return header


def _did_you_mean(value: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_timestamps(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 strings (a pyarrow array) to nanoseconds since 1970 UTC, and which parsed.

    Syntax is checked by pattern first; the few strings that match but still fail (30 February,
    years beyond 1677-2262) are found by bisection.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ns = np.zeros(len(strings), dtype=np.int64)
    ok = np.zeros(len(strings), dtype=bool)
    for pattern, kind in (
        (_NAIVE_TIMESTAMP, pa.timestamp("ns")),
        (_ZONED_TIMESTAMP, pa.timestamp("ns", tz="UTC")),
    ):
        rows = np.flatnonzero(pc.match_substring_regex(strings, pattern).to_numpy(False))
        if rows.size:
            values, parsed = _cast_each(strings.take(pa.array(rows)), kind)
            ns[rows], ok[rows] = values, parsed
    return ns, ok


def _cast_each(strings: Any, kind: Any) -> tuple[np.ndarray, np.ndarray]:
    """Cast strings to timestamps of ``kind``, bisecting around the ones that fail."""
    import pyarrow as pa

    try:
        values = strings.cast(kind).cast(pa.int64()).to_numpy(False)
        return values, np.ones(len(strings), dtype=bool)
    except pa.ArrowInvalid:
        if len(strings) == 1:
            return np.zeros(1, dtype=np.int64), np.zeros(1, dtype=bool)
        half = len(strings) // 2
        left, right = _cast_each(strings[:half], kind), _cast_each(strings[half:], kind)
        return np.concatenate([left[0], right[0]]), np.concatenate([left[1], right[1]])


def _codes(dictionary: Any, vocabulary: dict[str, int], empty: int) -> np.ndarray:
    """Codes of a batch dictionary's values: ``empty`` for "", -2 (unknown) outside the vocabulary.

    Only the distinct values of one batch are looked at, so this is cheap Python.
    """
    return np.array(
        [empty if v == "" else vocabulary.get(v, _UNKNOWN) for v in dictionary.to_pylist()],
        dtype=np.int8,
    )


@dataclass
class _Reader:
    """Accumulates the kept rows of each record batch as compact arrays."""

    label: str
    fit_columns: list[str]
    lead_dictionaries: list[Any] = field(default_factory=list)
    dictionary_size: int = 0
    lead: list[np.ndarray] = field(default_factory=list)  # index into the joined dictionaries
    ns: list[np.ndarray] = field(default_factory=list)
    activity: list[np.ndarray] = field(default_factory=list)
    fit: dict[str, list[np.ndarray]] = field(default_factory=dict)
    rows: int = 0  # rows delivered by the parser, blank lines included
    blank: int = 0
    bad_values: int = 0
    fit_values_ignored: int = 0
    value_problems: list[tuple[int, str]] = field(default_factory=list)  # (row index, message)
    malformed_lines: list[int] = field(default_factory=list)
    malformed_problems: list[tuple[int, str]] = field(default_factory=list)

    def on_invalid_row(self, row: Any) -> str:
        """pyarrow's handler for rows with the wrong number of fields: note it and skip it."""
        self.malformed_lines.append(row.number)
        if len(self.malformed_problems) < MAX_SHOWN:
            message = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            self.malformed_problems.append((row.number, message))
        return "skip"

    def add(self, batch: Any) -> None:
        """Check one record batch and keep its good rows."""
        import pyarrow.compute as pc

        columns = {name: batch.column(name) for name in batch.schema.names}
        lead, stamps, activity = columns["lead_id"], columns["timestamp"], columns["activity"]
        lead_index = lead.indices.to_numpy(False)
        empty_lead = pc.equal(lead.dictionary, "").to_numpy(False)[lead_index]
        ns, stamp_ok = _parse_timestamps(stamps)
        empty_stamp = pc.equal(stamps, "").to_numpy(False)
        activity_code = _codes(activity.dictionary, ACTIVITY_CODE, _EMPTY)[
            activity.indices.to_numpy(False)
        ]
        fit = {
            name: _codes(columns[name].dictionary, _FIT_CODES[name], _EMPTY)[
                columns[name].indices.to_numpy(False)
            ]
            for name in self.fit_columns
        }
        blank = empty_lead & empty_stamp & (activity_code == _EMPTY)
        for codes in fit.values():
            blank &= codes == _EMPTY
        bad = ~blank & (empty_lead | ~stamp_ok | (activity_code < 0))
        keep = ~blank & ~bad
        unknown_fit = {name: keep & (codes == _UNKNOWN) for name, codes in fit.items()}
        self.blank += int(blank.sum())
        self.bad_values += int(bad.sum())
        self.fit_values_ignored += sum(int(mask.sum()) for mask in unknown_fit.values())
        if len(self.value_problems) < MAX_SHOWN:
            flagged = bad.copy()
            for mask in unknown_fit.values():
                flagged |= mask
            for row in np.flatnonzero(flagged)[: MAX_SHOWN - len(self.value_problems)]:
                message = _row_message(int(row), columns, bool(bad[row]), unknown_fit)
                self.value_problems.append((self.rows + int(row), message))

        self.lead_dictionaries.append(lead.dictionary)
        self.lead.append((lead_index[keep] + self.dictionary_size).astype(np.int32))
        self.dictionary_size += len(lead.dictionary)
        self.ns.append(ns[keep])
        self.activity.append(activity_code[keep])
        for name, codes in fit.items():
            self.fit.setdefault(name, []).append(np.maximum(codes[keep], MISSING_CODE))
        self.rows += batch.num_rows

    def problems(self) -> tuple[list[tuple[int, str]], int]:
        """The first :data:`MAX_SHOWN` problems as (line, message), by line; the total count."""
        malformed = np.sort(np.array(self.malformed_lines, dtype=np.int64))
        # Row k of the parsed rows sits on line k + 2 plus the malformed lines before it.
        valid_before = malformed - 2 - np.arange(malformed.size)
        listed = list(self.malformed_problems)
        for row, message in self.value_problems:
            line = row + 2 + int(np.searchsorted(valid_before, row, side="right"))
            listed.append((line, message))
        listed.sort(key=lambda problem: problem[0])
        count = len(self.malformed_lines) + self.bad_values + self.fit_values_ignored
        return listed[:MAX_SHOWN], count


def _row_message(
    row: int, columns: dict[str, Any], bad: bool, unknown_fit: dict[str, np.ndarray]
) -> str:
    """What is wrong with one row, for a person (built only for the rows that are listed)."""
    parts = []
    if bad:
        lead = columns["lead_id"][row].as_py()
        stamp = columns["timestamp"][row].as_py()
        activity = columns["activity"][row].as_py()
        if lead == "":
            parts.append("lead_id is empty")
        if stamp == "":
            parts.append("timestamp is empty")
        elif not _parse_timestamps(columns["timestamp"].slice(row, 1))[1][0]:
            parts.append(
                f"timestamp {stamp!r} is not an ISO-8601 date and time (e.g. 2024-03-01T14:30:00Z)"
            )
        if activity == "":
            parts.append("activity is empty")
        elif activity not in ACTIVITY_CODE:
            parts.append(f"unknown activity {activity!r}{_did_you_mean(activity, ACTIVITIES)}")
    for name, mask in unknown_fit.items():
        if mask[row]:
            value = columns[name][row].as_py()
            allowed = FIT_ATTRIBUTES[name]
            parts.append(
                f"{name}: unknown value {value!r}{_did_you_mean(value, allowed)} "
                f"(expected one of {', '.join(allowed)})"
            )
    return "; ".join(parts)


def read_events(path: str | os.PathLike[str]) -> EventFile:
    """Read a recorded activity log (see the module docstring for the rules).

    Raises :class:`InputError` when the file cannot be read, lacks a required column or has no
    valid row; other problems are returned in ``problems`` for the caller to judge.
    """
    pa = require("pyarrow", "replay", "mqlsim replay")
    pacsv = require("pyarrow.csv", "replay", "mqlsim replay")

    label = str(path)
    header = _read_header(Path(path), label)
    fit_columns = [name for name in FIT_ATTRIBUTES if name in header]
    text = pa.dictionary(pa.int32(), pa.string())
    reader_state = _Reader(label, fit_columns)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=False),
            parse_options=pacsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=reader_state.on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[*REQUIRED_COLUMNS, *fit_columns],
                column_types={"timestamp": pa.string()}
                | {name: text for name in ("lead_id", "activity", *fit_columns)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            reader_state.add(batch)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"{label}: cannot read the file as CSV ({error})") from None
    return _assemble(reader_state)


def _assemble(state: _Reader) -> EventFile:
    """One EventLog over the kept rows, each lead's fit, and the problems found."""
    problems, count = state.problems()
    ns = np.concatenate([np.empty(0, dtype=np.int64), *state.ns])
    if ns.size == 0:
        listed = [f"{state.label}:{line}: {message}" for line, message in problems]
        raise InputError([f"{state.label}: no valid rows", *listed])
    import pyarrow as pa

    joined = pa.concat_arrays(state.lead_dictionaries).dictionary_encode()
    distinct = joined.indices.to_numpy(False)[np.concatenate(state.lead)]
    present = np.zeros(len(joined.dictionary), dtype=bool)
    present[distinct] = True
    renumber = np.cumsum(present) - 1
    lead = renumber[distinct]
    lead_ids = joined.dictionary.filter(pa.array(present)).to_pylist()

    order = np.lexsort((ns, lead))  # stable: file order breaks ties
    lead, ns = lead[order].astype(np.int64), ns[order]
    origin = int(ns.min())
    events = EventLog(
        lead=lead,
        time=(ns - origin) / _NS_PER_DAY,
        activity=np.concatenate(state.activity)[order],
        starts=np.searchsorted(lead, np.arange(len(lead_ids) + 1)),
    )
    fit, conflicting = {}, np.zeros(len(lead_ids), dtype=bool)
    for name in FIT_ATTRIBUTES:
        rows = np.concatenate(state.fit[name])[order] if name in state.fit else None
        fit[name], conflicts = _latest_values(lead, rows, len(lead_ids))
        conflicting |= conflicts
    return EventFile(
        label=state.label,
        lead_ids=lead_ids,
        events=events,
        event_ns=ns,
        origin_ns=origin,
        fit=fit,
        leads_with_conflicting_fit=int(conflicting.sum()),
        rows_read=state.rows - state.blank + len(state.malformed_lines),
        rows_skipped=state.bad_values + len(state.malformed_lines),
        fit_values_ignored=state.fit_values_ignored,
        problems=problems,
        problem_count=count,
    )


def _latest_values(
    lead: np.ndarray, codes: np.ndarray | None, n_leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per lead, the last non-missing code of rows sorted by (lead, time); and which leads have
    rows that disagree."""
    value = np.full(n_leads, MISSING_CODE, dtype=np.int8)
    conflicting = np.zeros(n_leads, dtype=bool)
    if codes is None:
        return value, conflicting
    given = np.flatnonzero(codes != MISSING_CODE)
    owner = lead[given]
    last = given[np.append(owner[1:] != owner[:-1], True)] if given.size else given
    value[lead[last]] = codes[last]
    conflicting[owner[codes[given] != value[owner]]] = True
    return value, conflicting


# --- replaying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """A policy's decisions on a recorded log: per lead, whether, when and why it became MQL."""

    file: EventFile
    scenario_name: str
    policy_kind: str
    grade: np.ndarray
    mql: np.ndarray
    mql_ns: np.ndarray  # int64, valid where ``mql``
    time_to_mql_days: np.ndarray  # from the lead's first event; nan when never MQL
    reasons: list[str]  # "" for leads that never became MQL

    def to_records(self) -> list[dict[str, Any]]:
        """One record per lead (:func:`lead_rows`)."""
        return lead_rows(self)

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame indexed by lead id (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records(), index="lead_id")


def replay_file(file: EventFile, scenario: Scenario) -> Replay:
    """Run ``scenario``'s policy over ``file``: the simulator's own ``qualify``, then ``explain``
    for each lead that became MQL (on a one-lead view, so the cost stays linear)."""
    events, since = file.events, file.since
    span = float(np.max(events.time[events.starts[1:] - 1] - since))
    try:
        scenario.policy.check_horizon(span)
    except ValueError as error:
        raise InputError(
            f"policy: {error}; the longest lead history in {file.label} spans {span:.0f} days"
        ) from None
    grade = observed_grade_of(file.fit, scenario.population.icp)
    view = LeadView(events=events, grade=grade, fit=file.fit, since=since)
    policy: Policy = make_policy(scenario.policy)
    decision = policy.qualify(view)
    mql = np.isfinite(decision.time)
    from_event = mql & (decision.event >= 0)
    mql_ns = np.zeros(events.n_leads, dtype=np.int64)
    mql_ns[mql] = file.origin_ns + np.round(decision.time[mql] * _NS_PER_DAY).astype(np.int64)
    mql_ns[from_event] = file.event_ns[decision.event[from_event]]
    reasons = [""] * events.n_leads
    for lead in np.flatnonzero(mql):
        reasons[lead] = policy.explain(view.subset(np.array([lead])), 0)
    return Replay(
        file=file,
        scenario_name=scenario.scenario.name,
        policy_kind=scenario.policy.kind,
        grade=grade,
        mql=mql,
        mql_ns=mql_ns,
        time_to_mql_days=np.where(mql, decision.time - since, np.nan),
        reasons=reasons,
    )


# --- results as data --------------------------------------------------------------------------


def _iso(ns: np.ndarray) -> np.ndarray:
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


def _days(value: float) -> float | None:
    return round(value, 9) if math.isfinite(value) else None


def summary(result: Replay) -> dict[str, Any]:
    """The summary of ``replay.json``: counts, MQL rate, time to MQL, rows skipped, problems."""
    file = result.file
    leads, mqls = file.events.n_leads, int(result.mql.sum())
    waits = result.time_to_mql_days[result.mql]
    first, last = _iso(np.array([file.event_ns.min(), file.event_ns.max()]))
    return {
        "schema_version": SCHEMA_VERSION,
        "events_file": file.label,
        "scenario": result.scenario_name,
        "policy_kind": result.policy_kind,
        "first_event": str(first),
        "last_event": str(last),
        "rows_read": file.rows_read,
        "rows_used": len(file.events),
        "rows_skipped": file.rows_skipped,
        "fit_values_ignored": file.fit_values_ignored,
        "leads_with_conflicting_fit": file.leads_with_conflicting_fit,
        "leads": leads,
        "mqls": mqls,
        "mql_rate": mqls / leads,
        "time_to_mql_days_mean": _days(float(waits.mean())) if mqls else None,
        "time_to_mql_days_median": _days(float(np.median(waits))) if mqls else None,
        "problems": file.problem_lines(),
        "problems_not_shown": file.problem_count - len(file.problems),
    }


def lead_rows(result: Replay) -> list[dict[str, Any]]:
    """One dict per lead, in order of first appearance in the log."""
    when = _iso(result.mql_ns)
    return [
        {
            "lead_id": lead_id,
            "mql": bool(mql),
            "mql_at": str(at) if mql else None,
            "time_to_mql_days": _days(float(wait)),
            "grade": GRADE_LABELS[grade],
            "reason": reason,
        }
        for lead_id, mql, at, wait, grade, reason in zip(
            result.file.lead_ids,
            result.mql,
            when,
            result.time_to_mql_days,
            result.grade,
            result.reasons,
            strict=True,
        )
    ]
