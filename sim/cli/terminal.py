"""What the command line prints: plain text for logs and pipes, rich tables on a terminal.

Every command renders through :func:`write`, so every table has one style: on a terminal a
rich table fitted to its width (numbers never wrap; a table that cannot fit is printed plain,
which wraps whole lines rather than cutting numbers), and plain aligned text when stdout is a
pipe or a file (no control codes). Errors and warnings go to stderr, one line each.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from mqlsim.render.tables import Document, Style, Table

_COLOURS: dict[Style, str] = {"good": "green", "bad": "red", "strong": "bold red", "": ""}


def _rich_table(table: Table) -> RichTable:
    rich = RichTable(box=box.SIMPLE_HEAD)
    for name, align in zip(table.columns, table.align, strict=True):
        rich.add_column(name, justify=align, no_wrap=align == "right", overflow="fold")
    for r, row in enumerate(table.rows):
        cells = [Text(cell, style=_COLOURS[table.style(r, c)]) for c, cell in enumerate(row)]
        rich.add_row(*cells)
    return rich


def rich_text(document: Document, width: int | None = None) -> str:
    """``document`` as a terminal shows it (colours and box lines), ``width`` columns wide."""
    console = Console(width=width, force_terminal=True)
    with console.capture() as capture:
        for index, block in enumerate(document.blocks):
            if isinstance(block, Table):
                rich = _rich_table(block)
                needed = console.measure(rich, options=console.options.update_width(10**4))
                if needed.minimum > console.width:
                    for line in block.plain_lines():
                        console.print(Text(line), soft_wrap=True)
                else:
                    console.print(rich)
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
