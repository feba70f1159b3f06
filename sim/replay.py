"""`mqlsim replay`: backtest a scenario's policy on a recorded activity log (DESIGN §4).

The log is a CSV file with the columns ``lead_id,timestamp,activity``, optionally ``value``
(accepted and ignored: policies read activities only) and the fit columns of
:data:`sim.vocabulary.FIT_ATTRIBUTES`. It is read in blocks by pyarrow's streaming CSV reader
into compact arrays (lead index, time, activity and fit codes), never one Python object per
row, and turned into one :class:`~sim.events.EventLog`. The scenario's policy then decides each
lead's first MQL with the same ``make_policy(...).qualify(view)`` the simulator calls.

Rules (docs/replay.md explains them to users):

* Timestamps are ISO-8601 (``2024-03-01``, ``2024-03-01T14:30``, ``2024-03-01 14:30:00.25``),
  optionally with a zone (``Z``, ``+02:00``, ``-0500``). Zoned times are converted to UTC; times
  without a zone are taken as UTC. Output times are UTC with a ``Z``.
* A lead's ``since`` is its first event. Its fit is, per attribute, the latest non-empty value
  among its rows (by timestamp, file order breaking ties); an empty cell is missing
  (:data:`~policies.base.MISSING_CODE` in ``LeadView.fit``; no ICP points).
* Bad rows (wrong number of fields, empty ``lead_id``, unreadable timestamp, unknown activity)
  are skipped; an unknown fit value keeps its row but counts as missing. Each is a problem
  reported with its 1-based line number (the header is line 1); ``--strict`` makes any problem
  fatal. Blank lines are ignored.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from policies import make_policy
from policies.base import MISSING_CODE, LeadView, Policy
from sim.atomic import write_atomic
from sim.cli import add_set_option
from sim.errors import InputError
from sim.events import EventLog
from sim.population import grade_of, icp_points_of
from sim.scenario import Scenario
from sim.vocabulary import ACTIVITIES, ACTIVITY_CODE, FIT_ATTRIBUTES, GRADES

REQUIRED_COLUMNS: tuple[str, ...] = ("lead_id", "timestamp", "activity")
FORMATS: tuple[str, ...] = ("table", "json", "csv")
CSV_FILE = "replay.csv"
JSON_FILE = "replay.json"
SCHEMA_VERSION = 1
#: Problems listed in full (errors, ``replay.json``); the rest are counted.
MAX_SHOWN = 20
#: Leads shown by ``--format table``.
TABLE_ROWS = 20
ROW_COLUMNS: tuple[str, ...] = ("lead_id", "mql", "mql_at", "time_to_mql_days", "grade", "reason")

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


def read_events(path: str | Path) -> EventFile:
    """Read a recorded activity log (see the module docstring for the rules).

    Raises :class:`InputError` when the file cannot be read, lacks a required column or has no
    valid row; other problems are returned in ``problems`` for the caller to judge.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

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


def replay(file: EventFile, scenario: Scenario) -> Replay:
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
    icp = scenario.population.icp
    grade = grade_of(icp_points_of(file.fit, icp), icp)
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


# --- output ---------------------------------------------------------------------------------


def _iso(ns: np.ndarray) -> np.ndarray:
    """UTC ISO-8601 strings ending in ``Z``, in the coarsest unit of seconds that loses nothing."""
    unit = "ns"
    for candidate, step in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
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
            "grade": GRADES[grade],
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


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The per-lead rows as CSV: ``mql`` is yes/no; empty cells where a lead never became MQL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ROW_COLUMNS)
    for row in rows:
        writer.writerow(
            (
                row["lead_id"],
                "yes" if row["mql"] else "no",
                row["mql_at"] or "",
                "" if row["time_to_mql_days"] is None else repr(row["time_to_mql_days"]),
                row["grade"],
                row["reason"],
            )
        )
    return buffer.getvalue()


