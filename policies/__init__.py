"""MQL policies and nurture cadences; importing the package registers the built-in ones.

``PolicyConfig`` and ``CadenceConfig`` are the types of a scenario's ``[policy]`` and
``[nurture]`` sections: any registered kind, told apart by its ``kind`` key, or a plug-in
(:mod:`mqlsim.policies.plugins`) for a kind that names third-party code.
"""

import importlib
from collections.abc import Callable
from typing import Any, cast

from mqlsim.policies.base import CADENCES, POLICIES, config_union, make_cadence, make_policy
from mqlsim.policies.plugins import PluginCadenceConfig, PluginPolicyConfig

#: Modules of the built-in policies and cadences, in the order the docs list them; importing a
#: module registers what it defines. Add a new family's module here.
MODULES = (
    "score",
    "trigger",
    "content",
    "handraise",
    "pql",
    "matrix",
    "predictive",
    "combine",
    "gate",
    "nurture",
)
for _module in MODULES:
    importlib.import_module(f"mqlsim.policies.{_module}")

PolicyConfig: Any = config_union(POLICIES, PluginPolicyConfig)
CadenceConfig: Any = config_union(CADENCES, PluginCadenceConfig)

# Sections that hold policy sections (combinations, the gate) name ``PolicyConfig``, which
# exists only now that every family is registered: complete their models with it.
for _model, _ in POLICIES.values():
    if not _model.__pydantic_complete__:
        _model.model_rebuild(_types_namespace={"PolicyConfig": PolicyConfig})


def default_policy() -> Any:
    """The baseline's policy: a points score."""
    # The registered model gives ``kind`` a default; the base class it is typed as has none.
    return cast(Callable[[], Any], POLICIES["score"][0])()


def default_cadence() -> Any:
    """The baseline's cadence: a weekly drip."""
    # The registered model gives ``kind`` a default; the base class it is typed as has none.
    return cast(Callable[[], Any], CADENCES["drip"][0])()


__all__ = [
    "MODULES",
    "CadenceConfig",
    "PolicyConfig",
    "default_cadence",
    "default_policy",
    "make_cadence",
    "make_policy",
]
