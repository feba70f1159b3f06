"""Lifecycle exports: one row per lead with the dates it reached each funnel stage.

The shape CRMs export and analysts keep (docs/replay.md, "Outcomes"): a lead id, when the lead
was created, its source, the date it became MQL, SAL, SQL, opportunity and customer (empty where
it never did) and its deal value. Column names default to HubSpot's contact export and are
mapped by :class:`LifecycleColumns` (the ``[outcomes]`` table of a replay mapping file), so any
CRM's export reads without editing it. `mqlsim replay --outcomes` joins it to an activity log;
the calibration from an export reads it too.

Rules:

* A stage cell is empty (never reached), a date and time (reached then; the timestamps of
  :func:`mqlsim.experiments.tabular.parse_timestamps`), or a flag for exports without dates:
  ``1``/``true``/``yes`` (reached, when unknown) or ``0``/``false``/``no`` (not reached), in any
  case. Anything else is a problem: the cell counts as empty.
* With ``day_first``, dates written day first (``31-12-2017``, ``31/12/2017 14:30``, as many
  CRMs outside the US export them) are read as such; ISO dates read as always.
* ``deal_value`` is a plain decimal number (no thousands separators or currency signs).
* A lead on several rows is merged: each stage at its earliest date (reached if any row says
  so), the created date the earliest, the source and deal value from the last row that has one.
  In an export (``one_row_per_lead``) each repeated row is also a problem.
* An export in several files (contacts and deals, say) is joined on the lead id by the same
  rule, as the rows of one file read in the order the files are given: the source and deal
  value come from the last file that gives one. A lead in several files is no problem; a lead
  repeated within one file still is.
* Problems carry the line they were found on; the header is line 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from pydantic import Field

from mqlsim.core.errors import InputError
from mqlsim.core.extras import require
from mqlsim.core.schema import StrictModel
from mqlsim.experiments.tabular import (
    NO_TIME,
    CsvFile,
    Interner,
    Problems,
    codes,
    is_empty,
    parse_numbers,
    parse_timestamps,
    short,
    take,
    timestamp_problem,
)

#: Funnel stages a lifecycle records, in funnel order (``mql``: the CRM's own MQL, the policy
#: in force then).
STAGES: tuple[str, ...] = ("mql", "sal", "sql", "opportunity", "customer")
#: The stages after sales took the lead over: the outcomes a backtest measures a policy by.
OUTCOME_STAGES: tuple[str, ...] = STAGES[1:]
_YES = frozenset({"1", "true", "yes"})  # flags, compared in lower case
_NO = frozenset({"0", "false", "no"})


class LifecycleColumns(StrictModel):
    """Column names of a lifecycle export (defaults: HubSpot's contact export, with a
    HubSpot-style name for SAL, which HubSpot has no default stage for)."""

    lead_id: str = Field("Record ID", description="The lead's id, as in the activity log.")
    created: str = Field("Create Date", description="When the lead was created.")
    source: str = Field("Original Source", description="The lead's source or channel.")
    mql: str = Field(
        "Became a Marketing Qualified Lead Date", description="When the CRM made it an MQL."
    )
    sal: str = Field(
        "Became a Sales Accepted Lead Date", description="When sales accepted it (SAL)."
    )
    sql: str = Field("Became a Sales Qualified Lead Date", description="When it became an SQL.")
    opportunity: str = Field(
        "Became an Opportunity Date", description="When it became an opportunity."
    )
    customer: str = Field("Became a Customer Date", description="When its deal was won.")
    deal_value: str = Field(
        "Recent Deal Amount", description="Its deal's value (HubSpot: the last won deal's)."
    )

    def stage_column(self, stage: str) -> str:
        """The column of ``stage`` (one of :data:`STAGES`)."""
        column: str = getattr(self, stage)
        return column


@dataclass(frozen=True)
class Lifecycle:
    """Per lead (in order of first appearance): created, source, stages reached and when.

    ``reached[stage]`` says whether the lead reached ``stage``; ``at_ns[stage]`` when, in
    nanoseconds since 1970 UTC (:data:`~mqlsim.experiments.tabular.NO_TIME` where not reached or
    not dated). ``stages`` are the stages a file read has a column for; ``source`` is "" where
    unknown; ``deal_value`` is ``nan`` where unknown; ``problems`` are each file's, in the order
    read.
    """

    label: str
    lead_ids: list[str]
    created_ns: np.ndarray
    source: list[str]
    reached: dict[str, np.ndarray]
    at_ns: dict[str, np.ndarray]
    deal_value: np.ndarray
    stages: tuple[str, ...]
    rows_read: int
    problems: tuple[Problems, ...]

    @property
    def n_leads(self) -> int:
        """Number of leads."""
        return len(self.lead_ids)


@dataclass
class _Columns:
    """The per-row columns read so far, from one file or several: leads and sources numbered
    across every file, and for each column one array per chunk of rows (aligned with
    ``lead``), ``None`` where the chunk's file has no such column."""

    leads: Interner = field(default_factory=Interner)
    sources: Interner = field(default_factory=Interner)
    lead: list[np.ndarray] = field(default_factory=list)
    created: list[np.ndarray | None] = field(default_factory=list)
    source: list[np.ndarray | None] = field(default_factory=list)
    deal_value: list[np.ndarray | None] = field(default_factory=list)
    reached: dict[str, list[np.ndarray | None]] = field(
        default_factory=lambda: {stage: [] for stage in STAGES}
    )
    at: dict[str, list[np.ndarray | None]] = field(
        default_factory=lambda: {stage: [] for stage in STAGES}
    )


