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
import importlib.metadata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from mqlsim.cli.options import EXIT_BAD_INPUT, EXIT_INTERRUPTED, scenario_options
from mqlsim.cli.terminal import error_lines
from mqlsim.core.errors import InputError, Interrupted, MqlsimWarning

#: Modules that add commands: each has ``add_command(commands, scenario_options)``, which adds
#: its subparser (listing ``scenario_options`` as a parent if it runs scenarios) and sets
#: ``handler``. Listing a module here is all it takes to add a command.
COMMAND_MODULES: tuple[str, ...] = (
    "mqlsim.cli.run",
    "mqlsim.cli.show",
    "mqlsim.cli.compare",
    "mqlsim.cli.sweep",
    "mqlsim.cli.replay",
    "mqlsim.cli.explain",
    "mqlsim.cli.report",
    "mqlsim.cli.calibrate",
)


def build_parser() -> argparse.ArgumentParser:
    """The full `mqlsim` parser; each command stores its function as ``handler``."""
    parser = argparse.ArgumentParser(
        prog="mqlsim",
        description="Simulate marketing-qualified-lead policies before changing them in a CRM.",
        epilog="A scenario whose policy or nurture kind names a plug-in imports and runs its "
        "code: an installed entry point loads as named, a 'package.module:Class' only with "
        "--allow-plugins; validate never imports. See docs/security.md.",
    )
    parser.add_argument(
        "--version", action="version", version=f"mqlsim {importlib.metadata.version('mqlsim')}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = scenario_options()
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_command(commands, parent)
    return parser


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
        args = build_parser().parse_args(argv)
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
