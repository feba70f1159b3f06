"""`mqlsim show`: the resolved scenario as TOML, each value followed by where it came from.

Like Hydra's ``--cfg job``: after ``extends`` and every ``--set``, and with the defaults written
out, each key is printed with a comment naming its source: the file that set it last (as the
loader names it), ``--set``, or ``default``. The text is valid TOML that loads back to the same
scenario (tests/test_overrides.py checks it), so it can be saved as a file.

Written here rather than with a TOML library: :mod:`tomllib` only reads, and the writers
(``tomli-w``) cannot attach a comment to a value, which is the point of this output; the values
themselves are written by :mod:`mqlsim.scenario.toml_text`. A key that is unset (``None``:
it takes another key's value, as a lane's SLA takes ``sales.sla_hours``) has no TOML form and
is shown as a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mqlsim.scenario.loading import Resolved
from mqlsim.scenario.toml_text import toml_key, toml_value

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
    dotted = ".".join(toml_key(part) for part in key if not part.isdigit())
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
    if value is None:
        return f"# {toml_key(name)} is unset".ljust(COMMENT_COLUMN - 1) + f" # {source}"
    text = f"{toml_key(name)} = {toml_value(value)}"
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {source}"