@dataclass(frozen=True)
class _FileRead:
    """What reading one file added: its stages, its problems and its data rows."""

    stages: tuple[str, ...]
    problems: Problems
    rows_read: int


def read_lifecycle(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: LifecycleColumns | None = None,
    *,
    lead_id: str | None = None,
    one_row_per_lead: bool = True,
    required: Sequence[str] = (),
    day_first: bool = False,
) -> Lifecycle:
    """Read a lifecycle export, in one file or several (see the module docstring for the
    rules; several files are joined on the lead id as if they were one, in the order given).

    ``lead_id`` overrides the id column (an activity log carrying lifecycle columns names its
    leads in its own id column); ``required`` lists stages whose column each file must have.
    Raises :class:`InputError` when a file cannot be read, has no id column, lacks a required
    stage column or has no usable row; other problems are returned in ``problems``, one
    :class:`~mqlsim.experiments.tabular.Problems` per file.
    ``day_first`` reads ``DD-MM-YYYY`` dates (see the module docstring).
    """
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not files:
        raise ValueError("read_lifecycle: no file given")
    names = columns or LifecycleColumns()
    grown = _Columns()
    read = [
        _read_file(
            path, names, grown, lead_id or names.lead_id, one_row_per_lead, required, day_first
        )
        for path in files
    ]
    return _merge(" + ".join(str(path) for path in files), grown, read)


def _read_file(
    path: str | os.PathLike[str],
    names: LifecycleColumns,
    grown: _Columns,
    id_column: str,
    one_row_per_lead: bool,
    required: Sequence[str],
    day_first: bool,
) -> _FileRead:
    """Add the rows of one file to ``grown``."""
    label = str(path)
    with CsvFile(path, label, f"with {id_column!r} and lifecycle date columns") as table:
        header = table.header
        missing = [
            f"{label}:1: missing column {column!r} ({what})"
            for column, what in [(id_column, "lead id")]
            + [(names.stage_column(stage), f"the {stage} date") for stage in required]
            if column not in header
        ]
        if missing:
            raise InputError(missing)
        stages = tuple(stage for stage in STAGES if names.stage_column(stage) in header)
        optional = {
            "created": names.created,
            "source": names.source,
            "deal_value": names.deal_value,
        }
        present = {key: column for key, column in optional.items() if column in header}
        read = [id_column, *present.values(), *(names.stage_column(s) for s in stages)]
        first_line: dict[int, int] = {}
        kept_rows = 0
        for chunk in table.chunks(list(dict.fromkeys(read))):
            ids = chunk.columns[id_column]
            empty_id = is_empty(ids)
            for row in np.flatnonzero(empty_id):
                table.problems.note(int(chunk.line[row]), f"{id_column} is empty; row skipped")
            keep = np.flatnonzero(~empty_id)
            kept_rows += keep.size
            lines = chunk.line[keep]
            kept = _KeptRows(chunk.columns, keep, lines, table, day_first)
            lead = grown.leads.numbers(take(ids, keep))
            if one_row_per_lead:
                _note_repeats(lead, lines, first_line, take(ids, keep), table.problems)
            grown.lead.append(lead)
            grown.created.append(_dates(kept, names.created) if "created" in present else None)
            grown.source.append(
                grown.sources.numbers(take(chunk.columns[names.source], keep), empty=-1)
                if "source" in present
                else None
            )
            grown.deal_value.append(
                _numbers(kept, names.deal_value) if "deal_value" in present else None
            )
            for stage in STAGES:
                reached, at = (
                    _stage_cells(kept, names.stage_column(stage))
                    if stage in stages
                    else (None, None)
                )
                grown.reached[stage].append(reached)
                grown.at[stage].append(at)
        if not kept_rows:
            raise InputError([f"{label}: no lead with an id", *table.problems.error_lines()])
        return _FileRead(stages, table.problems, table.rows_read)


