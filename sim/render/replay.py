"""A backtest as a table, ``replay.csv`` and ``replay.json`` (`mqlsim replay`, docs/replay.md).

JSON is RFC 8259: a number that is undefined (a precision without MQLs) is ``null``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from mqlsim.experiments.backtest import (
    LogComparison,
    OutcomeReport,
    Replay,
    SegmentRow,
    StageResult,
    Worked,
)
from mqlsim.experiments.replay import EventFile, summary
from mqlsim.experiments.tabular import Problems, one_line
from mqlsim.render.comparison import GATE_RULE, gate_line, metric_row
from mqlsim.render.tables import Document, Style, Table

FORMATS: tuple[str, ...] = ("table", "json", "csv")
CSV_FILE = "replay.csv"
JSON_FILE = "replay.json"
#: Leads shown by ``--format table``, and rows of a segment's table.
TABLE_ROWS = 20
SEGMENT_ROWS = 15
ROW_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "mql",
    "mql_at",
    "time_to_mql_days",
    "grade",
    "rule",
    "reason",
)
BIAS_UNKNOWN = (
    "Caveat: leads sales never worked never converted, whatever their promise; the outcomes do"
    " not say which leads were worked (no MQL date column), so a policy that flags leads the"
    " old one did not looks worse than it is: precision is a lower bound."
)
COMPARISON_READING = (
    "B − A with its 95 % interval from a bootstrap over leads; shares in %, their differences"
    " in percentage points; n = leads."
)


def _number(value: float) -> float | None:
    """JSON has no nan or infinity: such a value becomes ``null``."""
    return value if math.isfinite(value) else None


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.1f} %"


def _times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


# --- CSV ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The per-lead rows as CSV: yes/no for flags; empty cells where a value is undefined."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(rows[0]) if rows else list(ROW_COLUMNS)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
    return buffer.getvalue()


# --- JSON -----------------------------------------------------------------------------------


def _stage_json(stage: StageResult) -> dict[str, Any]:
    return {
        "stage": stage.stage,
        "converters": stage.converters,
        "base_rate": _number(stage.base_rate),
        "flagged": stage.flagged,
        "precision": _number(stage.precision),
        "recall": _number(stage.recall),
        "lift": _number(stage.lift),
        "flagged_before_converting": stage.flagged_before,
        "flagged_after_converting": stage.flagged_after,
        "lead_days_median": _number(stage.lead_days_median),
    }


def _segment_json(row: SegmentRow) -> dict[str, Any]:
    return {
        "value": row.value,
        "leads": row.leads,
        "converters": row.converters,
        "base_rate": _number(row.base_rate),
        "mqls": row.mqls,
        "flagged": row.flagged,
        "precision": _number(row.precision),
        "recall": _number(row.recall),
        "lift": _number(row.lift),
    }


def _worked_json(worked: Worked) -> dict[str, Any]:
    if not worked.known:
        return {"known": False}
    return {
        "known": True,
        "worked": worked.worked,
        "worked_converted": worked.worked_converted,
        "precision_worked": _number(worked.precision_worked),
        "never_worked": worked.never_worked,
    }


def report_json(report: OutcomeReport, outcome_sources: tuple[str, ...]) -> dict[str, Any]:
    """One policy's outcome report as JSON data."""
    return {
        "outcomes_from": list(outcome_sources),
        "converted_stage": report.converted_stage,
        "stages": [_stage_json(stage) for stage in report.stages],
        "worked_by_sales": _worked_json(report.worked),
        "segments": {
            name: [_segment_json(row) for row in rows] for name, rows in report.segments.items()
        },
    }


