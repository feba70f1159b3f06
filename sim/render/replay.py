"""A replay as a table, ``replay.csv`` and ``replay.json`` (`mqlsim replay`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from mqlsim.experiments.replay import EventFile
from mqlsim.render.tables import Document, Table

FORMATS: tuple[str, ...] = ("table", "json", "csv")
CSV_FILE = "replay.csv"
JSON_FILE = "replay.json"
#: Leads shown by ``--format table``.
TABLE_ROWS = 20
ROW_COLUMNS: tuple[str, ...] = ("lead_id", "mql", "mql_at", "time_to_mql_days", "grade", "reason")


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


def to_table(head: dict[str, Any], rows: list[dict[str, Any]]) -> Document:
    """The summary and the first :data:`TABLE_ROWS` leads."""
    shown = [_table_cells(row) for row in rows[:TABLE_ROWS]]
    more = len(rows) - len(shown)
    headings = ("lead_id", "MQL", "when (UTC)", "days", "grade", "reason")
    width = max(len(name) for name, _ in _summary_lines(head))
    facts = [f"{name:<{width}}  {value}" for name, value in _summary_lines(head)]
    table = Table.of(headings, shown, left=headings)
    footer = [f"... and {more:,} more leads (--format csv or --out for all)"] if more else []
    return Document((*facts, "", table, *footer))


def warning(file: EventFile) -> str:
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
