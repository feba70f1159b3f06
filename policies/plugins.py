"""Third-party policies and cadences: a scenario names a class from another installed package.

**Loading a plug-in imports and runs its code**, so a scenario file alone can never make mqlsim
do it: the person running the command opts in. A ``[policy]`` (or ``[nurture]``) section names
a plug-in by its ``kind`` when that is not a built-in kind:

- ``kind = "name"`` loads the entry point ``name`` of the group ``mqlsim.policies`` (cadences:
  ``mqlsim.cadences``) that an installed package declares: installing the package was the
  opt-in. Built-in kinds take precedence.
- ``kind = "package.module:Class"`` imports ``package.module`` and takes its ``Class``, but only
  when the runner allows it (``--allow-plugins``, or ``allow_plugins=True`` in the Python API);
  otherwise the kind is an error that says so.

What validation may do is the ``plugins`` entry of pydantic's validation context
(:data:`PluginAccess`, given by :func:`mqlsim.scenario.loading.load_scenario`); without one,
only installed entry points load. ``mqlsim validate`` imports nothing (``"none"``): it checks a
plug-in section's form, not its ``params``.

The plug-in's own settings go in the section's ``params`` table. If the class has a pydantic
model as its ``Config`` attribute, ``params`` is validated with it (errors name
``policy.params.<key>`` like any other scenario error) and the class is constructed with the
validated ``Config`` instance; otherwise it is constructed with the ``params`` dict.
A policy class must have the methods of :class:`mqlsim.policies.base.Policy`, a cadence class
those of :class:`mqlsim.policies.base.Cadence` (see ``docs/plugins.md``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from mqlsim.core.schema import NonNegative, StrictModel
from mqlsim.policies.sections import CadenceConfigBase, PolicyConfigBase

POLICY_GROUP = "mqlsim.policies"
CADENCE_GROUP = "mqlsim.cadences"

#: What validating a scenario may load: ``"entry_points"`` installed entry points only (the
#: default: a ``module:Class`` kind is an error saying how to opt in); ``"any"`` entry points
#: and ``module:Class`` kinds (the runner opted in); ``"none"`` nothing at all (a plug-in
#: section is checked for its form only: ``mqlsim validate``).
PluginAccess = Literal["entry_points", "any", "none"]
OPT_IN = "--allow-plugins (Python API: allow_plugins=True)"


def plugin_access(context: Mapping[str, Any] | None) -> PluginAccess:
    """The :data:`PluginAccess` a validation context grants (``"entry_points"`` when unset)."""
    access = (context or {}).get("plugins", "entry_points")
    if access not in ("entry_points", "any", "none"):
        raise ValueError(f"unknown plug-in access {access!r}")
    return access


def _reason(error: BaseException) -> str:
    """An exception as the short reason inside an error line."""
    if isinstance(error, ImportError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _entry_point(name: str, group: str) -> importlib.metadata.EntryPoint | None:
    """The installed entry point ``name`` of ``group``, if any package declares one."""
    for point in importlib.metadata.entry_points(group=group):
        if point.name == name:
            return point
    return None


def _reference(reference: str) -> tuple[str, str]:
    """``package.module:Attribute`` as its module and attribute, both dotted identifiers;
    ``ValueError`` otherwise (nothing is imported)."""
    module_name, _, attribute = reference.partition(":")
    if not all(
        part.isidentifier() for name in (module_name, attribute) for part in name.split(".")
    ):
        raise ValueError(f"expected 'package.module:Class', found {_cut(reference)!r}")
    return module_name, attribute


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _import(reference: str) -> Any:
    """The object that ``package.module:Attribute`` names (``Attribute`` may be dotted)."""
    module_name, attribute = _reference(reference)
    try:
        found = importlib.import_module(module_name)
    except Exception as error:
        raise ValueError(f"cannot import {reference!r} ({_reason(error)})") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(
                f"cannot import {reference!r} ({found.__name__!r} has no attribute {part!r})"
            ) from None
    return found


def load_plugin(kind: str, group: str, methods: tuple[str, ...]) -> Any:
    """The class ``kind`` names (``module:Class`` or an entry point of ``group``), checked to
    have ``methods``; ``ValueError`` with a one-line reason when it cannot be used."""
    if ":" in kind:
        plugin = _import(kind)
    else:
        point = _entry_point(kind, group)
        if point is None:
            raise ValueError(f"no entry point {kind!r} in group {group}")
        try:
            plugin = point.load()
        except Exception as error:
            raise ValueError(
                f"cannot load entry point {kind!r} = {point.value!r} of group {group} "
                f"({_reason(error)})"
            ) from None
    lacking = [name for name in methods if not callable(getattr(plugin, name, None))]
    if lacking:
        needed = ", ".join(f"{name}()" for name in methods)
        raise ValueError(f"{kind!r} is not usable here: it needs the methods {needed}")
    settings_model = getattr(plugin, "Config", None)
    if settings_model is not None and not (
        isinstance(settings_model, type) and issubclass(settings_model, BaseModel)
    ):
        raise ValueError(f"{kind!r}: its Config must be a pydantic model")
    return plugin


def plugin_settings(plugin: Any, params: dict[str, Any]) -> Any:
    """``params`` validated by the plug-in's ``Config`` model, or as given when it has none."""
    settings_model = getattr(plugin, "Config", None)
    return dict(params) if settings_model is None else settings_model.model_validate(params)


