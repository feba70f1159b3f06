"""`mqlsim calibrate`: fit a scenario to a company's own funnel; fit table, fitted scenario."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_OK, execution_options, progress_bar
from mqlsim.cli.terminal import write
from mqlsim.core.errors import InputError
from mqlsim.experiments.calibrate import DEFAULT_BUDGET, PARAMETERS
from mqlsim.render.calibration import render_calibration


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `calibrate` to the `mqlsim` command line."""
    calibrate = commands.add_parser(
        "calibrate",
        parents=[scenario_options],
        help=COMMANDS["calibrate"].help,
        description=(
            "Fit the hidden parameters of BASE (lead arrivals, engagement, buyers, sales"
            " acceptance, win rates...) to the targets a company observes, by simulation on"
            " common random numbers; what the company controls (team, hours, policy) stays as"
            " BASE and --set give it. Writes a scenario that extends BASE, prints target vs"
            " simulated on a seed the fit did not use. See docs/calibration.md."
        ),
    )
    calibrate.add_argument("scenario", metavar="BASE", help="base scenario TOML file")
    given = calibrate.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--targets",
        metavar="T.toml",
        help="targets file: [targets] with metric names, e.g. lead_to_mql_rate = 0.18",
    )
    given.add_argument(
        "--from-export",
        action="append",
        metavar="EXPORT.csv",
        help="compute the targets from a CRM lifecycle export (one row per lead; repeat for"
        " files joined on the lead id, such as contacts and deals); they are written beside"
        " --out as FITTED.targets.toml",
    )
    export = calibrate.add_argument_group("reading an export (with --from-export)")
    export.add_argument(
        "--map",
        metavar="MAPPING.toml",
        help="the export's column names, in a mapping file's [outcomes] table (default:"
        " HubSpot's, see docs/replay.md)",
    )
    export.add_argument(
        "--day-first",
        action="store_true",
        help="read dates written day first (31-12-2017); ISO dates read as always",
    )
    export.add_argument(
        "--since", metavar="DATE", help="first cohort day (default: the export's own window)"
    )
    export.add_argument(
        "--until", metavar="DATE", help="cohorts before this day (default: the export's own)"
    )
    export.add_argument(
        "--period-days",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="counts are targets per this many days (default 30)",
    )
    export.add_argument(
        "--strict", action="store_true", help="refuse an export with any bad row (exit 2)"
    )
    calibrate.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FITTED.toml",
        help="write the fitted scenario here (it extends BASE)",
    )
    calibrate.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        metavar="N",
        help=f"most replications to simulate, the check run included (default {DEFAULT_BUDGET})",
    )
    calibrate.add_argument(
        "--fit",
        dest="parameters",
        action="append",
        metavar="PARAMETER",
        help=f"fit this parameter instead of those the targets select (repeatable): one of"
        f" {', '.join(PARAMETERS)}",
    )
    calibrate.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    options = execution_options(args)
    if args.budget < 1:
        raise InputError(f"--budget {args.budget}: expected a whole number of replications >= 1")
    if args.out.is_dir():
        raise InputError(f"--out {args.out}: is a folder; expected a file name such as fitted.toml")
    with progress_bar("calibration replications") as progress:
        calibration = api.calibrate(
            args.scenario,
            args.targets,
            from_export=args.from_export,
            mapping=args.map,
            day_first=args.day_first,
            since=args.since,
            until=args.until,
            period_days=args.period_days,
            strict=args.strict,
            out=args.out,
            parameters=args.parameters,
            budget=args.budget,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            **options,
        )
    write(render_calibration(calibration, str(args.out)))
    return EXIT_OK
