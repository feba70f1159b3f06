"""TOML literals written from Python values: for the generated docs and the scenario files that
`mqlsim calibrate` writes.

Floats are written with :func:`repr`, which reads back to the same float (``inf`` and ``nan``
are TOML too), strings as JSON strings (a subset of TOML's basic strings), lists as arrays and
dicts as inline tables.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML literal."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return repr(value)


def toml_key(key: str) -> str:
    """``key`` bare when TOML allows it, else quoted (``"5000+"``)."""
    return key if _BARE_KEY.match(key) else json.dumps(key)
