"""`mqlsim compare A B`: exit 0 when every gate passes, 1 when one fails, 2 on bad input.

With ``--format markdown`` the output is also appended to ``$GITHUB_STEP_SUMMARY`` when that is
set (a GitHub Actions job summary).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mqlsim import api
from mqlsim.cli import COMMANDS
from mqlsim.cli.options import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    add_by_option,
    execution_options,
    progress_bar,
)
from mqlsim.cli.terminal import error_lines, write
from mqlsim.core.errors import InputError
from mqlsim.render.comparison import FORMATS, render_comparison

SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def add_command(commands: Any, scenario_options: argparse.ArgumentParser) -> None:
    """Add `compare` to the `mqlsim` command line."""
    compare = commands.add_parser(
        "compare",
        parents=[scenario_options],
        help=COMMANDS["compare"].help,
        description=(
            "Run A and B on the same replication seeds (A's) and print, for every metric, both"
            " means, the difference B − A with its 95 % paired interval, the relative change and"
            " a mark (+ better, - worse, ~ not significant, * significant change of a volume)."
            " A or B may be REV:path, a file as committed in a git revision (an existing file"
            " of that name wins), or saved results (a results.json of `mqlsim run --out`, or its"
            " folder), compared without running again: paired when both share seed and"
            " replication count, else unpaired, and the output says which. Exit 0 when every"
            " gate passes, 1 when one fails, 2 on bad input."
        ),
    )
    compare.add_argument(
        "a", metavar="A", help="the reference: a scenario file, REV:path, or a results.json"
    )
    compare.add_argument(
        "b", metavar="B", help="compared with A: a scenario file, REV:path, or a results.json"
    )
    compare.add_argument(
        "--fail-if",
        dest="gates",
        action="append",
        default=[],
        metavar="EXPR",
        help=(
            "fail (exit 1) if METRIC OP VALUE[%%|pp] holds, OP one of > >= < <=: '+5%%' is a"
            " relative change against A, '+100' an absolute change (of a share: '-0.02' or"
            " '-2pp'), '0.20' a bound on B's mean (of a share: '0.20' or '20%%'); a change must"
            " be significant to fail (repeatable; see docs/ci.md)"
        ),
    )
    compare.add_argument("--format", choices=FORMATS, default="table", help="output format")
    add_by_option(compare)
    compare.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    options = execution_options(args)
    with progress_bar() as progress:
        comparison = api.compare(
            args.a,
            args.b,
            gates=args.gates,
            by=args.by,
            replications=args.replications,
            seed=args.seed,
            overrides=args.sets,
            progress=progress,
            allow_plugins=args.allow_plugins,
            **options,
        )
    rendered = render_comparison(comparison, args.format)
    write(rendered)
    if args.format == "markdown":
        assert isinstance(rendered, str)
        _append_job_summary(rendered)
    error_lines(
        (f"{result.gate.expression}: {result.reason}" for result in comparison.failed),
        prefix="gate failed",
    )
    return EXIT_OK if comparison.passed else EXIT_GATE_FAILED


def _append_job_summary(markdown: str) -> None:
    """Append ``markdown`` to the file ``$GITHUB_STEP_SUMMARY`` names, when it is set."""
    path = os.environ.get(SUMMARY_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except OSError as error:
        raise InputError(
            f"${SUMMARY_VARIABLE} {path}: cannot append the summary ({error.strerror or error})"
        ) from None
