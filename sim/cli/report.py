"""`mqlsim report SCENARIO... --out report.html`: one self-contained HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_OK, add_by_option, execution_options, progress_bar
from mqlsim.cli.terminal import write


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `report` to the `mqlsim` command line."""
    report = commands.add_parser(
        "report",
        parents=[scenario_options],
        help=COMMANDS["report"].help,
        description=(
            "Run one or more scenarios and write one HTML file that works offline: key numbers"
            " with 95 % intervals side by side, figures, each scenario's settings and the"
            " model's assumptions. With --sweep, a slider over the grid shows each point's"
            " numbers and highlights it on the trade-off curve."
        ),
    )
    report.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario TOML files")
    report.add_argument(
        "--sweep",
        metavar="KEY=START:STOP:STEP|KEY=V1,V2,...",
        help="one key to sweep, as in `mqlsim sweep --param` (STOP included when on the grid)",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("report.html"),
        metavar="FILE",
        help="the HTML file to write (./report.html)",
    )
    add_by_option(report)
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    options = execution_options(args)
    with progress_bar() as progress:
        api.report(
            args.scenarios,
            sweep=args.sweep,
            by=args.by,
            out=args.out,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            allow_plugins=args.allow_plugins,
            **options,
        )
    write(f"wrote {args.out}\n")
    return EXIT_OK
