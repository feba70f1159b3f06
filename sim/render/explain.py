"""A simulated run's MQL reasons as aligned text or CSV (`mqlsim explain`)."""

from __future__ import annotations

import csv
import io

from mqlsim.experiments.explain import MqlReason
from mqlsim.render.tables import Document, Table

FORMATS: tuple[str, ...] = ("table", "csv")
COLUMNS = ("lead", "pass", "mql_day", "outcome", "reason")


def render_reasons(reasons: list[MqlReason], fmt: str) -> Document | str:
    """The episodes as CSV text, or as a table."""
    rows = [
        (str(r.lead), str(r.pass_index), f"{r.mql_day:.2f}", r.outcome, r.reason) for r in reasons
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "table":
        return Document((Table.of(COLUMNS, rows, left=COLUMNS),))
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
