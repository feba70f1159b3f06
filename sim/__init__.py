"""mqlsim: test lead-qualification (MQL) policies in a simulated funnel before changing them in
a CRM.

The public API (see ``docs/api.md``)::

    import mqlsim
    result = mqlsim.run("scenarios/baseline.toml", replications=2)
    result.summaries["mql_to_sql_rate"].mean

:func:`load`, :func:`run`, :func:`compare`, :func:`sweep`, :func:`replay`, :func:`record`,
:func:`explain` and :func:`report` are those of :mod:`mqlsim.api`, loaded on first use so that
``import mqlsim`` (and the command line's start) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mqlsim.api import (
        Comparison,
        ExperimentResult,
        InputError,
        MqlReason,
        Recording,
        Replay,
        Scenario,
        Sweep,
        compare,
        explain,
        load,
        record,
        replay,
        report,
        run,
        sweep,
    )

__all__ = [
    "Comparison",
    "ExperimentResult",
    "InputError",
    "MqlReason",
    "Recording",
    "Replay",
    "Scenario",
    "Sweep",
    "__version__",
    "compare",
    "explain",
    "load",
    "record",
    "replay",
    "report",
    "run",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported from :mod:`mqlsim.api` when first asked for (PEP 562)."""
    if name == "__version__":
        from importlib.metadata import version

        return version("mqlsim")
    if name in __all__:
        return getattr(importlib.import_module("mqlsim.api"), name)
    raise AttributeError(f"module 'mqlsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
