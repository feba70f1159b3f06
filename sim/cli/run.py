"""`mqlsim run` and `mqlsim validate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_by_option,
    execution_options,
    progress_bar,
)
from mqlsim.cli.terminal import error_lines, write
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import parse_dimensions
from mqlsim.render.output import FORMATS, render_run, write_outputs


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `run` and `validate` to the `mqlsim` command line."""
    run = commands.add_parser(
        "run",
        parents=[scenario_options],
        help="run a scenario and print its metric table",
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
    run.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files; print OK FILE for each valid one, exit 2 if any is not.",
    )
    validate.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario TOML files")
    validate.set_defaults(handler=_validate)


def _run(args: argparse.Namespace) -> int:
    if args.plots and args.out is None:
        raise InputError("--plots: give --out DIR too; the figures are written beside results.json")
    options = execution_options(args)
    by = parse_dimensions(args.by)
    with progress_bar() as progress:
        result = api.run(
            args.scenario,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            **options,
        )
    if args.out is not None:
        try:
            write_outputs(args.out, result, by)
            if args.plots:
                from mqlsim.render.figures import RunData, write_figures  # loads matplotlib

                write_figures(args.out, RunData.from_experiment(result))
        except OSError as error:
            raise InputError(
                f"--out {args.out}: cannot write results: {error.strerror or error}"
            ) from error
    breakdowns = {dimension: result.segment_summaries(dimension) for dimension in by}
    write(render_run(result.summaries, args.format, result.scenario.scenario.name, breakdowns))
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    exit_code = EXIT_OK
    for path in args.scenarios:
        try:
            api.load(path)
        except InputError as error:
            error_lines(error.lines)
            exit_code = EXIT_BAD_INPUT
        else:
            print(f"OK {path}")
    return exit_code
