"""Load scenario files: TOML, ``extends``, ``--set`` overrides, and errors a person can act on.

A scenario file is TOML read with :mod:`tomllib`. A top-level ``extends = "other.toml"`` (relative
to the extending file's folder) loads that file first and deep-merges this one over it, and the
result is deep-merged over the defaults. One merge rule holds everywhere: tables merge key by
key, arrays and scalars replace, and a policy or cadence table (one with a ``kind``) merges over
the defaults of its kind wherever it sits (``[policy]``, a rule of ``any_of``/``all_of``, a
gate's ``rule``, ``[nurture]``); a table that names another kind than the one beneath it
replaces it. ``--set KEY=VALUE`` overrides then apply in order: each replaces the value at KEY
(a list item by its index, ``population.personas.1.share``), a kinded table it sets still
merges over its kind's defaults, and setting a table's ``kind`` to another kind resets that
table to the new kind's defaults. :class:`mqlsim.scenario.models.Scenario` validates the result.

Only regular files named ``*.toml`` of at most :data:`MAX_FILE_BYTES` may be extended (no
devices, pipes or folders, nothing else on the disk); the file named on the command line may
also be a pipe (``mqlsim run <(...)``) and is read up to the same size. Tables and arrays nest at
most :data:`MAX_DEPTH` levels and an ``extends`` chain holds at most :data:`MAX_EXTENDS` files,
so no input can exhaust the stack or the memory.

Every problem becomes one line of :class:`mqlsim.core.errors.InputError`, all of them at once.
Each line names where the offending value came from (the file that last set it, or ``--set``),
the dotted key and what was expected, e.g. ``base.toml: sales.reps: expected a value >= 1,
found 0 (line 7)``.
To do that the loader records, for every leaf value, which source set it last
(:func:`resolve_scenario` returns those sources, which ``mqlsim show`` prints).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from mqlsim.core.errors import InputError, cut, shown
from mqlsim.policies import CADENCES, POLICIES
from mqlsim.policies.plugins import PluginAccess
from mqlsim.scenario.models import Scenario

_Key = tuple[str, ...]
#: Leaf key path -> label of the source that set it last, in the order they were set.
_Origins = dict[_Key, str]

#: The largest scenario file read (the shipped ones are under 5 KB).
MAX_FILE_BYTES = 1 << 20
#: The deepest nesting of tables and arrays (the shipped scenarios reach 6).
MAX_DEPTH = 32
#: The most files in one ``extends`` chain, the extending file included.
MAX_EXTENDS = 32

_SET_LABEL = "--set"
#: The source of a value no file or override set.
DEFAULT_SOURCE = "default"
_TOML_LOCATION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_TABLE_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


#: ``--set`` texts (``"policy.threshold=80"``), ``(dotted key, value)`` pairs, or
#: ``(dotted key, value, label)`` with the label errors name it by, applied in order; or dotted
#: keys mapped to values (the Python API).
Override = str | tuple[str, object] | tuple[str, object, str]
Overrides = Sequence[Override] | Mapping[str, object]


class _Override(NamedTuple):
    label: str  # how an error names it: --set 'KEY=VALUE' or overrides['KEY']
    source: str  # the origin recorded for what it sets: --set or overrides
    keys: list[str]
    value: object


@dataclass(frozen=True)
class Resolved:
    """A scenario and where each of its values came from.

    ``sources`` maps a key path (``("policy", "points", "web_visit")``; list items by their
    index, ``("population", "personas", "1", "share")``) to the label of the source that set
    it last: a file as named, ``--set`` (or ``overrides`` from Python), in the order they were
    set. A key path with no entry at or above it took its default (:func:`source_of`).
    """

    scenario: Scenario
    sources: dict[tuple[str, ...], str]

    def source_of(self, key: Sequence[str]) -> str:
        """Who set the value at ``key``: the nearest recorded source at or above it, or
        :data:`DEFAULT_SOURCE`."""
        key = tuple(key)
        for depth in range(len(key), 0, -1):
            if key[:depth] in self.sources:
                return self.sources[key[:depth]]
        return DEFAULT_SOURCE

    def sources_below(self, key: Sequence[str]) -> dict[tuple[str, ...], str]:
        """The recorded sources strictly below ``key`` (a list element's own override)."""
        key = tuple(key)
        return {
            k: label
            for k, label in self.sources.items()
            if len(k) > len(key) and k[: len(key)] == key
        }


def load_scenario(
    source: str | Path | Scenario,
    overrides: Overrides = (),
    *,
    plugins: PluginAccess = "entry_points",
) -> Scenario:
    """Read a scenario file, follow its ``extends`` chain, apply overrides, validate.

    ``source`` may also be a :class:`Scenario` already loaded, to apply ``overrides`` to it
    (validated again, so it obeys ``plugins`` too). ``plugins`` says which plug-in kinds may be
    imported (:data:`mqlsim.policies.plugins.PluginAccess`): by default installed entry points
    only; ``"any"`` when the runner allowed plug-ins; ``"none"`` to import nothing.
    Raises :class:`InputError` listing every problem found (unreadable files, TOML syntax,
    ``extends`` cycles, malformed overrides, invalid values), never another exception for bad
    input.
    """
    return resolve_scenario(source, overrides, plugins=plugins).scenario


def resolve_scenario(
    source: str | Path | Scenario,
    overrides: Overrides = (),
    *,
    plugins: PluginAccess = "entry_points",
) -> Resolved:
    """:func:`load_scenario`, with the source of every value (see :class:`Resolved`)."""
    problems: list[str] = []
    parsed = _parse_overrides(overrides, problems)
    if isinstance(source, Scenario):
        top = f"scenario {source.scenario.name!r}"
        data: dict[str, Any] = source.model_dump()
        origins: _Origins = {}
        _record(origins, data, (), top)
        texts: dict[str, str] = {}
    else:
        top = str(source)
        try:
            data, origins, texts = _load_file(Path(source), top, ())
        except InputError as error:
            raise InputError(error.lines + problems) from None
        data = _over_defaults(data)
    for override in parsed:
        problem = _apply_override(data, origins, override)
        if problem:
            problems.append(f"{override.label}: {problem}")
    try:
        scenario = Scenario.model_validate(data, context={"plugins": plugins})
    except ValidationError as error:
        problems.extend(_explain(error, origins, texts, top, Scenario))
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    return Resolved(scenario, dict(origins))


def override_list(overrides: Overrides) -> list[Override]:
    """``overrides`` as a list, a mapping's items as ``(key, value)`` pairs."""
    return list(overrides.items()) if isinstance(overrides, Mapping) else list(overrides)


def _parse_overrides(overrides: Overrides, problems: list[str]) -> list[_Override]:
    """Each override as key path and value; a malformed one adds its line to ``problems``."""
    parsed = []
    for item in override_list(overrides):
        if isinstance(item, str):
            try:
                keys, value = parse_override(item)
            except InputError as error:
                problems.extend(error.lines)
            else:
                parsed.append(_Override(f"{_SET_LABEL} {shown(item)}", _SET_LABEL, keys, value))
            continue
        key, value = item[0], item[1]
        label = item[2] if len(item) == 3 else f"overrides[{key!r}]"
        keys = [_unquote(part.strip()) for part in str(key).split(".")]
        if not all(keys):
            problems.append(f"{label}: expected a dotted key such as 'sales.reps'")
            continue
        parsed.append(_Override(label, label, keys, value))
    return parsed


def parse_override(text: str) -> tuple[list[str], object]:
    """Split ``KEY=VALUE`` from ``--set`` into the key path and the value.

    KEY is a dotted path (``policy.threshold``); a part may be quoted (``"5000+"``). VALUE is a
    TOML literal (``80``, ``true``, ``"text"``, ``[1, 2]``, ``{a = 1}``). As a convenience, a
    VALUE that is not valid TOML is taken as a plain string (``nurture.kind=drip``,
    ``scenario.name=my run``) unless it starts like a quoted string, array or inline table,
    where a typo is likelier than a string. So ``80`` is a number; write ``'"80"'`` for text.
    """

    def malformed(reason: str) -> InputError:
        return InputError(
            f"--set {shown(text)}: expected KEY=VALUE with VALUE a TOML literal ({reason})"
        )

    key_text, equals, value_text = text.partition("=")
    if not equals:
        raise malformed("no '=' found")
    if not key_text.strip():
        raise malformed("KEY is empty")
    keys = [_unquote(part.strip()) for part in key_text.split(".")]
    if not all(keys):
        raise malformed(f"KEY {shown(key_text.strip())} has an empty part")
    value_text = value_text.strip()
    if not value_text:
        raise malformed("VALUE is empty; write KEY='\"\"' for an empty string")
    if "\n" in value_text or "\r" in value_text:
        raise malformed("VALUE must be on one line")
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError as error:
        if value_text[0] in "\"'[{":
            reason = _TOML_LOCATION.sub("", str(error)).lower()
            raise malformed(f"{shown(value_text)}: {reason}") from None
        return keys, value_text
    except RecursionError:
        raise malformed(_TOO_DEEP) from None
    if len(keys) + _depth(value) > MAX_DEPTH:
        raise malformed(_TOO_DEEP)
    return keys, value


def _unquote(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part


def _load_file(
    path: Path, label: str, chain: tuple[tuple[Path, str], ...]
) -> tuple[dict[str, Any], _Origins, dict[str, str]]:
    """Load one file and, recursively, the files it extends: merged data, origins, file texts."""
    text = _read_text(path, label, extended=bool(chain))
    data = _parse_toml(text, label)
    extends = data.pop("extends", None)
    if extends is None:
        origins: _Origins = {}
        _record(origins, data, (), label)
        return data, origins, {label: text}

    def problem(message: str) -> InputError:
        line = _key_lines(text).get(("extends",))
        return InputError(f"{label}: extends: {message}" + (f" (line {line})" if line else ""))

    if not isinstance(extends, str):
        raise problem(f"expected a file name (a string), found {_show(extends)}")
    if len(chain) + 1 >= MAX_EXTENDS:
        raise problem(f"more than {MAX_EXTENDS} files extend each other in one chain")
    target = path.parent / extends
    target_label = os.path.normpath(os.path.join(os.path.dirname(label), extends))
    try:
        chain = (*chain, (path.resolve(), label))
        resolved, exists = target.resolve(), target.exists()
    except (OSError, RuntimeError, ValueError) as error:
        raise problem(f"cannot use {extends!r} as a file path ({error})") from None
    if any(seen == resolved for seen, _ in chain):
        names = " -> ".join([name for _, name in chain] + [target_label])
        raise problem(f"circular extends: {names}")
    if not exists:
        raise problem(f"file {_show(extends)} not found (looked in {resolved.parent})")
    if resolved.suffix != ".toml":
        raise problem(f"expected a scenario file named *.toml, found {_show(extends)}")
    merged, origins, texts = _load_file(target, target_label, chain)
    _merge(merged, data, origins, label, ())
    texts[label] = text
    return merged, origins, texts


def read_toml(path: Path, label: str) -> tuple[dict[str, Any], str]:
    """One TOML file's data and text; :class:`InputError` naming ``label`` (and the line) when
    it cannot be read, is not UTF-8 or is not valid TOML."""
    text = _read_text(path, label, extended=False)
    return _parse_toml(text, label), text


def validation_lines(
    error: ValidationError, root: type[BaseModel], label: str, text: str
) -> list[str]:
    """One line per problem of validating the data of one file (``label``, its ``text``)
    against the model ``root``: ``label: dotted.key: what was expected (line N)``."""
    return _explain(error, {}, {label: text}, label, root)


def key_line(text: str, key: tuple[str, ...]) -> int | None:
    """The line of ``text`` that sets ``key`` (or the nearest table above it), for messages."""
    return _line_of(text, key)


def _read_text(path: Path, label: str, *, extended: bool) -> str:
    """The text of a scenario file: at most :data:`MAX_FILE_BYTES`, UTF-8.

    An ``extended`` file (one named by ``extends``) must be a regular file; the file named on
    the command line may also be a pipe. Opening does not wait for a pipe's writer.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise InputError(f"{label}: file not found") from None
    except OSError as error:
        raise InputError(f"{label}: cannot read the file ({error.strerror})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{label}: is a folder, expected a TOML file")
        if extended and not stat.S_ISREG(mode):
            raise InputError(f"{label}: not a regular file; extends names scenario files only")
        os.set_blocking(descriptor, True)  # a pipe's writer may not have written yet
        with open(descriptor, "rb", closefd=False) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InputError(f"{label}: cannot read the file ({error.strerror})") from None
    finally:
        os.close(descriptor)
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(
            f"{label}: larger than {MAX_FILE_BYTES >> 20} MiB; a scenario file is a few KB of TOML"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(
            f"{label}:{line}: not UTF-8 text (byte {error.start}); save the file as UTF-8"
        ) from None


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise InputError(f"{label}: {_TOO_DEEP}") from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_LOCATION.search(message)
        if found is None:
            raise InputError(f"{label}: TOML syntax error: {message}") from None
        if found.group(1):
            line, where = found.group(1), f" (column {found.group(2)})"
        else:
            line, where = str(text.rstrip().count("\n") + 1), " (at end of file)"
        reason = message[: found.start()] + where
        raise InputError(f"{label}:{line}: TOML syntax error: {reason}") from None
    if _depth(data) > MAX_DEPTH:
        raise InputError(f"{label}: {_TOO_DEEP}")
    return data


_TOO_DEEP = f"tables and arrays nested more than {MAX_DEPTH} levels deep"


def _depth(value: object) -> int:
    """How many tables and arrays ``value`` nests (0 for a number), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _record(origins: _Origins, value: object, key: _Key, label: str) -> None:
    """Note ``label`` as the source of every leaf in ``value`` (callers forget old ones first).

    Tables and arrays of tables are walked down to their values (an array item's keys by its
    index), so a key an item leaves out has no source (it takes its default); an empty table or
    array, and an array of plain values, is one leaf.
    """
    if isinstance(value, dict) and value:
        for name, item in value.items():
            _record(origins, item, (*key, name), label)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            _record(origins, item, (*key, str(index)), label)
    else:
        origins[key] = label


def _forget(origins: _Origins, key: _Key) -> None:
    for known in [k for k in origins if k[: len(key)] == key]:
        del origins[known]


def _over_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """The loaded data deep-merged over the models' defaults.

    So a file or ``--set`` that names one entry of a table (``policy.points.web_visit``) keeps
    the table's other default entries instead of dropping them; a policy or cadence table
    merges over the defaults of its own kind, wherever it sits (:func:`_over_kind_defaults`).
    """
    merged = Scenario().model_dump()
    _merge(merged, data, {}, "", ())
    _over_kind_defaults(merged, Scenario)
    return merged


def _merge(
    base: dict[str, Any], child: dict[str, Any], origins: _Origins, label: str, key: _Key
) -> None:
    """Deep-merge ``child`` into ``base``: tables merge key by key, anything else replaces.

    A table that names a different ``kind`` (another policy family) replaces the old one whole
    (it merges over its own kind's defaults later, :func:`_over_kind_defaults`).
    """
    for name, value in child.items():
        here = (*key, name)
        old = base.get(name)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and value.get("kind", old.get("kind")) == old.get("kind")
        ):
            _merge(base[name], value, origins, label, here)
        else:
            base[name] = value
            _forget(origins, here)
            _record(origins, value, here, label)


def _kind_model(value: dict[str, Any], annotation: Any) -> type[BaseModel] | None:
    """The built-in policy or cadence model that ``value``'s ``kind`` names, when ``annotation``
    is a section of several kinds (never a plug-in: nothing is imported here)."""
    models = _models(annotation)
    kind = value.get("kind")
    if len(models) < 2 or not isinstance(kind, str):
        return None
    for registry in (POLICIES, CADENCES):
        if kind in registry and registry[kind][0] in models:
            return registry[kind][0]
    return None


def _defaults_of(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``model`` that has a default, as plain data (models dumped)."""
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            value = value.model_dump()
        elif isinstance(value, list):
            value = [item.model_dump() if isinstance(item, BaseModel) else item for item in value]
        defaults[name] = value
    return defaults


def _over_kind_defaults(node: Any, annotation: Any) -> None:
    """Merge, in place, every policy or cadence table in ``node`` (a value of type
    ``annotation``) over the defaults of its kind, and walk into what they hold (an
    ``any_of``'s rules, a gate's rule)."""
    if isinstance(node, list):
        item_type = _child_type(annotation, "0")
        for item in node:
            _over_kind_defaults(item, item_type)
        return
    if not isinstance(node, dict):
        return
    model = _kind_model(node, annotation)
    if model is not None:
        merged = _defaults_of(model)
        _merge(merged, node, {}, "", ())
        node.clear()
        node.update(merged)
    for name, value in node.items():
        _over_kind_defaults(value, _child_type(model or annotation, name))


def _apply_override(data: dict[str, Any], origins: _Origins, override: _Override) -> str | None:
    """Set the override's keys to its value, replacing what was there; a problem if a key on the
    way is neither a table nor an index into an array of tables.

    A list item is addressed by its index (``population.personas.1.share``). A kinded table the
    value holds merges over its kind's defaults; a ``kind`` set to another kind replaces its
    table with that kind's defaults (the old kind's keys would not apply).
    """
    keys = override.keys
    node: Any = data
    annotation: Any = Scenario
    for depth, name in enumerate(keys, start=1):
        where = cut(".".join(keys[:depth]))
        last = depth == len(keys)
        if isinstance(node, list):
            if not name.isdigit():
                array = cut(".".join(keys[: depth - 1]))
                return f"{array} is an array: address an item by its index"
            if len(name) > 9 or int(name) >= len(node):
                return (
                    f"{cut('.'.join(keys[: depth - 1]))} has {len(node)} items"
                    f" (0 to {len(node) - 1}); index {cut(name)} is out of range (replace the"
                    " array whole to add items)"
                )
            index: int | str = int(name)
        else:
            index = name
        parent_type = annotation
        annotation = _child_type(annotation, name)
        if last:
            break
        child = node[int(index)] if isinstance(node, list) else node.get(name)
        if isinstance(child, dict | list) and not (
            isinstance(child, list) and not all(isinstance(item, dict) for item in child)
        ):
            node = child
            continue
        if child is None and not isinstance(node, list) and not _is_scalar(annotation):
            node = node.setdefault(name, {})
            continue
        holds = _kind(type(child)) if child is not None else _kind(annotation)
        hint = f"; replace it whole: {where}=[...]" if holds == "an array" else ""
        return f"{where} holds {holds}, not a table{hint}"
    value = override.value
    name = keys[-1]
    if (
        name == "kind"
        and isinstance(node, dict)
        and node.get("kind") != value
        and isinstance(value, str)
        and _kind_model({"kind": value}, parent_type) is not None
    ):
        # Another kind: the table's old keys belong to the old kind.
        parent = tuple(keys[:-1])
        node.clear()
        node["kind"] = value
        _over_kind_defaults(node, parent_type)
        _forget(origins, parent)
        origins[tuple(keys)] = override.source
        return None
    value = _copied(value)
    _over_kind_defaults(value, annotation)
    if isinstance(node, list):
        node[int(name)] = value
    else:
        node[name] = value
    _forget(origins, tuple(keys))
    _record(origins, value, tuple(keys), override.source)
    return None


def _copied(value: Any) -> Any:
    """A copy of an override's tables and arrays (merging defaults into it must not change the
    caller's mapping)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


# --- turning pydantic errors into lines -------------------------------------------------------


def _explain(
    error: ValidationError,
    origins: _Origins,
    texts: dict[str, str],
    top: str,
    root: type[BaseModel],
) -> list[str]:
    """One line per pydantic error of validating against ``root``: source, dotted key, what
    was expected, line number."""
    lines = []
    for problem in error.errors():
        key, message = _describe(problem, root)
        blamed = _named_key(problem, key, message, origins, root) or key
        source = _source_of(blamed, origins, top)
        line = _line_of(texts.get(source), blamed)
        where = f"{cut('.'.join(key))}: " if key else ""
        lines.append(f"{source}: {where}{message}" + (f" (line {line})" if line else ""))
    return lines


def _named_key(
    problem: Any, key: _Key, message: str, origins: _Origins, root: type[BaseModel]
) -> _Key | None:
    """For a table's own check (``warmup_days (90) must be less than horizon_days (50)``),
    the key among those its message names that was set last: the value to blame, whichever
    source set the table's other keys (``--seed`` does not make ``--set`` the culprit)."""
    if problem["type"] not in ("value_error", "assertion_error"):
        return None
    loc = problem["loc"]
    names = _field_names(_resolve(loc, root)[1])
    named = {(*key, name) for name in names if re.search(rf"\b{re.escape(name)}\b", message)}
    latest = None
    for known in origins:
        if known[: len(key) + 1] in named:
            latest = known  # origins are in the order they were set
    return latest


def _describe(problem: Any, root: type[BaseModel]) -> tuple[_Key, str]:
    """The user's key path (union tags dropped) and a sentence for one pydantic error."""
    kind, ctx, found = problem["type"], problem.get("ctx", {}), problem["input"]
    loc = problem["loc"]
    on_key = bool(loc) and loc[-1] == "[key]"
    key, annotation = _resolve(loc[:-1] if on_key else loc, root)
    if on_key:
        allowed = _literal_values(_dict_key_type(_resolve(loc[:-2], root)[1]))
        return key, _unknown(str(found), [str(v) for v in allowed])
    if kind == "extra_forbidden":
        return key, _unknown(key[-1], _field_names(_resolve(loc[:-1], root)[1]))
    if kind == "missing":
        return key, "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return key, str(ctx.get("error", problem["msg"]))
    if kind in _EXPECTED:
        return key, f"expected {_EXPECTED[kind]}, found {_show(found)}"
    if kind in _BOUNDS:
        sign, name = _BOUNDS[kind]
        return key, f"expected a value {sign} {_number(ctx[name])}, found {_show(found)}"
    if kind in ("too_short", "too_long"):
        most = "at least" if kind == "too_short" else "at most"
        limit = ctx["min_length" if kind == "too_short" else "max_length"]
        return key, f"expected {most} {limit} items, found {ctx['actual_length']}: {_show(found)}"
    if kind == "literal_error":
        values = _literal_values(annotation) or [ctx.get("expected", "")]
        return key, _one_of(values, found)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag_key = (*key, str(ctx.get("discriminator", "kind")).strip("'"))
        tags = [tag for model in _models(annotation) for tag in _tags(model)]
        return tag_key, _one_of(tags, ctx.get("tag"))
    return key, f"{_sentence(problem['msg'])}, found {_show(found)}"


def _unknown(name: str, allowed: list[str]) -> str:
    """``unknown key 'x'`` with the closest allowed key, or the allowed keys when none is close."""
    close = difflib.get_close_matches(name[:100], allowed, n=1)
    if close:
        return f"unknown key {shown(name)} (did you mean {close[0]!r}?)"
    if allowed:
        return f"unknown key {shown(name)} (allowed: {', '.join(allowed)})"
    return f"unknown key {shown(name)}"


def _one_of(values: list[Any], found: object) -> str:
    listed = ", ".join(repr(v) for v in values)
    message = f"expected one of {listed}, found {_show(found)}"
    if isinstance(found, str):
        close = difflib.get_close_matches(found, [str(v) for v in values], n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    return message


def _sentence(msg: str) -> str:
    if msg.startswith("Input should be "):
        return "expected " + msg.removeprefix("Input should be ")
    return msg[:1].lower() + msg[1:]


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _show(value: object) -> str:
    """A short TOML-ish rendering of an input value for messages."""
    if value is None:
        return "nothing"
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 60 else f"{text[:57]}... ({len(text):,} characters)"


def _source_of(key: _Key, origins: _Origins, top: str) -> str:
    """Which source set ``key``: the nearest recorded leaf at or above it; else the last source
    that set anything below it (a table's own validator); else the last that set anything in
    the nearest table above it (a key missing from a table that source wrote); else the top
    file."""
    for depth in range(len(key), 0, -1):
        if key[:depth] in origins:
            return origins[key[:depth]]
    for depth in range(len(key), 0, -1):
        below = [label for known, label in origins.items() if known[:depth] == key[:depth]]
        if below:
            return below[-1]
    return top


def _line_of(text: str | None, key: _Key) -> int | None:
    """Line of the assignment or table header nearest to ``key`` in ``text`` (for messages)."""
    if text is None:
        return None
    lines = _key_lines(text)
    for depth in range(len(key), 0, -1):
        if key[:depth] in lines:
            return lines[key[:depth]]
    return None


def _key_lines(text: str) -> dict[_Key, int]:
    """First line where each key path is assigned or opened as a table, by a line-wise scan.

    Good enough for pointing at a line in an error message: it knows ``[table]``,
    ``[[array.of.tables]]`` (indexed like pydantic's locations) and dotted or quoted keys.
    """
    found: dict[_Key, int] = {}
    counts: dict[_Key, int] = {}
    table: _Key = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE_HEADER.match(line)
        if header:
            names = _split_key(header.group(2))
            table = ()
            for depth, name in enumerate(names, start=1):
                table = (*table, name)
                plain = names[:depth]
                if depth == len(names) and header.group(1) == "[[":
                    counts[plain] = counts.get(plain, -1) + 1
                if plain in counts:
                    table = (*table, str(counts[plain]))
            found.setdefault(table, number)
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            found.setdefault((*table, *_split_key(assignment.group(1))), number)
    return found


def _split_key(dotted: str) -> _Key:
    return tuple(_unquote(part) for part in re.findall(_KEY_PART, dotted))


# --- walking the model types ------------------------------------------------------------------


def _alternatives(annotation: Any) -> list[Any]:
    """The types a value may take: ``Annotated`` stripped, unions flattened, ``None`` dropped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _alternatives(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _alternatives(arg)]
    return [] if annotation is type(None) else [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [
        t for t in _alternatives(annotation) if isinstance(t, type) and issubclass(t, BaseModel)
    ]


def _tags(model: type[BaseModel]) -> list[str]:
    """Literal values of a model's fields: the tags a discriminated union selects it by."""
    return [
        value
        for field in model.model_fields.values()
        if get_origin(field.annotation) is Literal
        for value in get_args(field.annotation)
    ]


def _child_type(annotation: Any, name: str | int) -> Any:
    """The type found under ``name`` in a value of type ``annotation`` (None when unknown)."""
    for alternative in _alternatives(annotation):
        if isinstance(alternative, type) and issubclass(alternative, BaseModel):
            if name in alternative.model_fields:
                return alternative.model_fields[name].annotation
        elif get_origin(alternative) is list and str(name).isdigit():
            return get_args(alternative)[0]
        elif get_origin(alternative) is dict:
            return get_args(alternative)[1]
    return None


def _resolve(loc: Sequence[str | int], root: type[BaseModel]) -> tuple[_Key, Any]:
    """A pydantic location under ``root`` as the user's key path (union tags dropped) and the
    type there."""
    key: list[str] = []
    annotation: Any = root
    for name in loc:
        members = _models(annotation)
        if len(_alternatives(annotation)) > 1:
            chosen = [m for m in members if name == m.__name__ or name in _tags(m)]
            if chosen:
                annotation = chosen[0]
                continue
        key.append(str(name))
        annotation = _child_type(annotation, name)
    return tuple(key), annotation


def _field_names(annotation: Any) -> list[str]:
    return [name for model in _models(annotation) for name in model.model_fields]


def _dict_key_type(annotation: Any) -> Any:
    for alternative in _alternatives(annotation):
        if get_origin(alternative) is dict:
            return get_args(alternative)[0]
    return None


def _literal_values(annotation: Any) -> list[Any]:
    return [
        value
        for alternative in _alternatives(annotation)
        if get_origin(alternative) is Literal
        for value in get_args(alternative)
    ]


def _is_scalar(annotation: Any) -> bool:
    """Whether values of a known type are neither tables nor arrays (unknown: ``False``)."""
    return annotation is not None and not _is_table(annotation)


def _is_table(annotation: Any) -> bool:
    return any(
        get_origin(t) is dict or (isinstance(t, type) and issubclass(t, BaseModel))
        for t in _alternatives(annotation)
    )


def _kind(annotation: Any) -> str:
    """What values of a type are, in TOML words: ``an integer``, ``an array``..."""
    alternatives = _alternatives(annotation)
    first = (get_origin(alternatives[0]) or alternatives[0]) if alternatives else None
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return (names | {list: "an array", Literal: "a string"}).get(first, "a value")
