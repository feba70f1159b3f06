"""``python -m mqlsim.cli.docgen [scenarios|policies]`` prints a generated reference page;
``--check FILE...`` exits 1 when a file differs from its page (CI keeps the docs current).

The pages come from :mod:`mqlsim.scenario.docgen`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mqlsim.scenario.docgen import PAGES


def main(argv: Sequence[str] | None = None) -> int:
    """Print a page, or with ``--check FILE...`` exit 1 when a FILE differs from its page.

    A checked file is compared with the page of its name (``scenarios.md``, ``policies.md``),
    or with the page given when its name is another.
    """
    parser = argparse.ArgumentParser(prog="python -m mqlsim.cli.docgen", description=__doc__)
    parser.add_argument("page", nargs="?", choices=PAGES, default="scenarios", help="page")
    parser.add_argument(
        "--check", nargs="+", metavar="FILE", help="exit 1 if a FILE is not up to date"
    )
    args = parser.parse_args(argv)
    if args.check is None:
        sys.stdout.write(PAGES[args.page]())
        return 0
    stale = 0
    for name in args.check:
        path = Path(name)
        page = path.stem if path.stem in PAGES else args.page
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != PAGES[page]():
            print(
                f"{path} is out of date; regenerate it: python -m mqlsim.cli.docgen {page}"
                f" > {path}",
                file=sys.stderr,
            )
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
