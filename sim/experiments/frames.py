"""Results as pandas DataFrames, for notebooks; pandas is optional and imported only here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def frame(records: Sequence[dict[str, Any]], index: str | None = None) -> Any:
    """``records`` as a :class:`pandas.DataFrame` (indexed by the ``index`` column, if given).

    Raises :class:`ModuleNotFoundError` saying how to install pandas when it is missing.
    """
    try:
        import pandas
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "to_frame() needs pandas, which mqlsim does not install: pip install pandas"
            " (to_records() gives the same rows as plain dicts)"
        ) from None
    table = pandas.DataFrame.from_records(list(records))
    return table.set_index(index) if index is not None else table
