"""What the command line prints: plain text for logs and pipes, rich tables on a terminal.

Every command renders through :func:`write`, so every table has one style: on a terminal a
rich table fitted to its width, and plain aligned text when stdout is a pipe or a file (no
control codes). A cell never wraps: a table wider than the terminal is shown as several tables
of the columns that fit, each repeating the columns that name a row (the metric, the sweep's
settings), as a wide spreadsheet is printed on several pages. Errors and warnings go to stderr,
one line each.

Text from the input (scenario names, file names, a replay log's lead ids) may hold control
characters; everything printed here goes through :func:`neutral` first, so such text shows as
escapes (``\x1b``) and cannot move the cursor, recolour, retitle or clear the terminal.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from mqlsim.render.tables import Document, Style, Table

if TYPE_CHECKING:  # rich is imported where a terminal is written to: plain output never needs it
    from rich.console import Console
    from rich.table import Table as RichTable

_COLOURS: dict[Style, str] = {"good": "green", "bad": "red", "strong": "bold red", "": ""}
#: What a terminal acts on rather than shows: C0 controls but tab and newline, DEL, C1 controls
#: (CSI, OSC...), and the bidirectional marks and overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutral(text: str) -> str:
    """``text`` with each control character written as its Python escape (``\\x1b``)."""
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def _neutral_document(document: Document) -> Document:
    blocks = tuple(
        dataclasses.replace(
            block,
            columns=tuple(map(neutral, block.columns)),
            rows=tuple(tuple(map(neutral, row)) for row in block.rows),
        )
        if isinstance(block, Table)
        else neutral(block)
        for block in document.blocks
    )
    return Document(blocks, document.styles)


def _rich_table(table: Table, columns: Sequence[int]) -> RichTable:
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    rich = RichTable(box=box.SIMPLE_HEAD)
    for c in columns:
        rich.add_column(table.columns[c], justify=table.align[c], no_wrap=True)
    for r, row in enumerate(table.rows):
        rich.add_row(*(Text(row[c], style=_COLOURS[table.style(r, c)]) for c in columns))
    return rich


def _fitted(table: Table, console: Console) -> list[RichTable]:
    """``table`` as one rich table, or as several whose columns fit the console's width, each
    starting with the table's key columns."""
    keys = list(range(min(table.key_columns, len(table.columns))))
    parts: list[list[int]] = []
    current = list(keys)
    for column in range(len(keys), len(table.columns)):
        candidate = [*current, column]
        if len(current) > len(keys) and _width(table, candidate, console) > console.width:
            parts.append(current)
            candidate = [*keys, column]
        current = candidate
    parts.append(current)
    return [_rich_table(table, part) for part in parts]


def _width(table: Table, columns: Sequence[int], console: Console) -> int:
    wide = console.options.update_width(10**4)
    return console.measure(_rich_table(table, columns), options=wide).maximum


def rich_text(document: Document, width: int | None = None) -> str:
    """``document`` as a terminal shows it (colours and box lines), ``width`` columns wide."""
    from rich.console import Console
    from rich.text import Text

    console = Console(width=width, force_terminal=True)
    with console.capture() as capture:
        for index, block in enumerate(document.blocks):
            if isinstance(block, Table):
                for part in _fitted(block, console):
                    console.print(part)
            else:
                console.print(Text(block, style=_COLOURS[document.styles.get(index, "")]))
    return capture.get()


def text(rendered: Document | str, terminal: bool | None = None) -> str:
    """What :func:`write` prints for ``rendered``; ``terminal`` defaults to stdout's kind."""
    if isinstance(rendered, str):
        return neutral(rendered)
    if terminal is None:
        terminal = sys.stdout.isatty()
    document = _neutral_document(rendered)
    return rich_text(document) if terminal else document.plain()


def write(rendered: Document | str) -> None:
    """Print ``rendered`` on stdout (see the module docstring)."""
    sys.stdout.write(text(rendered))


def note(line: str) -> None:
    """Tell the user something on stderr (where files went), apart from the output."""
    print(line, file=sys.stderr)


def error_lines(lines: Iterable[str], prefix: str = "error") -> None:
    """Print ``mqlsim: error: LINE`` (or another ``prefix``) on stderr, one per line (a newline
    inside a line shows as ``\\n``)."""
    for line in lines:
        print(neutral(f"mqlsim: {prefix}: {line}").replace("\n", "\\n"), file=sys.stderr)
