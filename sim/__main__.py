"""`python -m sim`: the same command line as `mqlsim`."""

from sim.cli import main

raise SystemExit(main())
