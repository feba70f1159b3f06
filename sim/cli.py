"""The `mqlsim` command line (DESIGN §4): parse, load, run, print.

Bad input of any kind (a scenario file, a ``--set``, an unwritable ``--out``) is an
:class:`~sim.errors.InputError`, printed as ``mqlsim: error: ...`` lines with exit code 2 and no
traceback. Commands that run a scenario share one parent parser, so new commands get the same
``--set``/``--replications``/``--seed`` and ``--workers``/``--scheduler``/``--no-cache`` options
by listing it, and read them with :func:`scenario_overrides` and :func:`execution_options`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

from rich.console import Console
from rich.progress import Progress

from sim.cache import ReplicationCache, default_cache_dir
from sim.errors import InputError
from sim.experiment import run_experiment
from sim.output import FORMATS, render, write_outputs
from sim.scenario import Scenario
from sim.summary import summarize_result

EXIT_OK = 0
EXIT_BAD_INPUT = 2

#: Modules that add a command: each has ``add_command(commands, scenario_options)``, which
#: adds its subparser (listing ``scenario_options`` as a parent if it runs scenarios) and sets
#: ``handler``. Listing a module here is all it takes to add a command.
COMMAND_MODULES: tuple[str, ...] = (
    "sim.compare",
    "sim.explain",
    "sim.replay",
    "sim.report",
    "sim.sweep",
)


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable), read into ``args.sets``."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one scenario key, e.g. --set policy.threshold=80 (repeatable)",
    )


def _scenario_options() -> argparse.ArgumentParser:
    """The options of every command that runs a scenario."""
    parent = argparse.ArgumentParser(add_help=False)
    add_set_option(parent)
    parent.add_argument(
        "--replications",
        type=int,
        metavar="N",
        help="number of replications; same as --set scenario.replications=N",
    )
    parent.add_argument(
        "--seed", type=int, metavar="S", help="root seed; same as --set scenario.seed=S"
    )
    parent.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local processes running replications (default: all cores; 1: in this process)",
    )
    parent.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the replications on the Dask distributed cluster of this scheduler",
    )
    parent.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute every replication; do not read or write the replication cache",
    )
    return parent


def scenario_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides, then ``--replications`` and ``--seed`` as overrides too.

    Going through the same path as ``--set`` means the scenario model validates them (and words
    the error) exactly as it would the same keys in a file.
    """
    overrides = list(args.sets)
    if args.replications is not None:
        overrides.append(f"scenario.replications={args.replications}")
    if args.seed is not None:
        overrides.append(f"scenario.seed={args.seed}")
    return overrides


class ExecutionOptions(TypedDict):
    """How to run replications: the keyword arguments of :func:`sim.experiment.run_experiment`."""

    workers: int | None
    scheduler: str | None
    cache: ReplicationCache | None


_SCHEDULER_ADDRESS = re.compile(r"(?:tcp://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


def execution_options(args: argparse.Namespace) -> ExecutionOptions:
    """``--workers``, ``--scheduler`` and ``--no-cache``, checked, for ``run_experiment(...)``.

    The cache lives in :func:`sim.cache.default_cache_dir` unless ``--no-cache`` is given.
    """
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: expected a whole number >= 1")
    if args.scheduler is not None:
        if args.workers is not None:
            raise InputError(
                "--workers and --scheduler: give one or the other (a --scheduler run uses the"
                " cluster's workers)"
            )
        match = _SCHEDULER_ADDRESS.fullmatch(args.scheduler)
        if match is None or not 1 <= int(match.group(1)) <= 65535:
            raise InputError(
                f"--scheduler {args.scheduler!r}: expected a Dask scheduler address"
                " tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
            )
    return {
        "workers": args.workers,
        "scheduler": args.scheduler,
        "cache": None if args.no_cache else ReplicationCache(default_cache_dir()),
    }


def build_parser() -> argparse.ArgumentParser:
    """The full `mqlsim` parser; each command stores its function as ``handler``."""
    parser = argparse.ArgumentParser(
        prog="mqlsim",
        description="Simulate marketing-qualified-lead policies before changing them in a CRM.",
        epilog="A scenario whose policy or nurture kind names a plug-in ('package.module:Class' "
        "or an installed entry point) imports and runs that code; the shipped scenarios never "
        "do. See docs/plugins.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scenario_options = _scenario_options()

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
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_command(commands, scenario_options)
    return parser


def _load_scenario(path: str, overrides: Sequence[str]) -> Scenario:
    """Load and validate one scenario file; the loader is only imported by commands that load."""
    from sim.loading import load_scenario

    return load_scenario(path, overrides)


@contextmanager
def progress_callback(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when stderr is a terminal; no callback otherwise (quiet in CI)."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replications", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _run(args: argparse.Namespace) -> int:
    if args.plots and args.out is None:
        raise InputError("--plots: give --out DIR too; the figures are written beside results.json")
    options = execution_options(args)
    scenario = _load_scenario(args.scenario, scenario_overrides(args))
    with progress_callback(scenario.scenario.replications) as progress:
        result = run_experiment(scenario, progress=progress, **options)
    summaries = summarize_result(result)
    if args.out is not None:
        try:
            write_outputs(args.out, result, summaries)
            if args.plots:
                from sim.figures import RunData, write_figures  # loads matplotlib: only here

                write_figures(args.out, RunData.from_experiment(result))
        except OSError as error:
            raise InputError(
                f"--out {args.out}: cannot write results: {error.strerror or error}"
            ) from error
    sys.stdout.write(render(summaries, args.format, scenario.scenario.name))
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    exit_code = EXIT_OK
    for path in args.scenarios:
        try:
            _load_scenario(path, [])
        except InputError as error:
            _print_error(error)
            exit_code = EXIT_BAD_INPUT
        else:
            print(f"OK {path}")
    return exit_code


def _print_error(error: InputError) -> None:
    for line in error.lines:
        print(f"mqlsim: error: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    argparse's own usage errors exit with code 2 through :class:`SystemExit`.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as error:
        _print_error(error)
        return EXIT_BAD_INPUT
