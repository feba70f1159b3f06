"""The registry of built-in families (policies/sections.py): each kind's section builds the
class its registration names, from the family's own module, which is imported only then."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic import TypeAdapter

from mqlsim.policies import CADENCES, POLICIES, CadenceConfig, PolicyConfig

#: The keys without a default, for the families that wrap other policies.
_REQUIRED: dict[str, dict[str, Any]] = {
    "any_of": {"rules": [{"kind": "trigger"}]},
    "all_of": {"rules": [{"kind": "trigger"}]},
    "gate": {"rule": {"kind": "trigger"}},
}


@pytest.mark.parametrize(
    ("registry", "section_type", "kind"),
    [(POLICIES, PolicyConfig, kind) for kind in POLICIES]
    + [(CADENCES, CadenceConfig, kind) for kind in CADENCES],
)
def test_each_kind_builds_the_class_it_registered(
    registry: dict[str, tuple[type, str]], section_type: Any, kind: str
) -> None:
    model, reference = registry[kind]
    section = TypeAdapter(section_type).validate_python({"kind": kind, **_REQUIRED.get(kind, {})})
    assert type(section) is model
    module, _, name = reference.partition(":")
    assert type(section.build()) is getattr(importlib.import_module(module), name)
