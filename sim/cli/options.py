"""Options shared by the commands, and the progress bar.

Commands that run scenarios list :func:`scenario_options` as a parent parser, so each gets the
same ``--set``/``--replications``/``--seed`` and ``--workers``/``--scheduler``/``--no-cache``
options; :func:`execution_options` turns the last three into the API's keyword arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mqlsim.core.errors import InputError

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_SCHEDULER_ADDRESS = re.compile(r"(?:tcp://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


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


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-plugins``, read into ``args.allow_plugins``."""
    parser.add_argument(
        "--allow-plugins",
        action="store_true",
        help="let a scenario's kind = 'package.module:Class' import and run that module"
        " (only for files and modules you trust; installed entry points need no flag)",
    )


def add_by_option(parser: argparse.ArgumentParser) -> None:
    """``--by DIMENSION`` (repeatable or comma-separated), read into ``args.by``."""
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="DIMENSION",
        help=(
            "also break every count and rate down by channel, persona, grade, rule (the "
            "policy rule that fired) or lane (the sales lane); repeatable or comma-separated"
        ),
    )


def scenario_options() -> argparse.ArgumentParser:
    """The options of every command that runs a scenario."""
    parent = argparse.ArgumentParser(add_help=False)
    add_set_option(parent)
    add_plugin_option(parent)
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
    add_memory_option(parent)
    return parent


def add_memory_option(parser: argparse.ArgumentParser) -> None:
    """``--max-memory SIZE``, read into ``args.max_memory``."""
    parser.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the replications running at once may take, e.g. 64GB (default: this"
        " machine's); a run estimated to need more is refused before it starts",
    )


def execution_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--workers``, ``--scheduler`` and ``--no-cache``, checked, as keyword arguments of the
    API's functions (:mod:`mqlsim.api`)."""
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
    from mqlsim.experiments.budget import parse_memory  # loads the model: only commands that run

    limit = None if args.max_memory is None else parse_memory(args.max_memory)
    return {
        "workers": args.workers,
        "scheduler": args.scheduler,
        "cache": not args.no_cache,
        "max_memory": limit,
    }


@contextmanager
def progress_bar(what: str = "replications") -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when stderr is a terminal; no callback otherwise (quiet in CI)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while a last step runs (drawing figures), so a
    terminal shows progress until the end; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def check_out_dir(path: Path, option: str = "--out") -> None:
    """Fail early, before any work, when ``path`` cannot become an output folder; nothing is
    created here (so bad input or an interruption leaves no empty folder behind)."""
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{option} {path}: is a file, expected a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{option} {path}: cannot write in it (permission denied)")
        return
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{option} {path}: cannot create it: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot create it in {parent} (permission denied)")
