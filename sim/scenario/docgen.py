"""The reference pages ``docs/scenarios.md`` (every scenario key) and ``docs/policies.md`` (the
policy families), generated from the models and the policy registry.

The models in :mod:`mqlsim.scenario.models` and :mod:`mqlsim.policies` are the single source of
keys, types, defaults and meanings; generating the pages from them keeps them from drifting.
``python -m mqlsim.cli.docgen`` prints or checks them.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import re
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mqlsim.core import vocabulary
from mqlsim.policies import POLICIES
from mqlsim.policies.plugins import PluginPolicyConfig
from mqlsim.policies.sections import FitAttribute, PolicyConfigBase
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.toml_text import toml_key, toml_value

_VOCABULARY = [
    ("activity", vocabulary.Activity, vocabulary.ACTIVITIES),
    ("job level", vocabulary.JobLevel, vocabulary.JOB_LEVELS),
    ("company size", vocabulary.CompanySize, vocabulary.COMPANY_SIZES),
    ("industry", vocabulary.Industry, vocabulary.INDUSTRIES),
    ("region", vocabulary.Region, vocabulary.REGIONS),
    ("grade", vocabulary.Grade, vocabulary.GRADES),
    ("fit field", FitAttribute, tuple(vocabulary.FIT_ATTRIBUTES)),
]
_ROOT = Path(__file__).resolve().parents[2]
_SPHINX_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")

_INTRO = """\
# Scenario files

<!-- Generated from sim/scenario/models.py by `python -m mqlsim.cli.docgen`; do not edit by hand.
     CI checks it with `python -m mqlsim.cli.docgen --check docs/scenarios.md`. -->

