"""Optional dependencies, installed as extras: a clear error naming the extra when one is missing.

The default install is what ``mqlsim run`` needs. ``mqlsim[replay]`` adds pyarrow (the
streaming CSV reader of ``replay``), ``mqlsim[dask]`` adds Dask ``distributed``
(``--scheduler``), and ``mqlsim[all]`` both.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mqlsim.core.errors import InputError


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import ``module``, or raise :class:`InputError` saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or module.split(".")[0] != error.name.split(".")[0]:
            raise
        raise InputError(
            f"{needed_for} needs {error.name}, an optional dependency that is not installed:"
            f" pip install 'mqlsim[{extra}]'"
        ) from None
