"""CSV input read row by row: exact line numbers, bounded memory, every bad row a numbered problem.

Replayed activity logs, lifecycle exports and lead snapshots (docs/replay.md) are all read
here. The reader is the standard library's :mod:`csv` module on a text stream that splits lines
at ``\\n``, ``\\r\\n`` and a lone ``\\r`` alike, rather than pyarrow's CSV reader, because the
numbers a person is told must be right and pyarrow could not give them: it counts *rows*
(``Row #N``), which drift from lines after a quoted line break; it cannot name the line of a
field longer than its block; it decodes a malformed row inside its error handler, where
invalid UTF-8 raised past the handler; and the reader built on it kept each block's dictionary
of lead ids to the end, so memory grew with the file. ``csv.reader.line_num`` counts physical
lines exactly, whatever the quoting.

Memory: rows are handed on in chunks of :data:`CHUNK_ROWS` and dropped once a caller has turned
them into compact arrays, and no field may exceed :data:`MAX_FIELD_CHARS` (an unclosed quote
would otherwise swallow the rest of the file into one field): that is the one fatal row
problem, named by the line its row starts on. Bytes that are not UTF-8 are decoded as lone
surrogates (``surrogateescape``) so the line structure survives them; a row with such bytes in
a column the caller reads is a problem of that row only.

The speed this costs is measured by ``benchmarks/replay_speed.py`` (docs/replay.md, "Large
logs").
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.core.extras import require

#: Problems listed in full (errors, ``replay.json``); the rest are counted.
MAX_SHOWN = 20
#: Rows per chunk handed to a caller.
CHUNK_ROWS = 1 << 12
#: The longest field accepted (characters). A longer one stops the read.
MAX_FIELD_CHARS = 1 << 20

#: Timestamps are accepted from 1970 to 2199 (UTC or with a zone): a year outside is a typo or
#: an unset date (1700, 0001), and the range keeps nanoseconds since 1970 far from overflow.
YEARS = (1970, 2199)
_YEAR = r"(19[7-9]\d|2[01]\d\d)"
_DATE = rf"{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?"
_ZONE = r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)"
_NAIVE_TIMESTAMP = rf"^{_DATE}({_TIME})?$"
_ZONED_TIMESTAMP = rf"^{_DATE}{_TIME}{_ZONE}$"
_ANY_YEAR = re.compile(r"^(\d{4})-\d\d-\d\d")
#: A timestamp that is missing (NaT) in an int64 nanosecond column.
NO_TIME = np.iinfo(np.int64).min
NS_PER_DAY = 86_400 * 10**9


@dataclass
class Problems:
    """What was wrong with a file: the first :data:`MAX_SHOWN` problems by line, and a count.

    Messages are built only for problems that may be shown (``note`` takes a function).
    """

    label: str
    count: int = 0
    kept: list[tuple[int, str]] = field(default_factory=list)

    def wants(self, line: int) -> bool:
        """Whether a problem on ``line`` would be among those shown so far."""
        return len(self.kept) < MAX_SHOWN or line < self.kept[-1][0]

    def note(self, line: int, message: Callable[[], str] | str) -> None:
        """Count one problem on ``line``; keep its message if it may be shown."""
        self.count += 1
        if self.wants(line):
            text = message if isinstance(message, str) else message()
            self.kept.append((line, one_line(text)))
            self.kept.sort(key=lambda problem: problem[0])
            del self.kept[MAX_SHOWN:]

    @property
    def shown(self) -> list[tuple[int, str]]:
        """The problems listed, as ``(line, message)`` by line."""
        return list(self.kept)

    def lines(self) -> list[str]:
        """The listed problems as ``FILE:LINE: message``."""
        return [f"{self.label}:{line}: {message}" for line, message in self.kept]

    def error_lines(self) -> list[str]:
        """:meth:`lines`, then how many more there were."""
        hidden = self.count - len(self.kept)
        more = [f"{self.label}: {hidden:,} more problems not shown"] if hidden else []
        return [*self.lines(), *more]


@dataclass(frozen=True)
class Chunk:
    """Consecutive usable rows of a file: each row's first line and the text of the columns
    asked for, as pyarrow string arrays (C strings, not one Python object per cell)."""

    line: np.ndarray
    columns: dict[str, Any]

    def __len__(self) -> int:
        return len(self.line)


def open_regular(path: Path, label: str, kind: str) -> io.BufferedReader:
    """Open ``path`` for reading bytes if it is a regular file; :class:`InputError` otherwise
    (a folder, a FIFO that would block, a device that never ends)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a folder, expected {kind}") from None
    except OSError as error:
        raise InputError(f"{label}: cannot read the file ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise InputError(f"{label}: not a regular file, expected {kind}")
    return handle


class CsvFile:
    """A CSV file with a header line, read in chunks of rows (use as a context manager).

    ``expected`` describes the header wanted, for the error on an empty file.
    """

    def __init__(self, path: str | os.PathLike[str], label: str, expected: str) -> None:
        self.pa = require("pyarrow", "replay", "mqlsim replay")
        self.label = label
        self.problems = Problems(label)
        self.rows_read = 0  # data rows, blank lines not counted
        self._raw = open_regular(Path(path), label, "a CSV file")
        self._text = io.TextIOWrapper(
            self._raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self._reader = csv.reader(self._text)
        self._limit = csv.field_size_limit()
        csv.field_size_limit(MAX_FIELD_CHARS)
        try:
            self.header = self._read_header(expected)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file and restore the csv module's field limit."""
        csv.field_size_limit(self._limit)
        self._text.close()

    def _fatal(self, line: int, error: Exception) -> InputError:
        """The error that stops the read at the row starting on ``line``."""
        if isinstance(error, OSError):
            message = f"{self.label}: cannot read the file ({error.strerror})"
        elif "field larger than field limit" in str(error):
            message = (
                f"{self.label}:{line}: a field longer than {MAX_FIELD_CHARS:,} characters starts"
                " in the row on this line (a quote left open?); nothing after it was read"
            )
        else:
            message = f"{self.label}:{line}: cannot read the file as CSV ({error})"
        return InputError([*self.problems.error_lines(), message])

    def _read_header(self, expected: str) -> list[str]:
        try:
            header = next(self._reader, None)
        except (csv.Error, OSError) as error:
            raise self._fatal(1, error) from None
        if header is None or not any(name.strip() for name in header):
            raise InputError(f"{self.label}: the file is empty; expected a header line {expected}")
        if not _valid_text("".join(header)):
            raise InputError(
                f"{self.label}:1: the header is not UTF-8 text; save the file as UTF-8"
            )
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputError(
                [f"{self.label}:1: column {name!r} appears more than once" for name in duplicates]
            )
        return header

    def chunks(self, columns: Sequence[str]) -> Iterator[Chunk]:
        """The data rows in chunks, with the text of ``columns`` (names in the header).

        Blank lines (and rows whose ``columns`` are all empty) are skipped; a row with the
        wrong number of fields, or with bytes that are not UTF-8 in one of ``columns``, is a
        problem, skipped.
        """
        positions = [self.header.index(name) for name in columns]
        reader = self._reader
        while True:
            first_line = reader.line_num + 1
            try:
                rows = list(islice(reader, CHUNK_ROWS))
            except (csv.Error, OSError) as error:
                raise self._fatal(self._row_start(first_line), error) from None
            if not rows:
                return
            chunk = self._chunk(rows, first_line, columns, positions)
            if len(chunk):
                yield chunk

    def _row_start(self, first_line: int) -> int:
        """The first line of the row that the reader failed on, after ``first_line``: the
        file is read again from the start with a reader that stops at that row (rare)."""
        with open(self._raw.name, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
            reader = csv.reader(text)
            start = 1
            try:
                for _ in reader:
                    start = reader.line_num + 1
            except csv.Error:
                return max(start, first_line)
        return first_line

    def _chunk(
        self,
        rows: list[list[str]],
        first_line: int,
        columns: Sequence[str],
        positions: list[int],
    ) -> Chunk:
        """The usable rows of ``rows`` (read from ``first_line`` on) and their lines.

        A row spans one line plus the line breaks inside its quoted fields (``\\r\\n``, a lone
        ``\\r`` or ``\\n`` each one, as the reader splits lines); a chunk without line breaks
        in its fields, the usual case, is one row per line.
        """
        width = len(self.header)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        right = np.flatnonzero(lengths == width)
        fitting = rows if right.size == len(rows) else [rows[row] for row in right]
        spans = np.ones(len(rows), dtype=np.int64)
        if self._reader.line_num - first_line + 1 > len(rows):  # some row spans several lines
            for index in range(width):
                values = list(map(itemgetter(index), fitting))
                spans[right] += np.fromiter(map(_breaks, values), np.int64, count=len(values))
            for row in np.flatnonzero(lengths != width):
                spans[row] += sum(map(_breaks, rows[row]))
        starts = first_line + np.cumsum(spans) - spans
        for row in np.flatnonzero((lengths != width) & (lengths > 0)):
            if any(rows[row]):  # not a blank line
                self.rows_read += 1
                self.problems.note(
                    int(starts[row]), f"expected {width} fields, found {lengths[row]}"
                )
        line = starts[right]
        blank = np.ones(right.size, dtype=bool)  # every column read is empty: a blank row
        text_ok = np.ones(right.size, dtype=bool)
        arrays = {}
        for name, position in zip(columns, positions, strict=True):
            values = list(map(itemgetter(position), fitting))
            try:
                arrays[name] = self.pa.array(values, type=self.pa.string())
            except UnicodeEncodeError:  # bytes that were not UTF-8, escaped as surrogates
                valid = np.fromiter(map(_valid_text, values), dtype=bool, count=len(values))
                arrays[name] = self.pa.array(
                    [value if ok else "" for value, ok in zip(values, valid, strict=True)],
                    type=self.pa.string(),
                )
                for row in np.flatnonzero(~valid & text_ok):
                    self.problems.note(
                        int(line[row]), f"{name} is not UTF-8 text; save the file as UTF-8"
                    )
                text_ok &= valid
            blank &= is_empty(arrays[name])
        blank &= text_ok
        self.rows_read += right.size - int(np.count_nonzero(blank))
        usable = text_ok & ~blank
        if usable.all():
            return Chunk(line, arrays)
        keep = np.flatnonzero(usable)
        return Chunk(line[keep], {name: take(array, keep) for name, array in arrays.items()})


def _breaks(text: str) -> int:
    """Line breaks in a field: ``\\r\\n``, a lone ``\\r`` and a lone ``\\n`` count one each."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _valid_text(text: str) -> bool:
    """Whether ``text`` came from valid UTF-8 (no byte escaped as a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def take(values: Any, rows: np.ndarray) -> Any:
    """The cells ``rows`` (positions) of a pyarrow array."""
    if rows.size == len(values):
        return values  # every row, in order (positions ascend and are distinct)
    pa = require("pyarrow", "replay", "mqlsim replay")
    return values.take(pa.array(rows, type=pa.int64()))


def is_empty(values: Any) -> np.ndarray:
    """Which cells of a string array are empty."""
    pc = require("pyarrow.compute", "replay", "mqlsim replay")
    return np.asarray(pc.equal(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False))


def codes(values: Any, vocabulary: dict[str, int], empty: int, unknown: int) -> np.ndarray:
    """Each cell's code in ``vocabulary``: ``empty`` for "", ``unknown`` outside it (only the
    distinct values of the array are looked up)."""
    encoded = values.dictionary_encode()
    table = np.array(
        [
            empty if not value else vocabulary.get(value, unknown)
            for value in encoded.dictionary.to_pylist()
        ]
        or [empty],
        dtype=np.int64,
    )
    return table[encoded.indices.to_numpy(zero_copy_only=False)]


class Interner:
    """Numbers distinct strings in order of first appearance (lead ids, sources, segments)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.index)

    @property
    def names(self) -> list[str]:
        """The strings, by number."""
        return list(self.index)

    def numbers(self, values: Any, empty: int | None = None) -> np.ndarray:
        """Each cell's number (new values get the next ones, in order of first appearance);
        ``empty`` for "" if given. ``values`` is a pyarrow string array."""
        encoded = values.dictionary_encode()
        index = self.index
        distinct = [
            empty if empty is not None and not value else index.setdefault(value, len(index))
            for value in encoded.dictionary.to_pylist()
        ]
        table = np.array(distinct or [0], dtype=np.int64)
        return table[encoded.indices.to_numpy(zero_copy_only=False)]


def parse_timestamps(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 strings (a pyarrow string array, or a list) to nanoseconds since 1970 UTC
    (:data:`NO_TIME` where not), and which parsed (docs/replay.md, "Timestamps and time
    zones").

    Syntax and the year range are checked by pattern first; the few strings that match but
    still fail (30 February) are found by bisection.
    """
    pa = require("pyarrow", "replay", "mqlsim replay")
    pc = require("pyarrow.compute", "replay", "mqlsim replay")
    array = strings if isinstance(strings, pa.Array) else pa.array(strings, type=pa.string())
    ns = np.full(len(array), NO_TIME, dtype=np.int64)
    ok = np.zeros(len(array), dtype=bool)
    for pattern, kind in (
        (_NAIVE_TIMESTAMP, pa.timestamp("ns")),
        (_ZONED_TIMESTAMP, pa.timestamp("ns", tz="UTC")),
    ):
        rows = np.flatnonzero(pc.match_substring_regex(array, pattern).to_numpy(False))
        if rows.size:
            values, parsed = _cast_each(array.take(pa.array(rows)), kind)
            ns[rows[parsed]], ok[rows] = values[parsed], parsed
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


def timestamp_problem(name: str, value: str) -> str:
    """Why ``value`` of column ``name`` is not a timestamp, for a person."""
    year = _ANY_YEAR.match(value)
    if year and not YEARS[0] <= int(year.group(1)) <= YEARS[1]:
        return (
            f"{name} {value!r}: year {year.group(1)} is outside {YEARS[0]} to {YEARS[1]}"
            " (a typo or an unset date?)"
        )
    return f"{name} {value!r} is not an ISO-8601 date and time (e.g. 2024-03-01T14:30:00Z)"


def parse_numbers(strings: Any) -> tuple[np.ndarray, np.ndarray]:
    """Decimal numbers of a pyarrow string array (``nan`` for an empty cell), and which cells
    are empty or finite numbers: ``1.5``, ``-2``, ``3e4``, with spaces around; not ``inf``,
    ``nan``, ``1,5``, ``0x10`` or ``1e999``."""
    pa = require("pyarrow", "replay", "mqlsim replay")
    pc = require("pyarrow.compute", "replay", "mqlsim replay")
    trimmed = pc.utf8_trim_whitespace(strings)
    values = np.full(len(strings), np.nan)
    empty = is_empty(trimmed)
    number = np.asarray(
        pc.match_substring_regex(trimmed, _NUMBER).to_numpy(zero_copy_only=False), dtype=bool
    )
    rows = np.flatnonzero(number)
    if rows.size:
        parsed = pc.cast(trimmed.take(pa.array(rows)), pa.float64()).to_numpy(zero_copy_only=False)
        finite = np.isfinite(parsed)
        values[rows[finite]] = parsed[finite]
        number[rows[~finite]] = False
    return values, empty | number


_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def one_line(text: str) -> str:
    """``text`` with control characters (line breaks, escapes) written as escape sequences, so
    that a message quoting a file's content stays one line a terminal prints as it is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def columns_found(header: Sequence[str], limit: int = 200) -> str:
    """A header's column names for an error line: printable, cut to about ``limit`` characters."""
    text = one_line(", ".join(header))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: str, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters for an error line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