def comparison_json(comparison: LogComparison) -> dict[str, Any]:
    """The comparison of two policies on one log as JSON data."""
    return {
        "seed": comparison.seed,
        "resamples": comparison.resamples,
        "overlap": [
            {
                "group": group.group,
                "leads": group.leads,
                "converted": group.converted,
                "never_worked": group.never_worked,
            }
            for group in comparison.overlap
        ],
        "metrics": {
            name: {
                "a": _number(metric.a_mean),
                "b": _number(metric.b_mean),
                "difference": _number(metric.difference),
                "ci_low": _number(metric.ci_low),
                "ci_high": _number(metric.ci_high),
                "relative_change": _number(metric.relative),
                "relative_ci_low": _number(metric.relative_low),
                "relative_ci_high": _number(metric.relative_high),
                "significant": metric.significant,
                "mark": metric.mark,
            }
            for name, metric in comparison.metrics.items()
        },
        "gates": [
            {"expression": gate.gate.expression, "passed": gate.passed, "reason": gate.reason}
            for gate in comparison.gates
        ],
        "passed": all(gate.passed for gate in comparison.gates),
    }


def document_json(result: Replay) -> dict[str, Any]:
    """Everything `mqlsim replay` reports, as the data of ``replay.json`` (without leads)."""
    outcomes = result.file.outcomes
    sources = outcomes.sources if outcomes is not None else ()
    data: dict[str, Any] = {
        "summary": summary(result.a),
        "outcomes": None if result.report is None else report_json(result.report, sources),
    }
    if result.b is not None:
        assert result.comparison is not None
        b_summary = summary(result.b)
        data["b"] = {
            key: b_summary[key]
            for key in (
                "scenario",
                "policy_kind",
                "mqls",
                "mql_rate",
                "not_evaluated_without_times",
                "policy_sources_not_in_log",
            )
        }
        data["b"]["outcomes"] = (
            None if result.b_report is None else report_json(result.b_report, sources)
        )
        data["against"] = comparison_json(result.comparison)
    return data


def to_json(result: Replay, rows: list[dict[str, Any]]) -> str:
    """``replay.json``: the report indented, then one lead per line.

    Leads are encoded without indentation, which keeps the fast C encoder (indenting a large
    list takes json's pure-Python path, several times slower).
    """
    head = json.dumps(document_json(result), indent=2, allow_nan=False)
    leads = ",\n    ".join(json.dumps(row, allow_nan=False) for row in rows)
    return f'{head[:-2]},\n  "leads": [\n    {leads}\n  ]\n}}\n'


# --- the table ------------------------------------------------------------------------------


