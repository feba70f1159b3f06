"""`python -m mqlsim`: the same command line as `mqlsim`."""

from mqlsim.cli import main

raise SystemExit(main())
