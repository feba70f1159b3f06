"""mqlsim: test lead-qualification (MQL) policies in a simulated funnel before changing them in
a CRM.

The public API (see ``docs/api.md``)::

    import mqlsim
    result = mqlsim.run("scenarios/baseline.toml", replications=2)
    result.summaries["mql_to_sql_rate"].mean

:func:`load`, :func:`validate`, :func:`show`, :func:`run`, :func:`compare`, :func:`sweep`,
:func:`replay`, :func:`record`, :func:`explain`, :func:`report` and :func:`calibrate` are those
of :mod:`mqlsim.api`, loaded on first use so that ``import mqlsim`` (and the command line's
start) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mqlsim.api import (
        Calibration,
        Comparison,
        ExperimentResult,
        InputError,
        MqlReason,
        Recording,
        Replay,
        Scenario,
        Sweep,
        calibrate,
        compare,
        explain,
        load,
        record,
        replay,
        report,
        run,
        show,
        sweep,
        validate,
    )

__all__ = [
    "Calibration",
    "Comparison",
    "ExperimentResult",
    "InputError",
    "MqlReason",
    "Recording",
    "Replay",
    "Scenario",
    "Sweep",
    "__version__",
    "calibrate",
    "compare",
    "explain",
    "load",
    "record",
    "replay",
    "report",
    "run",
    "show",
    "sweep",
    "validate",
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
