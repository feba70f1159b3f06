"""MQL policies and nurture cadences; importing the package registers the built-in ones.

``PolicyConfig`` and ``CadenceConfig`` are the types of a scenario's ``[policy]`` and
``[nurture]`` sections: any registered kind, told apart by its ``kind`` key, or a plug-in
(:mod:`mqlsim.policies.plugins`) for a kind that names third-party code. The sections live in
:mod:`mqlsim.policies.sections`, which imports neither numpy nor any family's behaviour: a
family's module (``policies/score.py``...) is imported when a policy of its kind is built.
"""

from typing import Any

from mqlsim.policies.plugins import PluginCadenceConfig, PluginPolicyConfig
from mqlsim.policies.sections import (
    CADENCES,
    POLICIES,
    DripNurtureConfig,
    ScorePolicyConfig,
    config_union,
    make_cadence,
    make_policy,
)

PolicyConfig: Any = config_union(POLICIES, PluginPolicyConfig)
CadenceConfig: Any = config_union(CADENCES, PluginCadenceConfig)

# Sections that hold policy sections (combinations, the gate) name ``PolicyConfig``, which
# exists only now that every family is registered: complete their models with it.
for _model, _ in POLICIES.values():
    if not _model.__pydantic_complete__:
        _model.model_rebuild(_types_namespace={"PolicyConfig": PolicyConfig})


def default_policy() -> ScorePolicyConfig:
    """The baseline's policy: a points score."""
    return ScorePolicyConfig()


def default_cadence() -> DripNurtureConfig:
    """The baseline's cadence: a weekly drip."""
    return DripNurtureConfig()


__all__ = [
    "CADENCES",
    "POLICIES",
    "CadenceConfig",
    "PolicyConfig",
    "default_cadence",
    "default_policy",
    "make_cadence",
    "make_policy",
]
