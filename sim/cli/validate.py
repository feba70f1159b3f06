"""`mqlsim validate SCENARIO... [--set K=V]...`: check scenario files without running them.

It reads each file as :func:`mqlsim.api.validate` does (``load_scenario`` with no plug-in
imported), through the scenario layer directly: the API module loads every layer of the
simulator, which checking a file does not need, and this command is the one people run
after each edit.
"""

from __future__ import annotations

import argparse
from typing import Any

from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_BAD_INPUT, EXIT_OK, add_set_option
from mqlsim.cli.terminal import error_lines, write
from mqlsim.core.errors import InputError
from mqlsim.policies.plugins import plugin_sections
from mqlsim.scenario.loading import load_scenario


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `validate` (it runs nothing: only ``--set`` applies)."""
    del scenario_options  # replications, workers and the cache mean nothing here
    validate = commands.add_parser(
        "validate",
        help=COMMANDS["validate"].help,
        description=(
            "Check scenario files, each with the --set overrides applied as `run` would; print"
            " OK FILE for each valid one, exit 2 if any is not. Imports no code, so it is safe"
            " on files you do not trust: a plug-in's params are checked when it runs."
        ),
    )
    validate.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario TOML files")
    add_set_option(validate)
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    exit_code = EXIT_OK
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, args.sets, plugins="none")
        except InputError as error:
            error_lines(error.lines)
            exit_code = EXIT_BAD_INPUT
            continue
        kinds = list(dict.fromkeys(section.kind for section in plugin_sections(scenario)))
        named = ", ".join(repr(kind) for kind in kinds)
        note = f" (plug-in {named} not imported: its params are checked when it runs)"
        write(f"OK {path}{note if kinds else ''}\n")
    return exit_code
