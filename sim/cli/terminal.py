"""What the command line prints: plain text for logs and pipes, rich tables on a terminal.

Every command renders through :func:`write`, so every table has one style: on a terminal a
rich table fitted to its width, and plain aligned text when stdout is a pipe or a file (no
control codes). A cell never wraps: a table wider than the terminal is shown as several tables
of the columns that fit, each repeating the columns that name a row (the metric, the sweep's
settings), as a wide spreadsheet is printed on several pages. Errors and warnings go to stderr,
one line each.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from mqlsim.render.tables import Document, Style, Table

_COLOURS: dict[Style, str] = {"good": "green", "bad": "red", "strong": "bold red", "": ""}


def _rich_table(table: Table, columns: Sequence[int]) -> RichTable:
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
        return rendered
    if terminal is None:
        terminal = sys.stdout.isatty()
    return rich_text(rendered) if terminal else rendered.plain()


def write(rendered: Document | str) -> None:
    """Print ``rendered`` on stdout (see the module docstring)."""
    sys.stdout.write(text(rendered))


def note(line: str) -> None:
    """Tell the user something on stderr (where files went), apart from the output."""
    print(line, file=sys.stderr)


def error_lines(lines: Iterable[str], prefix: str = "error") -> None:
    """Print ``mqlsim: error: LINE`` (or another ``prefix``) on stderr, one per line."""
    for line in lines:
        print(f"mqlsim: {prefix}: {line}", file=sys.stderr)
