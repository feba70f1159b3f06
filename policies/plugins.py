"""Third-party policies and cadences: a scenario names a class from another installed package.

**Naming a plug-in imports and runs its code.** Only use scenario files you trust when they
name one; the scenario files shipped with mqlsim name built-in kinds only.

A ``[policy]`` (or ``[nurture]``) section names a plug-in by its ``kind`` when that is not a
built-in kind:

- ``kind = "package.module:Class"`` imports ``package.module`` and takes its ``Class``;
- ``kind = "name"`` loads the entry point ``name`` of the group ``mqlsim.policies`` (cadences:
  ``mqlsim.cadences``) that an installed package declares. Built-in kinds take precedence.

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
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from mqlsim.core.schema import NonNegative, StrictModel
from mqlsim.policies.base import CadenceConfigBase, PolicyConfigBase

POLICY_GROUP = "mqlsim.policies"
CADENCE_GROUP = "mqlsim.cadences"


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


def _import(reference: str) -> Any:
    """The object that ``package.module:Attribute`` names (``Attribute`` may be dotted)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'package.module:Class', found {reference!r}")
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
        description="'package.module:Class', or the name of an installed entry point; "
        "imports and runs that code.",
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
    def _loads(cls, kind: str) -> str:
        cls.plugin(kind)
        return kind

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "kind" in info.data:  # else the kind's own error says why
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
