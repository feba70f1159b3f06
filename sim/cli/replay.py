"""`mqlsim replay LOG --policy A [--against B]`: backtest policies on a recorded log.

Exit 0 when every gate passes (or there are none), 1 when one fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    add_plugin_option,
    add_set_option,
    check_out_dir,
)
from mqlsim.cli.terminal import error_lines, write
from mqlsim.core.atomic import write_together
from mqlsim.core.errors import InputError
from mqlsim.experiments.backtest import MAX_RESAMPLES, RESAMPLES
from mqlsim.experiments.lifecycle import OUTCOME_STAGES
from mqlsim.render.replay import (
    CSV_FILE,
    FORMATS,
    JSON_FILE,
    outcome_warning,
    to_csv,
    to_json,
    to_table,
    warning,
)
from mqlsim.render.tables import Document


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add ``mqlsim replay`` (it loads only scenarios' policies, so it takes ``--set`` alone)."""
    del scenario_options  # --replications and --workers mean nothing to a replay
    parser = commands.add_parser(
        "replay",
        help=COMMANDS["replay"].help,
        description=(
            "Run a scenario's MQL policy over a recorded activity log (CSV with columns "
            "lead_id,timestamp,activity and optional value, source and fit columns) or a lead "
            "snapshot; print one row per lead and a summary. With outcomes (--outcomes, or "
            "outcome columns or rows in the log): precision, recall and lift by stage and "
            "segment. With --against: the leads each policy flags, B − A with bootstrap "
            "intervals, and --fail-if gates (exit 1 when one fails). See docs/replay.md."
        ),
    )
    parser.add_argument("events", metavar="LOG.csv", help="recorded activity log or snapshot")
    parser.add_argument(
        "--policy", required=True, metavar="A.toml", help="scenario TOML whose policy to run"
    )
    parser.add_argument(
        "--against", metavar="B.toml", help="a second scenario whose policy to compare with A"
    )
    parser.add_argument(
        "--outcomes",
        type=Path,
        metavar="LIFECYCLE.csv",
        help="lifecycle export (one row per lead, stage dates) joined on lead id",
    )
    parser.add_argument(
        "--map",
        dest="mapping",
        type=Path,
        metavar="MAPPING.toml",
        help="the log's own column and activity names (docs/replay.md)",
    )
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="break the outcomes down by source, rule, grade, a fit attribute or any column of"
        " the log (repeatable; default: source and rule)",
    )
    parser.add_argument(
        "--converted",
        choices=OUTCOME_STAGES,
        help="the stage that counts as converted (default: the deepest the outcomes record)",
    )
    parser.add_argument(
        "--fail-if",
        dest="gates",
        action="append",
        default=[],
        metavar="EXPR",
        help="with --against: fail (exit 1) if METRIC OP VALUE[%%] holds, as in mqlsim compare"
        " (repeatable)",
    )
    parser.add_argument(
        "--seed", type=int, metavar="S", help="bootstrap seed (default: A's scenario.seed)"
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples of the leads (default {RESAMPLES:,}, at most {MAX_RESAMPLES:,})",
    )
    add_set_option(parser)
    add_plugin_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"write {CSV_FILE} and {JSON_FILE}")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) on any problem in the log or outcomes instead of skipping it",
    )
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    result = api.replay(
        args.events,
        args.policy,
        against=args.against,
        outcomes=args.outcomes,
        mapping=args.mapping,
        by=args.by,
        converted=args.converted,
        gates=args.gates,
        seed=args.seed,
        resamples=args.resamples,
        overrides=args.sets,
        strict=args.strict,
        allow_plugins=args.allow_plugins,
    )
    rows = result.to_records()
    renderers: dict[str, Callable[[], Document | str]] = {
        "csv": lambda: to_csv(rows),
        "json": lambda: to_json(result, rows),
        "table": lambda: to_table(result, rows),
    }
    needed = {args.format} | ({"csv", "json"} if args.out is not None else set())
    texts = {fmt: renderers[fmt]() for fmt in needed}
    if args.out is not None:
        files = {CSV_FILE: texts["csv"], JSON_FILE: texts["json"]}
        try:
            write_together(args.out, {name: str(text).encode() for name, text in files.items()})
        except OSError as error:
            raise InputError(f"--out {args.out}: cannot write: {error.strerror or error}") from None
    warnings = [warning(result.file)] if result.file.problem_count else []
    warnings += [outcome_warning(problems) for problems in result.file.outcome_problems]
    error_lines(warnings, prefix="warning")
    write(texts[args.format])
    error_lines(
        (f"{gate.gate.expression}: {gate.reason}" for gate in result.failed),
        prefix="gate failed",
    )
    return EXIT_OK if result.passed else EXIT_GATE_FAILED
