"""`mqlsim sweep`: a grid of settings on common random numbers; table, files, trade-off plot."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_OK, check_out_dir, execution_options, progress_bar, status
from mqlsim.cli.terminal import note, write
from mqlsim.core.errors import InputError
from mqlsim.render.sweep import FILES, FORMATS, render_sweep, write_sweep


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `sweep` to the `mqlsim` command line."""
    sweep = commands.add_parser(
        "sweep",
        parents=[scenario_options],
        help=COMMANDS["sweep"].help,
        description=(
            "Run a grid of scenario keys on common random numbers (every point on the same seed"
            " and replications): any key, policy.kind and nurture.kind included, as many keys"
            " as you like; several SCENARIO files add a first axis, the file (to compare whole"
            " policies with their parameters). Print key metrics with 95 % intervals, mark the"
            " points whose MQL→SQL rate is in the healthy 20–40 % band, and write sweep.csv,"
            " sweep.json and trade-off plots (sweep.png, sweep.svg) under --out."
        ),
    )
    sweep.add_argument(
        "scenarios", nargs="+", metavar="SCENARIO", help="scenario TOML file(s); several: an axis"
    )
    sweep.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=START:STOP:STEP|KEY=V1,V2,...",
        help=(
            "a key to sweep: a range (STOP included when on the grid) or a list of values"
            " (repeatable: the full grid; needed unless several SCENARIO files are given)"
        ),
    )
    sweep.add_argument(
        "--objective",
        metavar="EXPR",
        help="name the best point by this expression over metrics, higher is better,"
        " e.g. 'revenue_won - 120 * sales_hours'",
    )
    sweep.add_argument(
        "--out", type=Path, default=Path("sweep"), metavar="DIR", help="output folder (./sweep)"
    )
    sweep.add_argument("--format", choices=FORMATS, default="table", help="output format")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    options = execution_options(args)
    check_out_dir(args.out)
    with progress_bar() as progress:
        sweep = api.sweep(
            args.scenarios,
            args.params,
            objective=args.objective,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            allow_plugins=args.allow_plugins,
            **options,
        )
    try:
        with status(f"drawing the trade-off figure and writing {args.out}{os.sep}"):
            write_sweep(args.out, sweep)
    except OSError as error:
        raise InputError(
            f"--out {args.out}: cannot write the sweep: {error.strerror or error}"
        ) from error
    write(render_sweep(sweep, args.format))
    note(f"Wrote {', '.join(FILES)} in {args.out}{os.sep}")
    return EXIT_OK
