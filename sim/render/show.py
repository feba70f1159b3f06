"""`mqlsim show`: the resolved scenario as TOML, each value followed by where it came from.

Like Hydra's ``--cfg job``: after ``extends`` and every ``--set``, and with the defaults written
out, each key is printed with a comment naming its source: the file that set it last (as the
loader names it), ``--set``, or ``default``. The text is valid TOML that loads back to the same
scenario (tests/test_overrides.py checks it), so it can be saved as a file.

Written here rather than with a TOML library: :mod:`tomllib` only reads, and the writers
(``tomli-w``) cannot attach a comment to a value, which is the point of this output; the values
are only strings, numbers, booleans and arrays of them, so a few lines cover TOML's syntax.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mqlsim.scenario.loading import Resolved

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: The column the source comments start at (values longer than this push theirs right).
COMMENT_COLUMN = 44


def scenario_toml(resolved: Resolved, command: str) -> str:
    """The resolved scenario as TOML with a source comment per value; ``command`` (what was
    asked, e.g. ``mqlsim show loose.toml --set sales.reps=4``) heads it."""
    lines = [
        f"# {command}",
        "# The scenario as it runs; after each value, its source: the file that set it last,",
        "# --set, or default (the model's default, see docs/scenarios.md).",
    ]
    data = resolved.scenario.model_dump()
    for section, table in data.items():
        lines += _table((section,), table, resolved, array_item=False)
    return "\n".join(lines) + "\n"


def _table(
    key: tuple[str, ...], table: Mapping[str, Any], resolved: Resolved, array_item: bool
) -> list[str]:
    """``[key]`` (or ``[[key]]``), its plain values, then its sub-tables and arrays of tables."""
    dotted = ".".join(_key(part) for part in key if not part.isdigit())
    lines = ["", f"[[{dotted}]]" if array_item else f"[{dotted}]"]
    nested: list[str] = []
    for name, value in table.items():
        here = (*key, name)
        if isinstance(value, dict) and value:
            nested += _table(here, value, resolved, array_item=False)
        elif _is_table_array(value):
            for index, item in enumerate(value):
                nested += _table((*here, str(index)), item, resolved, array_item=True)
        else:
            lines.append(_line(name, value, _source(here, resolved)))
    return lines + nested


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _source(key: tuple[str, ...], resolved: Resolved) -> str:
    """The value's source; an array of plain values also names its items set on their own."""
    source = resolved.source_of(key)
    below = resolved.sources_below(key)
    if below:
        items = ", ".join(f"[{k[len(key)]}] {label}" for k, label in below.items())
        source += f"; {items}"
    return source


def _line(name: str, value: Any, source: str) -> str:
    text = f"{_key(name)} = {_value(value)}"
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {source}"


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    """A TOML value: a string, boolean, integer, float (``inf``), array or (empty) table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