def _note_repeats(
    lead: np.ndarray,
    lines: np.ndarray,
    first_line: dict[int, int],
    ids: Any,
    problems: Problems,
) -> None:
    """A problem for each row of a lead already seen (an export has one row per lead)."""
    for row, (number, line) in enumerate(zip(lead.tolist(), lines.tolist(), strict=True)):
        seen = first_line.setdefault(number, line)
        if seen != line:
            lead_id = ids[row].as_py()
            problems.note(line, f"lead {short(lead_id)} is also on line {seen}; rows merged")


def _iso(texts: Any, day_first: bool) -> Any:
    """``texts`` with day-first dates (``31-12-2017``, ``31/12/2017 14:30``) rewritten as ISO
    when ``day_first``; unchanged otherwise."""
    if not day_first:
        return texts
    return pc().replace_substring_regex(texts, pattern=_DAY_FIRST, replacement=r"\3-\2-\1\4")


#: ``DD-MM-YYYY``, ``DD/MM/YYYY`` or ``DD.MM.YYYY``, then an optional time.
_DAY_FIRST = r"^\s*(\d{2})[-/.](\d{2})[-/.](\d{4})((?:[T ].*)?)$"


@dataclass(frozen=True)
class _KeptRows:
    """The rows of one chunk of a file that have a lead id: where their cells are read, and
    where a cell that does not parse is noted (on its line)."""

    columns: Any  # column name -> the chunk's cells
    keep: np.ndarray
    lines: np.ndarray
    table: CsvFile
    day_first: bool

    def texts(self, column: str) -> Any:
        """The kept rows' cells of ``column``."""
        return take(self.columns[column], self.keep)

    def note_unreadable(
        self,
        texts: Any,
        ok: np.ndarray,
        problem: Callable[[str], Any],
        where: np.ndarray | None = None,
    ) -> None:
        """Note on its line each filled cell of ``texts`` that did not parse (``problem`` of its
        text: a message, or a function that makes one); ``texts`` are the kept rows, or those
        at ``where`` among them."""
        lines = self.lines if where is None else self.lines[where]
        for row in np.flatnonzero(~ok & ~is_empty(texts)):
            self.table.problems.note(int(lines[row]), problem(texts[int(row)].as_py()))

    def timestamps(self, texts: Any) -> tuple[np.ndarray, np.ndarray]:
        """``texts`` as timestamps (ns) and whether each parsed, day first if so read."""
        return parse_timestamps(_iso(texts, self.day_first))


def _dates(kept: _KeptRows, column: str) -> np.ndarray:
    """Dates of the kept rows (NO_TIME where empty or unreadable, the latter a problem)."""
    texts = kept.texts(column)
    ns, ok = kept.timestamps(texts)
    # The message is made only if the problem is shown (a partial, as the notes take).
    kept.note_unreadable(texts, ok, lambda text: partial(timestamp_problem, column, text))
    return ns