def to_json(head: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """``{"summary": ..., "leads": [...]}``: the summary indented, then one lead per line.

    Leads are encoded without indentation, which keeps the fast C encoder (indenting a large
    list takes json's pure-Python path, several times slower).
    """
    summary_text = json.dumps(head, indent=2, allow_nan=False).replace("\n", "\n  ")
    leads = ",\n    ".join(json.dumps(row, allow_nan=False) for row in rows)
    return f'{{\n  "summary": {summary_text},\n  "leads": [\n    {leads}\n  ]\n}}\n'


def _summary_lines(head: dict[str, Any]) -> list[tuple[str, str]]:
    mean, median = head["time_to_mql_days_mean"], head["time_to_mql_days_median"]
    waits = "n/a" if mean is None else f"mean {mean:.2f}, median {median:.2f}"
    return [
        ("events", f"{head['events_file']} ({head['first_event']} to {head['last_event']})"),
        ("policy", f"{head['scenario']} ({head['policy_kind']})"),
        ("leads", f"{head['leads']:,}"),
        ("MQLs", f"{head['mqls']:,}"),
        ("MQL rate", f"{head['mql_rate'] * 100:.1f} %"),
        ("time to MQL (days)", waits),
        (
            "rows",
            f"{head['rows_read']:,} read, {head['rows_used']:,} used, "
            f"{head['rows_skipped']:,} skipped",
        ),
    ]


def _table_cells(row: dict[str, Any]) -> tuple[str, ...]:
    wait = row["time_to_mql_days"]
    return (
        row["lead_id"],
        "yes" if row["mql"] else "no",
        row["mql_at"] or "",
        "" if wait is None else f"{wait:.2f}",
        row["grade"],
        row["reason"],
    )


def to_table(head: dict[str, Any], rows: list[dict[str, Any]], terminal: bool) -> str:
    """The summary and the first :data:`TABLE_ROWS` leads: rich on a terminal, plain otherwise."""
    shown = [_table_cells(row) for row in rows[:TABLE_ROWS]]
    more = len(rows) - len(shown)
    footer = f"... and {more:,} more leads (--format csv or --out for all)" if more else ""
    headings = ("lead_id", "MQL", "when (UTC)", "days", "grade", "reason")
    if terminal:
        console = Console()
        with console.capture() as capture:
            facts = Table.grid(padding=(0, 2))
            for name, value in _summary_lines(head):
                facts.add_row(name, value)
            console.print(facts)
            table = Table(caption=footer or None)
            for heading in headings:
                table.add_column(heading, justify="right" if heading == "days" else "left")
            for cells in shown:
                table.add_row(*cells)
            console.print(table)
        return capture.get()
    width = max(len(name) for name, _ in _summary_lines(head))
    lines = [f"{name:<{width}}  {value}" for name, value in _summary_lines(head)]
    widths = [max(len(cells[i]) for cells in (headings, *shown)) for i in range(len(headings))]
    lines.append("")
    for cells in (headings, *shown):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    if footer:
        lines.append(footer)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _warning(file: EventFile) -> str:
    """One line for stderr when problems were skipped over instead of failing the run."""
    done = []
    if file.rows_skipped:
        done.append(f"skipped {file.rows_skipped:,} bad row{'s' * (file.rows_skipped != 1)}")
    if file.fit_values_ignored:
        plural = "s" * (file.fit_values_ignored != 1)
        done.append(f"treated {file.fit_values_ignored:,} unknown fit value{plural} as missing")
    lines = ", ".join(str(line) for line, _ in file.problems[:5])
    more = ", ..." if file.problem_count > 5 else ""
    return (
        f"{file.label}: {' and '.join(done)} (line{'s' * (file.problem_count != 1)} {lines}{more});"
        " see the summary's problems, or use --strict to stop on them"
    )


# --- the command ----------------------------------------------------------------------------


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add ``mqlsim replay`` (it loads only a scenario's policy, so it takes ``--set`` alone)."""
    del scenario_options  # --replications and --seed mean nothing to a replay
    parser = commands.add_parser(
        "replay",
        help="backtest a scenario's policy on a recorded activity log",
        description=(
            "Run a scenario's MQL policy over a recorded activity log (CSV with columns "
            "lead_id,timestamp,activity and optional value and fit columns); print one row "
            "per lead and a summary. See docs/replay.md."
        ),
    )
    parser.add_argument("events", metavar="EVENTS.csv", help="recorded activity log")
    parser.add_argument(
        "--policy", required=True, metavar="SCENARIO", help="scenario TOML whose policy to run"
    )
    add_set_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"write {CSV_FILE} and {JSON_FILE}")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) on any bad row or unknown fit value instead of skipping",
    )
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """``mqlsim replay``: load, read, check, replay, write, print."""
    from sim.loading import load_scenario

    scenario = load_scenario(args.policy, args.sets)
    file = read_events(args.events)
    if args.strict and file.problem_count:
        hidden = file.problem_count - len(file.problems)
        tail = [f"{file.label}: {hidden:,} more problems not shown"] if hidden else []
        raise InputError([*file.problem_lines(), *tail])
    result = replay(file, scenario)
    head, rows = summary(result), lead_rows(result)
    renderers: dict[str, Callable[[], str]] = {
        "csv": lambda: to_csv(rows),
        "json": lambda: to_json(head, rows),
        "table": lambda: to_table(head, rows, sys.stdout.isatty()),
    }
    needed = {args.format} | ({"csv", "json"} if args.out is not None else set())
    texts = {fmt: renderers[fmt]() for fmt in needed}
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, fmt in ((CSV_FILE, "csv"), (JSON_FILE, "json")):
                write_atomic(args.out / name, texts[fmt].encode())
        except OSError as error:
            raise InputError(f"--out {args.out}: cannot write: {error.strerror or error}") from None
    if file.problem_count:
        print(f"mqlsim: warning: {_warning(file)}", file=sys.stderr)
    sys.stdout.write(texts[args.format])
    return 0
