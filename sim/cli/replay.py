"""`mqlsim replay EVENTS.csv --policy SCENARIO`: backtest a policy on a recorded log."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli.options import EXIT_OK, add_plugin_option, add_set_option
from mqlsim.cli.terminal import error_lines, write
from mqlsim.core.atomic import write_together
from mqlsim.core.errors import InputError
from mqlsim.experiments.replay import lead_rows, summary
from mqlsim.render.replay import CSV_FILE, FORMATS, JSON_FILE, to_csv, to_json, to_table, warning
from mqlsim.render.tables import Document


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add ``mqlsim replay`` (it loads only a scenario's policy, so it takes ``--set`` alone)."""
    del scenario_options  # --replications and --seed mean nothing to a replay
    parser = commands.add_parser(
        "replay",
        help="backtest a scenario's policy on a recorded activity log",
        description=(
            "Run a scenario's MQL policy over a recorded activity log (CSV with columns "
            "lead_id,timestamp,activity and optional value and fit columns); print one row "
            "per lead and a summary. See docs/replay.md."
        ),
    )
    parser.add_argument("events", metavar="EVENTS.csv", help="recorded activity log")
    parser.add_argument(
        "--policy", required=True, metavar="SCENARIO", help="scenario TOML whose policy to run"
    )
    add_set_option(parser)
    add_plugin_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help=f"write {CSV_FILE} and {JSON_FILE}")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) on any bad row or unknown fit value instead of skipping",
    )
    parser.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    result = api.replay(
        args.events,
        args.policy,
        overrides=args.sets,
        strict=args.strict,
        allow_plugins=args.allow_plugins,
    )
    head, rows = summary(result), lead_rows(result)
    renderers: dict[str, Callable[[], Document | str]] = {
        "csv": lambda: to_csv(rows),
        "json": lambda: to_json(head, rows),
        "table": lambda: to_table(head, rows),
    }
    needed = {args.format} | ({"csv", "json"} if args.out is not None else set())
    texts = {fmt: renderers[fmt]() for fmt in needed}
    if args.out is not None:
        files = {CSV_FILE: texts["csv"], JSON_FILE: texts["json"]}
        try:
            write_together(args.out, {name: str(text).encode() for name, text in files.items()})
        except OSError as error:
            raise InputError(f"--out {args.out}: cannot write: {error.strerror or error}") from None
    if result.file.problem_count:
        error_lines([warning(result.file)], prefix="warning")
    write(texts[args.format])
    return EXIT_OK