A scenario is one UTF-8 [TOML](https://toml.io) file. Every key below is optional and has the
default shown, so an empty file is the baseline scenario. Units are in the key names: `_days` and
`_hours` are durations, `_per_day` a rate per day, `_probability` a chance from 0 to 1, `_hour` a
time of day; money (`cost_`, `deal_value_`) is in one unnamed currency.

**Unknown keys are errors**, never ignored. Every problem in a file is reported at once, one line
each, naming the file, the key, what was expected and the line:

```text
my.toml: policy.thresold: unknown key 'thresold' (did you mean 'threshold'?) (line 4)
my.toml: sales.reps: expected a value >= 1, found 0 (line 9)
```

**`extends`.** `extends = "baseline.toml"` at the top of a file loads that file first (the path
is relative to the extending file's folder; chains are allowed, cycles are errors) and applies
this file over it: tables merge key by key, so a file holds only what it changes; arrays (such as
`weekly_seasonality` or `[[population.channels]]`) and single values replace the inherited ones
whole. `extends` reads only regular files named `*.toml` of at most 1 MiB, in chains of at most
32 files ([security](security.md) says what that protects).

**Numbers** are TOML numbers: `1_000` is 1000, `0x10` is 16 (hexadecimal; `0o` octal and `0b`
binary too), `1e3` is 1000.0. They must be finite: `nan`, `inf` and numbers beyond the largest
(`1e400`, which TOML reads as `inf`) are errors, except for the keys whose type below says
`or inf`, where `inf` means "never" (a half-life, a refit interval) or "no limit" (a window).
Tables and arrays nest at most 32 levels deep.

**Files apply over the defaults. One merge rule holds everywhere:** every table merges over
the table beneath it key by key (the file it extends, then the defaults), so `[policy.points]`
with `pricing_page = 40` changes that one entry and keeps the others; set an entry to 0 to
switch it off. Arrays (such as `[[population.personas]]`) and single values replace what is
beneath them whole. A policy or cadence table (one with a `kind`) merges over the defaults *of
its kind* wherever it sits — `[policy]`, `[nurture]`, a rule of `any_of`/`all_of`, a gate's
`rule` — so `points = { demo_request = 0 }` inside a rule keeps the other 15 point values there
too; a table that names another `kind` than the one beneath it replaces it, then merges over its
own kind's defaults. Items of other arrays (channels, personas) take each key they leave out from
that key's default. `mqlsim show FILE` prints the result with each value's source.

**Policies** are explained family by family in [policies.md](policies.md). A `[policy]` or
`[nurture]` `kind` that is not built in names third-party code and **imports and runs it**
([plug-ins](plugins.md)): an installed entry point loads as named, a `"package.module:Class"`
only when the person running the command gives `--allow-plugins`, and `mqlsim validate` imports
nothing. The scenario files shipped with mqlsim never name one.

**`--set KEY=VALUE`** on the command line overrides any key after `extends`, in order:
`mqlsim run my.toml --set policy.threshold=80 --set sales.reps=5` (`validate` and `show` take
`--set` too). KEY is the dotted key of this page; an item of an array of tables is addressed by
its index from 0 (`--set population.personas.1.share=0.3`, `--set policy.rules.0.threshold=90`).
VALUE is a TOML literal (`80`, `true`, `"text"`, `[1, 2]`, `{ A = 0.9 }`). A value that is not
valid TOML and does not start with a quote or a bracket is taken as text
(`--set nurture.kind=drip`, `--set 'scenario.name=my run'`); quote digits meant as text
(`--set 'scenario.name="2025"'`). `--set` replaces the value at KEY (an inline table replaces
the table at KEY, the way to drop entries: `--set 'policy.frequency_caps={ web_visit = 3 }'`),
and arrays are replaced whole unless an item is addressed:
`--set 'population.channels=[{ name = "web", share = 1 }]'`. A policy or cadence table that
`--set` writes still merges over its kind's defaults, and setting a `kind` to another kind starts
that table from the new kind's defaults (`--set policy.kind=trigger --set policy.count=3`).
"""


def render() -> str:
    """The whole reference page as Markdown."""
    parts = [_INTRO, _vocabulary()]
    for name, field in Scenario.model_fields.items():
        parts.extend(_sections(name, field, level=2))
    return "\n".join(parts).rstrip() + "\n"


def _vocabulary() -> str:
    lines = [
        "## Vocabulary",
        "",
        "Table keys and values name these (see `sim/core/vocabulary.py`):",
        "",
    ]
    for title, _, values in _VOCABULARY:
        lines.append(f"- **{title}**: " + ", ".join(f"`{v}`" for v in values))
    derived = ", ".join(f"`{a}`" for a in vocabulary.DERIVED_ACTIVITIES)
    lines.append(
        f"- derived activities (responses to touches, registrations and trials): {derived}"
    )
    return "\n".join(lines) + "\n"


def _sections(key: str, field: FieldInfo, level: int) -> Iterator[str]:
    """The section for a table-valued field, then one per nested table or array of tables."""
    for model, tag in _table_models(field.annotation):
        header = f"[{key}]" if tag is None else f"[{key}] with kind = {json.dumps(tag)}"
        yield from _model_section(key, f"`{header}`", model, level)
    value = _dict_value_model(field.annotation)
    if value is not None:
        header = f"`[{key}.NAME]` (one table per name)"
        yield from _model_section(f"{key}.NAME", header, value, level)
    item = _list_item_model(field.annotation)
    if item is not None:
        yield from _model_section(f"{key}[]", f"`[[{key}]]` (one table per item)", item, level)
        default = field.get_default(call_default_factory=True)
        if default:
            blocks = [
                f"[[{key}]]\n" + _toml_lines(m.model_dump(exclude_defaults=True)) for m in default
            ]
            yield f"Default ({len(default)} items; keys not shown take the defaults above):\n"
            yield "```toml\n" + "\n\n".join(blocks) + "\n```\n"


def _model_section(key: str, header: str, model: type[BaseModel], level: int) -> Iterator[str]:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        dotted = f"{key}.{name}"
        cells = [f"`{dotted}`", _type_text(field.annotation, field.metadata), _default(field)]
        rows.append("| " + " | ".join([*cells, _escape(field.description or "")]) + " |")
        holds_table = (
            _table_models(field.annotation)
            or _list_item_model(field.annotation)
            or _dict_value_model(field.annotation)
        )
        if holds_table and not _is_policy_union(field.annotation):
            nested.append((dotted, field))
    doc = " ".join((model.__doc__ or "").split())
    yield f"{'#' * level} {header}\n\n{doc}\n\n" + "\n".join(rows) + "\n"
    for dotted, field in nested:
        yield from _sections(dotted, field, level + 1)


def _alternatives(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return _alternatives(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _alternatives(arg)]
    return [] if annotation is type(None) else [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _table_models(annotation: Any) -> list[tuple[type[BaseModel], str | None]]:
    """The models a table-valued field may hold, with their ``kind`` tag when there are several."""
    models = [t for t in _alternatives(annotation) if _is_model(t)]
    if len(models) < 2:
        return [(m, None) for m in models]
    return [(m, _kind_tag(m)) for m in models]


def _kind_tag(model: type[BaseModel]) -> str:
    """The ``kind`` that selects ``model``: its literal, or an example for a free-form kind."""
    field = model.model_fields["kind"]
    if get_origin(field.annotation) is Literal:
        return str(field.default)
    return str((field.examples or ["..."])[0])


def _is_policy_union(annotation: Any) -> bool:
    """Whether a field holds a policy table of any kind (the combinations' rules, the gate's)."""
    models = [t for t in _alternatives(annotation) if _is_model(t)]
    return len(models) > 1 and all(issubclass(m, PolicyConfigBase) for m in models)


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a table of named tables (``dict[str, Model]``), if the field is one."""
    for alternative in _alternatives(annotation):
        if get_origin(alternative) is dict and _is_model(get_args(alternative)[1]):
            return get_args(alternative)[1]
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    for alternative in _alternatives(annotation):
        if get_origin(alternative) is list and _is_model(get_args(alternative)[0]):
            return get_args(alternative)[0]
    return None


def _type_text(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """A type in TOML words with its constraints: ``number > 0``, ``table: grade → number``."""
    if _is_policy_union(annotation):
        return "policy table (any kind)"
    texts = [
        _base_type_text(base, _constraints([*metadata, *extras]))
        for base, extras in _annotated_alternatives(annotation)
    ]
    return " or ".join(texts)


def _annotated_alternatives(annotation: Any, extras: Sequence[Any] = ()) -> list[tuple[Any, list]]:
    """Like :func:`_alternatives`, keeping each alternative's ``Annotated`` extras."""
    if get_origin(annotation) is Annotated:
        base, *more = get_args(annotation)
        return _annotated_alternatives(base, [*extras, *more])
    if get_origin(annotation) in (Union, types.UnionType):
        return [pair for arg in get_args(annotation) for pair in _annotated_alternatives(arg)]
    return [] if annotation is type(None) else [(annotation, list(extras))]


def _base_type_text(annotation: Any, constraints: dict[str, Any]) -> str:
    origin = get_origin(annotation)
    if _is_model(annotation):
        return "table (below)"
    if origin is list:
        item = get_args(annotation)[0]
        if _is_model(item):
            return "array of tables (below)"
        text = "array of policy tables (any kind)"
        if not _is_policy_union(item):
            text = f"array of {_type_text(item)}"
        low, high = constraints.get("min_length"), constraints.get("max_length")
        if low is not None and low == high:
            return f"{text}, {low} items"
        return text + (f", at least {low} items" if low else "")
    if origin is dict:
        key, value = get_args(annotation)
        return f"table: {_type_text(key)} → {_type_text(value)}"
    if origin is Literal:
        for title, alias, _ in _VOCABULARY:
            if annotation == alias:
                return title
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in get_args(annotation))
    names = {bool: "boolean", int: "integer", float: "number", str: "string", Any: "any value"}
    text = " ".join([names.get(annotation, str(annotation)), *_bounds(constraints)])
    return text + (", or inf" if constraints.get("allow_inf_nan") else "")


def _constraints(extras: Sequence[Any]) -> dict[str, Any]:
    """Bounds and lengths (``ge``, ``max_length``...) from field metadata and Annotated extras."""
    found: dict[str, Any] = {}
    for extra in extras:
        for item in extra.metadata if isinstance(extra, FieldInfo) else [extra]:
            if dataclasses.is_dataclass(item):
                found |= {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    return found


def _bounds(constraints: dict[str, Any]) -> list[str]:
    low, high = constraints.get("ge"), constraints.get("le")
    if low is not None and high is not None:
        return [f"{_number(low)} to {_number(high)}"]
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    texts = [
        f"{sign} {_number(constraints[n])}"
        for n, sign in signs.items()
        if n in constraints and math.isfinite(constraints[n])  # "> -inf" bounds nothing
    ]
    return [", ".join(texts)] if texts else []


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if _is_policy_union(field.annotation):  # a policy table of any kind: its kind's defaults
        return f"`{{ kind = {toml_value(value.kind)} }}`"
    if _list_item_model(field.annotation) or isinstance(value, BaseModel):
        return "see below"
    return "none" if value is None else f"`{toml_value(value)}`"


def _toml_lines(table: dict[str, Any]) -> str:
    return "\n".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


_POLICIES_INTRO = """\
# Policy families

<!-- Generated from the policy registry by `python -m mqlsim.cli.docgen policies`; do not edit
     by hand. CI checks it with `python -m mqlsim.cli.docgen --check docs/policies.md`. -->

A scenario's `[policy]` section picks one family by its `kind` and sets that family's keys;
every key has a default, so `kind` alone is a complete policy. A policy sees a lead's activities
and observable fit (never its hidden intent) and decides whether and when the lead becomes an MQL,
with a reason a person can read. The same code runs in the simulator and on a recorded event log
(`mqlsim replay`). The combinations and the data gate hold policy tables of any kind, so rules
nest. Every key is also listed in [the scenario reference](scenarios.md).

A `kind` that is not built in names third-party code — an installed entry point of the group
`mqlsim.policies`, or `"package.module:Class"`, which loads only with `--allow-plugins` — and
**imports and runs that code**; see [plug-ins](plugins.md). The scenario files shipped with
mqlsim never name one.
"""


def render_policies() -> str:
    """The policy families page as Markdown: one section per family module."""
    modules: dict[str, list[str]] = {}
    for kind, (_, policy) in POLICIES.items():
        modules.setdefault(policy.partition(":")[0], []).append(kind)
    contents = " · ".join(
        f"[{', '.join(f'`{k}`' for k in kinds)}](#{_anchor(kinds)})" for kinds in modules.values()
    )
    parts = [_POLICIES_INTRO, f"Families: {contents} · [plug-ins](#plug-ins)\n"]
    for module, kinds in modules.items():
        title = ", ".join(f"`{kind}`" for kind in kinds)
        docstring = importlib.import_module(module).__doc__ or ""
        parts.append(f"## {title}\n\n{_markdown(docstring)}\n")
        examples = [
            f"[`scenarios/{name}`](../scenarios/{name})"
            for name in (f"policy_{kind}.toml" for kind in kinds)
            if (_ROOT / "scenarios" / name).is_file()
        ]
        if examples:
            parts.append(f"Example: {', '.join(examples)}\n")
        for kind in kinds:
            header = f"`[policy]` with kind = {json.dumps(kind)}"
            parts.extend(_model_section("policy", header, POLICIES[kind][0], level=3))
    parts.append(
        "## Plug-ins\n\nAny other `kind` names a policy class from another package; its settings "
        "go in `params`. See [plug-ins](plugins.md).\n"
    )
    header = f"`[policy]` with kind = {json.dumps(_kind_tag(PluginPolicyConfig))}"
    parts.extend(_model_section("policy", header, PluginPolicyConfig, level=3))
    return "\n".join(parts).rstrip() + "\n"


def _anchor(kinds: list[str]) -> str:
    """GitHub's anchor for a heading listing ``kinds`` in code spans."""
    return re.sub(r"[^a-z0-9_ -]", "", ", ".join(kinds).lower()).replace(" ", "-")


def _markdown(docstring: str) -> str:
    """A module docstring as Markdown: Sphinx roles and ``::`` become plain code and colons."""
    text = _SPHINX_ROLE.sub(r"`\1`", inspect.cleandoc(docstring))
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


PAGES = {"scenarios": render, "policies": render_policies}
