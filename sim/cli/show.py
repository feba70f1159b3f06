"""`mqlsim show SCENARIO [--set K=V]...`: the resolved scenario as TOML, each value's source."""

from __future__ import annotations

import argparse
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_OK, add_set_option


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `show` (it runs nothing: only ``--set`` applies)."""
    del scenario_options  # replications, workers and the cache mean nothing here
    parser = commands.add_parser(
        "show",
        help=COMMANDS["show"].help,
        description=(
            "Print the scenario as it would run, after extends and every --set, with every"
            " default written out, as TOML; after each value a comment names its source: the"
            " file that set it last, --set, or default. The output loads back as a scenario."
        ),
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    add_set_option(parser)
    parser.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    print(api.show(args.scenario, overrides=args.sets), end="")
    return EXIT_OK