def _summary_lines(head: dict[str, Any]) -> list[tuple[str, str]]:
    mean, median = head["time_to_mql_days_mean"], head["time_to_mql_days_median"]
    waits = "n/a" if mean is None else f"mean {mean:.2f}, median {median:.2f}"
    if head["first_event"] is None:
        span = "a lead snapshot: no times"
    else:
        span = f"{head['first_event']} to {head['last_event']}"
    lines = [
        ("events", f"{head['events_file']} ({span})"),
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
    ignored = sum(head["ignored_activities"].values())
    if ignored:
        lines.append(("ignored", f"{ignored:,} rows of activities the mapping drops"))
    for part in head["not_evaluated_without_times"]:
        lines.append(("not evaluated", part))
    for note in head["notes"]:
        lines.append(("note", note))
    return lines


def _facts(lines: list[tuple[str, str]]) -> list[str]:
    width = max(len(name) for name, _ in lines)
    return [f"{name:<{width}}  {value}" for name, value in lines]


def _stages_table(report: OutcomeReport) -> Table:
    headings = (
        "stage", "converters", "base rate", "flagged", "precision", "recall", "lift",
        "flagged before", "after", "median lead (days)",
    )  # fmt: skip
    rows = [
        (
            stage.stage,
            f"{stage.converters:,}",
            _share(stage.base_rate),
            f"{stage.flagged:,}",
            _share(stage.precision),
            _share(stage.recall),
            _times(stage.lift),
            "n/a" if stage.flagged_before is None else f"{stage.flagged_before:,}",
            "n/a" if stage.flagged_after is None else f"{stage.flagged_after:,}",
            "n/a" if math.isnan(stage.lead_days_median) else f"{stage.lead_days_median:.1f}",
        )
        for stage in report.stages
    ]
    return Table.of(headings, rows, left=("stage",))


def _segment_table(name: str, rows: tuple[SegmentRow, ...]) -> Table:
    headings = (name, "leads", "converters", "base rate", "MQLs", "precision", "recall", "lift")
    shown = [
        (
            row.value,
            f"{row.leads:,}",
            f"{row.converters:,}",
            _share(row.base_rate),
            f"{row.mqls:,}",
            _share(row.precision),
            _share(row.recall),
            _times(row.lift),
        )
        for row in rows[:SEGMENT_ROWS]
    ]
    return Table.of(headings, shown, left=(name,))


def bias_line(report: OutcomeReport) -> str:
    """The caveat every analyst must read, with this backtest's numbers where known."""
    worked = report.worked
    if not worked.known:
        return BIAS_UNKNOWN
    return (
        f"Caveat: leads sales never worked never converted. Of the policy's {report.mqls:,} MQLs,"
        f" {worked.worked:,} were worked by sales then (precision among them"
        f" {_share(worked.precision_worked)}); {worked.never_worked:,} never were: their outcome"
        " is unknown and counts as not converted above, so precision is a lower bound."
    )


def _report_blocks(report: OutcomeReport, sources: tuple[str, ...]) -> list[str | Table]:
    blocks: list[str | Table] = [
        "",
        f"Outcomes from {', '.join(sources)}; converted = {report.converted_stage}.",
        "Precision: share of the MQLs that converted; recall: share of converters flagged;"
        " lift: precision over the base rate of all leads.",
        _stages_table(report),
        bias_line(report),
    ]
    for name, rows in report.segments.items():
        more = len(rows) - SEGMENT_ROWS
        blocks += [
            "",
            f"By {name} (converted = {report.converted_stage}):",
            _segment_table(name, rows),
        ]
        if more > 0:
            blocks.append(f"... and {more:,} more values (--format json for all)")
    return blocks


def _comparison_blocks(result: Replay) -> tuple[list[str | Table], dict[int, Style]]:
    comparison = result.comparison
    assert comparison is not None and result.b is not None
    stages = list(comparison.overlap[0].converted)
    worked_known = comparison.overlap[0].never_worked is not None
    headings = ("leads flagged by", "leads", *stages, *(["never worked"] if worked_known else []))
    rows = [
        (
            group.group,
            f"{group.leads:,}",
            *(f"{group.converted[stage]:,}" for stage in stages),
            *([f"{group.never_worked:,}"] if group.never_worked is not None else []),
        )
        for group in comparison.overlap
    ]
    unknown = [
        f"{group.never_worked:,} of the {group.leads:,} leads {group.group} flags"
        for group in comparison.overlap
        if group.group.startswith("only") and group.never_worked
    ]
    metrics = list(comparison.metrics.values())
    metric_table = Table.of(
        ("metric", "A", "B", "B − A", "95 % CI", "change", "mark", "n", "unit"),
        [metric_row(metric) for metric in metrics],
        left=("metric", "mark", "unit"),
    )
    blocks: list[str | Table] = [
        "",
        f"Against B: {result.b.scenario_name} ({result.b.policy_kind}):"
        f" A flags {int(result.a.mql.sum()):,} leads, B {int(result.b.mql.sum()):,}.",
        Table.of(headings, rows, left=("leads flagged by",)),
        *(
            [
                f"Caveat: {' and '.join(unknown)} were never worked by sales: their outcome is"
                " unknown and counts as not converted, so the conversion numbers of the policy"
                " that flags them are lower bounds."
            ]
            if unknown
            else []
        ),
        "",
        f"{COMPARISON_READING} {comparison.resamples:,} resamples from seed {comparison.seed}.",
        metric_table,
    ]
    styles: dict[int, Style] = {}
    if comparison.gates:
        blocks += ["", f"Gates: {GATE_RULE}"]
        for gate in comparison.gates:
            styles[len(blocks)] = "good" if gate.passed else "strong"
            blocks.append(f"  {gate_line(gate)}")
    return blocks, styles


def _lead_cells(
    row: dict[str, Any], against: bool, converted: str | None, timed: bool
) -> tuple[str, ...]:
    wait = row["time_to_mql_days"]
    flags: tuple[str, ...] = ("yes" if row["mql"] else "no",)
    if against:
        flags += ("yes" if row["b_mql"] else "no",)
    if converted is not None:
        flags += ("yes" if row[f"reached_{converted}"] else "no",)
    when = (row["mql_at"] or "", "" if wait is None else f"{wait:.2f}") if timed else ()
    return (one_line(row["lead_id"]), *flags, *when, row["grade"], row["reason"])


def to_table(result: Replay, rows: list[dict[str, Any]]) -> Document:
    """The summary, the outcomes and comparison when there are any, the first leads."""
    head = summary(result.a)
    blocks: list[str | Table] = list(_facts(_summary_lines(head)))
    styles: dict[int, Style] = {}
    if head["policy_sources_not_in_log"]:
        names = ", ".join(repr(name) for name in head["policy_sources_not_in_log"])
        blocks.append(f"The policy gives points to sources no lead of the log has: {names}.")
    if result.report is not None:
        outcomes = result.file.outcomes
        assert outcomes is not None
        blocks += _report_blocks(result.report, outcomes.sources)
    if result.comparison is not None:
        compared, compared_styles = _comparison_blocks(result)
        styles |= {index + len(blocks): style for index, style in compared_styles.items()}
        blocks += compared
    against = result.b is not None
    converted = result.report.converted_stage if result.report is not None else None
    headings: tuple[str, ...] = ("lead_id", *(("A", "B") if against else ("MQL",)))
    headings += (converted,) if converted is not None else ()
    timed = result.file.timed
    headings += ("when (UTC)", "days") if timed else ()
    headings += ("grade", "reason" + (" (A)" if against else ""))
    shown = [_lead_cells(row, against, converted, timed) for row in rows[:TABLE_ROWS]]
    more = len(rows) - len(shown)
    blocks += ["", Table.of(headings, shown, left=headings)]
    if more:
        blocks.append(f"... and {more:,} more leads (--format csv or --out for all)")
    return Document(tuple(blocks), styles)


def warning(file: EventFile) -> str:
    """One line for stderr when problems were skipped over instead of failing the run."""
    done = []
    if file.rows_skipped:
        done.append(f"skipped {file.rows_skipped:,} bad row{'s' * (file.rows_skipped != 1)}")
    if file.fit_values_ignored:
        plural = "s" * (file.fit_values_ignored != 1)
        done.append(f"treated {file.fit_values_ignored:,} unknown fit value{plural} as missing")
    if file.values_ignored:
        plural = "s" * (file.values_ignored != 1)
        done.append(f"treated {file.values_ignored:,} unreadable value{plural} as missing")
    if not done:
        done.append(f"found {file.problem_count:,} problem{'s' * (file.problem_count != 1)}")
    lines = ", ".join(str(line) for line, _ in file.problems[:5])
    more = ", ..." if file.problem_count > 5 else ""
    return (
        f"{file.label}: {' and '.join(done)} (line{'s' * (file.problem_count != 1)} {lines}{more});"
        " see the summary's problems, or use --strict to stop on them"
    )


def outcome_warning(problems: Problems) -> str:
    """One line for stderr about the problems of an outcomes file."""
    count = problems.count
    lines = ", ".join(str(line) for line, _ in problems.shown[:5])
    more = ", ..." if count > 5 else ""
    return (
        f"{problems.label}: {count:,} problem{'s' * (count != 1)} (line{'s' * (count != 1)}"
        f" {lines}{more}); see the summary's outcome_problems, or use --strict to stop on them"
    )