class PluginSection(StrictModel):
    """A section that names third-party code by its ``kind``, with its settings in ``params``."""

    group: ClassVar[str]
    methods: ClassVar[tuple[str, ...]]

    kind: str = Field(
        description="The name of an installed entry point, or 'package.module:Class' (needs "
        "--allow-plugins); imports and runs that code.",
        examples=["package.module:Class"],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The plug-in's settings, validated by its Config model when it has one.",
    )

    @classmethod
    def claims(cls, kind: str) -> bool:
        """A kind names a plug-in when it holds a ``:`` or an installed entry point has it."""
        return ":" in kind or _entry_point(kind, cls.group) is not None

    @classmethod
    def plugin(cls, kind: str) -> Any:
        """The plug-in class ``kind`` names (imports its module)."""
        return load_plugin(kind, cls.group, cls.methods)

    @field_validator("kind")
    @classmethod
    def _loads(cls, kind: str, info: ValidationInfo) -> str:
        access = plugin_access(info.context)
        if ":" in kind:
            _reference(kind)
            if access == "entry_points":
                raise ValueError(
                    f"{kind!r} names code to import and run; to allow it (only for a module"
                    f" you trust), give {OPT_IN}, or install it as an entry point"
                    " (docs/plugins.md)"
                )
        if access != "none":
            cls.plugin(kind)
        return kind

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Without the kind, its own error says why; without access, nothing is imported.
        if "kind" in info.data and plugin_access(info.context) != "none":
            plugin_settings(cls.plugin(info.data["kind"]), params)
        return params

    def build(self) -> Any:
        """The plug-in object: its class constructed with its validated settings."""
        plugin = self.plugin(self.kind)
        return plugin(plugin_settings(plugin, self.params))


class PluginPolicyConfig(PluginSection, PolicyConfigBase):
    """`[policy]` with a plug-in `kind`: a policy class from another package (runs its code)."""

    group: ClassVar[str] = POLICY_GROUP
    methods: ClassVar[tuple[str, ...]] = ("qualify", "explain")


class PluginCadenceConfig(PluginSection, CadenceConfigBase):
    """`[nurture]` with a plug-in `kind`: a cadence class from another package (runs its code)."""

    group: ClassVar[str] = CADENCE_GROUP
    methods: ClassVar[tuple[str, ...]] = ("touch_times", "running")

    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before nurture resumes."
    )


def entry_point_value(section: PluginSection) -> str:
    """The ``module:attribute`` of the installed entry point a section's ``kind`` names."""
    point = _entry_point(section.kind, section.group)
    return "" if point is None else point.value


def plugin_sections(value: object) -> list[PluginSection]:
    """Every plug-in section in ``value`` (a scenario or a section), nested ones included."""
    if isinstance(value, PluginSection):
        return [value]
    if isinstance(value, BaseModel):
        children: Any = [getattr(value, name) for name in type(value).model_fields]
    elif isinstance(value, dict):
        children = value.values()
    elif isinstance(value, list | tuple):
        children = value
    else:
        return []
    return [section for child in children for section in plugin_sections(child)]