def _numbers(kept: _KeptRows, column: str) -> np.ndarray:
    """Numbers of the kept rows (nan where empty or unreadable, the latter a problem)."""
    texts = kept.texts(column)
    numbers, ok = parse_numbers(texts)

    def problem(text: str) -> str:
        return f"{column} {short(text)} is not a finite decimal number; treated as unknown"

    kept.note_unreadable(texts, ok, problem)
    return numbers


def _stage_cells(kept: _KeptRows, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Whether and when each kept row reached a stage, from a date or a yes/no flag."""
    texts = kept.texts(column)
    folded = codes(
        pc().utf8_lower(pc().utf8_trim_whitespace(texts)),
        dict.fromkeys(_YES, 1) | dict.fromkeys(_NO, 0),
        empty=0,
        unknown=-1,
    )
    flag_yes = folded == 1
    dated = folded == -1
    at = np.full(len(texts), NO_TIME, dtype=np.int64)
    reached = flag_yes.copy()
    if dated.any():
        where = np.flatnonzero(dated)
        dated_texts = take(texts, where)
        ns, ok = kept.timestamps(dated_texts)
        at[where] = ns
        reached[where] = ok
        kept.note_unreadable(
            dated_texts, ok, lambda text: partial(_stage_problem, column, text), where
        )
    return reached, at


def _stage_problem(column: str, text: str) -> str:
    """Why a stage cell is neither a date nor a flag."""
    return timestamp_problem(column, text) + "; or yes/no; treated as not reached"


def _merge(label: str, grown: _Columns, files: list[_FileRead]) -> Lifecycle:
    """One entry per lead from the rows of every file (several rows of a lead merged)."""
    n = len(grown.leads)
    lead = np.concatenate(grown.lead)
    sizes = [part.size for part in grown.lead]
    source_code = last_given(lead, _rows(grown.source, sizes, -1), n, -1)
    source_names = grown.sources.names
    stages = tuple(stage for stage in STAGES if any(stage in file.stages for file in files))
    reached: dict[str, np.ndarray] = {}
    at_ns: dict[str, np.ndarray] = {}
    for stage in stages:
        reached[stage] = np.zeros(n, dtype=bool)
        reached[stage][lead[_rows(grown.reached[stage], sizes, False)]] = True
        at_ns[stage] = _earliest(lead, _rows(grown.at[stage], sizes, NO_TIME), n)
    return Lifecycle(
        label=label,
        lead_ids=grown.leads.names,
        created_ns=_earliest(lead, _rows(grown.created, sizes, NO_TIME), n),
        source=["" if code < 0 else source_names[int(code)] for code in source_code],
        reached=reached,
        at_ns=at_ns,
        deal_value=last_given(lead, _rows(grown.deal_value, sizes, np.nan), n, np.nan),
        stages=stages,
        rows_read=sum(file.rows_read for file in files),
        problems=tuple(file.problems for file in files),
    )


def _rows(parts: list[np.ndarray | None], sizes: list[int], missing: float) -> np.ndarray:
    """One column's values of every row read, ``missing`` for the rows of files without it."""
    return np.concatenate(
        [
            np.full(size, missing) if part is None else part
            for part, size in zip(parts, sizes, strict=True)
        ]
    )


def _earliest(lead: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per lead, the smallest of its ``values`` (:data:`NO_TIME`, "no date", where none)."""
    out = np.full(n, NO_TIME, dtype=np.int64)
    dated = values != NO_TIME
    lead, values = lead[dated], values[dated]
    order = np.lexsort((values, lead))
    first = np.ones(order.size, dtype=bool)
    first[1:] = lead[order][1:] != lead[order][:-1]
    out[lead[order][first]] = values[order][first]
    return out


def last_given(lead: np.ndarray, values: np.ndarray, n: int, missing: float) -> np.ndarray:
    """Per lead, the value of its last row that has one (``missing``: none, and the marker of
    an empty cell in ``values``)."""
    out = np.full(n, missing)
    given = np.flatnonzero(~np.isnan(values) if np.isnan(missing) else values != missing)
    owners, from_end = np.unique(lead[given][::-1], return_index=True)
    out[owners] = values[given[given.size - 1 - from_end]]
    return out


def pc() -> Any:
    """pyarrow.compute (the ``replay`` extra)."""
    return require("pyarrow.compute", "replay", "reading a lifecycle export")
