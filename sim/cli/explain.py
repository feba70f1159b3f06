"""`mqlsim explain SCENARIO`: one run's MQLs with the policy's reason for each."""

from __future__ import annotations

import argparse
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import EXIT_OK, add_memory_option, add_plugin_option, add_set_option
from mqlsim.cli.terminal import write
from mqlsim.core.errors import InputError
from mqlsim.experiments.budget import parse_memory
from mqlsim.render.explain import FORMATS, render_reasons


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `explain` (one replication in this process: it takes ``--set`` and ``--seed``)."""
    del scenario_options  # --replications, --workers and the cache mean nothing here
    parser = commands.add_parser(
        "explain",
        help=COMMANDS["explain"].help,
        description="Run one replication and list its MQL episodes: lead, pass, day, how sales "
        "ended it, and the policy's reason (e.g. 'score 104 >= 100: pricing_page +30, ...').",
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    add_set_option(parser)
    add_plugin_option(parser)
    add_memory_option(parser)
    parser.add_argument(
        "--seed", type=int, metavar="S", help="root seed; same as --set scenario.seed=S"
    )
    parser.add_argument(
        "--replication", type=int, default=0, metavar="R", help="which replication (default 0)"
    )
    parser.add_argument(
        "--lead", type=int, action="append", metavar="ID", help="only this lead (repeatable)"
    )
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N episodes; 0: all (20)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise InputError(f"--limit {args.limit}: expected 0 (all) or a positive number")
    reasons = api.explain(
        args.scenario,
        replication=args.replication,
        leads=args.lead or (),
        limit=args.limit or None,
        seed=args.seed,
        overrides=args.sets,
        max_memory=None if args.max_memory is None else parse_memory(args.max_memory),
        allow_plugins=args.allow_plugins,
    )
    write(render_reasons(reasons, args.format))
    return EXIT_OK
