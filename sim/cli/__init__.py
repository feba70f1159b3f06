"""The `mqlsim` command line (README.md, "Commands"): arguments in, one API call
(:mod:`mqlsim.api`), text out.

Bad input of any kind (a scenario file, a ``--set``, an unwritable ``--out``) is an
:class:`~mqlsim.core.errors.InputError`, printed as ``mqlsim: error: ...`` lines with exit code
2 and no traceback; warnings the library raises (:class:`~mqlsim.core.errors.MqlsimWarning`)
are printed as ``mqlsim: warning: ...`` lines. This package is the only place that parses
arguments or writes to the terminal; nothing else imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from mqlsim.cli.options import EXIT_BAD_INPUT, EXIT_INTERRUPTED, scenario_options
from mqlsim.cli.terminal import error_lines
from mqlsim.core.errors import InputError, Interrupted, MqlsimWarning


@dataclass(frozen=True)
class Command:
    """A command: the module that adds it and its line in `mqlsim --help`."""

    module: str
    help: str


#: The commands, in the order `mqlsim --help` lists them. Each module has
#: ``add_command(commands, scenario_options)``, which adds its subparser (listing
#: ``scenario_options`` as a parent if it runs scenarios, with its ``help`` from here) and sets
#: ``handler``. Only the module of the command given is imported (`mqlsim --help` imports
#: none), so a command loads only the layers it uses. Adding a line here and a module is all it
#: takes to add a command.
COMMANDS: dict[str, Command] = {
    "run": Command("mqlsim.cli.run", "run a scenario and print its metric table"),
    "validate": Command("mqlsim.cli.validate", "check scenario files without running them"),
    "show": Command(
        "mqlsim.cli.show", "print the resolved scenario as TOML, each value with its source"
    ),
    "compare": Command(
        "mqlsim.cli.compare",
        "compare two scenarios (or saved results) on common random numbers, with gates",
    ),
    "sweep": Command(
        "mqlsim.cli.sweep", "run a grid of settings (or of scenario files) and plot the trade-offs"
    ),
    "replay": Command(
        "mqlsim.cli.replay",
        "backtest a scenario's policy on a recorded activity log, with outcomes",
    ),
    "explain": Command(
        "mqlsim.cli.explain", "list MQLs of one simulated run with the reason for each"
    ),
    "report": Command(
        "mqlsim.cli.report", "write a self-contained HTML report (figures, numbers, assumptions)"
    ),
    "calibrate": Command(
        "mqlsim.cli.calibrate", "fit a scenario's hidden parameters to your own funnel"
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `mqlsim` parser, with every command's arguments if ``command`` is ``None``, else
    with only ``command``'s (the others are listed, not built: their modules stay unloaded).
    Each command stores its function as ``handler``."""
    parser = argparse.ArgumentParser(
        prog="mqlsim",
        description="Simulate marketing-qualified-lead policies before changing them in a CRM.",
        epilog="A scenario whose policy or nurture kind names a plug-in imports and runs its "
        "code: an installed entry point loads as named, a 'package.module:Class' only with "
        "--allow-plugins; validate never imports. See docs/security.md.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = scenario_options()
    for name, entry in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(entry.module).add_command(commands, parent)
        else:
            commands.add_parser(name, help=entry.help)
    return parser


class _Version(argparse.Action):
    """``--version``: print mqlsim's version and exit (package metadata is read only then)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from importlib.metadata import version

        print(f"mqlsim {version('mqlsim')}")
        parser.exit()


def command_named(argv: Sequence[str]) -> str:
    """The command ``argv`` gives (its first word that is not an option), or ``""``: none,
    or not a command (argparse then lists the commands)."""
    word = next((arg for arg in argv if not arg.startswith("-")), "")
    return word if word in COMMANDS else ""


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show the library's warnings as ``mqlsim: warning: ...`` lines on stderr."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        error_lines([str(message)], prefix="warning")

    with warnings.catch_warnings():
        warnings.simplefilter("always", MqlsimWarning)
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    argparse's own usage errors exit with code 2 through :class:`SystemExit`. Ctrl-C prints
    one line saying what was kept and returns 130.
    """
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(command_named(argv)).parse_args(argv)
        with _warnings_as_lines():
            return int(args.handler(args))
    except InputError as error:
        error_lines(error.lines)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as interrupt:
        kept = (
            str(interrupt)
            if isinstance(interrupt, Interrupted)
            else "stopped; no file is half-written"
        )
        error_lines([kept], prefix="interrupted")
        return EXIT_INTERRUPTED
