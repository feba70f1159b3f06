"""Tables and text documents, in one shape for every command: plain text, Markdown, or a
terminal's rich table (drawn by :mod:`mqlsim.cli.terminal` from the same object).

A :class:`Table` holds cells already formatted as strings, each column's alignment, and an
optional style per cell (``"good"``, ``"bad"``, ``"strong"``) that only a terminal shows. A
:class:`Document` is text lines and tables in reading order. Plain text is for logs and pipes:
columns padded to their widest cell and joined by two spaces, lines right-stripped, no control
codes, so scripts and tests can read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Align = Literal["left", "right"]
Style = Literal["good", "bad", "strong", ""]


@dataclass(frozen=True)
class Table:
    """Formatted cells in rows under named columns."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[Align, ...]
    #: ``styles[r][c]``: how a terminal emphasises cell ``c`` of row ``r`` ("" for none).
    styles: tuple[tuple[Style, ...], ...] = ()
    #: Markdown alignment row, when it differs from ``align`` (e.g. centred marks).
    markdown_align: tuple[str, ...] = ()
    #: How many leading columns name a row (repeated when a terminal splits a wide table).
    key_columns: int = 1

    def __post_init__(self) -> None:
        width = len(self.columns)
        if len(self.align) != width or any(len(row) != width for row in self.rows):
            raise ValueError("every row and the alignments need one entry per column")

    @classmethod
    def of(
        cls,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        left: Sequence[str] = (),
        **options: object,
    ) -> Table:
        """A table whose columns named in ``left`` are left-aligned and the others right."""
        align: tuple[Align, ...] = tuple(
            "left" if column in left else "right" for column in columns
        )
        return cls(
            columns=tuple(columns),
            rows=tuple(tuple(row) for row in rows),
            align=align,
            **options,  # type: ignore[arg-type]
        )

    def style(self, row: int, column: int) -> Style:
        """The style of one cell ("" when none was given)."""
        if row < len(self.styles) and column < len(self.styles[row]):
            return self.styles[row][column]
        return ""

    def plain_lines(self) -> list[str]:
        """The header and the rows as aligned text (no title or caption)."""
        lines = [self.columns, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.columns))]
        return [
            "  ".join(
                cell.ljust(width) if align == "left" else cell.rjust(width)
                for cell, width, align in zip(line, widths, self.align, strict=True)
            ).rstrip()
            for line in lines
        ]

    def markdown_lines(self) -> list[str]:
        """A GitHub-flavoured Markdown table (no title or caption); ``|`` in cells escaped."""
        marks = self.markdown_align or tuple(
            ":--" if align == "left" else "--:" for align in self.align
        )

        def row(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

        return [row(self.columns), "|" + "|".join(marks) + "|", *map(row, self.rows)]


@dataclass(frozen=True)
class Document:
    """Text lines and tables in reading order; ``styles`` gives a line's terminal emphasis."""

    blocks: tuple[str | Table, ...]
    styles: dict[int, Style] = field(default_factory=dict)

    def plain(self) -> str:
        """Everything as plain text, ending with a newline."""
        lines: list[str] = []
        for block in self.blocks:
            lines.extend(block.plain_lines() if isinstance(block, Table) else [block])
        return "\n".join(lines) + "\n"
