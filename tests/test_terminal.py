"""One table style on a terminal, fitted to its width (issue 17, point 11)."""

from __future__ import annotations

import re

import pytest

from mqlsim.cli import terminal
from mqlsim.render.tables import Document, Table

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def wide_table(key_columns: int = 1) -> Table:
    """A sweep-like table: 2 key columns and 9 columns of ``mean ± half-width`` cells."""
    columns = ("policy.kind", "sales.reps", *(f"metric_number_{i}" for i in range(9)))
    rows = [
        (
            kind,
            str(reps),
            *(f"{1234567.8 * (i + 1) + reps:,.1f} ± {98765.4 * i:,.1f}" for i in range(9)),
        )
        for kind, reps in (("score", 2), ("score", 3), ("trigger", 4), ("trigger", 5))
    ]
    return Table.of(columns, rows, key_columns=key_columns)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_a_wide_table_is_split_to_fit_and_no_cell_wraps(width: int) -> None:
    table = wide_table(key_columns=2)
    text = ANSI.sub("", terminal.rich_text(Document(("title", table)), width=width))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for row in table.rows:
        for cell in row[2:]:
            assert sum(cell in line for line in lines) == 1  # whole, once
    # Every part repeats the key columns, so each line of numbers says which row it is.
    parts = [line for line in lines if "policy.kind" in line]
    assert len(parts) >= (2 if width < 200 else 1)
    assert all("sales.reps" in line for line in parts)


def test_a_table_that_fits_is_one_table() -> None:
    table = Table.of(("metric", "mean"), [("leads", "1,234.5"), ("mqls", "234.5")])
    text = ANSI.sub("", terminal.rich_text(Document((table,)), width=120))
    assert text.count("metric") == 1 and "1,234.5" in text


def test_piped_output_is_plain_text() -> None:
    document = Document(("title", wide_table()))
    text = terminal.text(document, terminal=False)
    assert "\x1b" not in text and text == document.plain()
    assert len(text.splitlines()) == 2 + 4  # title, header, 4 rows: one line per row
