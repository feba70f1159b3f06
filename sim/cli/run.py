"""`mqlsim run`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import (
    EXIT_OK,
    add_by_option,
    check_out_dir,
    execution_options,
    progress_bar,
)
from mqlsim.cli.terminal import write
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import parse_dimensions
from mqlsim.render.output import FORMATS, render, write_outputs


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `run` to the `mqlsim` command line."""
    run = commands.add_parser(
        "run",
        parents=[scenario_options],
        help=COMMANDS["run"].help,
        description="Run a scenario's replications and print each metric's mean and 95 % CI.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    run.add_argument(
        "--out", type=Path, metavar="DIR", help="write results.json and replications.csv here"
    )
    run.add_argument("--format", choices=FORMATS, default="table", help="output format")
    add_by_option(run)
    run.add_argument(
        "--plots",
        action="store_true",
        help="also write the figures (PNG and SVG, see docs/figures.md) beside results.json;"
        " needs --out",
    )
    run.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="also write replication 0 as a CRM would export it: DIR/events.csv (the activity"
        " log mqlsim replay reads) and DIR/lifecycle.csv (each lead's stage dates); see"
        " docs/replay.md",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.plots and args.out is None:
        raise InputError("--plots: give --out DIR too; the figures are written beside results.json")
    options = execution_options(args)
    by = parse_dimensions(args.by)
    if args.out is not None:
        check_out_dir(args.out)
    if args.record is not None:
        check_out_dir(args.record, "--record")
    with progress_bar() as progress:
        result = api.run(
            args.scenario,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            allow_plugins=args.allow_plugins,
            **options,
        )
    if args.out is not None:
        figures = None
        if args.plots:
            from mqlsim.render.figures import RunData, figure_files  # loads matplotlib

            figures = figure_files(RunData.from_experiment(result))
        try:
            write_outputs(args.out, result, figures, by)
        except OSError as error:
            raise InputError(
                f"--out {args.out}: cannot write results: {error.strerror or error}"
            ) from error
    if args.record is not None:
        api.record(result.scenario, out=args.record, allow_plugins=args.allow_plugins)
    write(render(result, args.format, by))
    return EXIT_OK
