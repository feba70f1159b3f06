"""MQL policies and nurture cadences; importing the package registers the built-in ones.

``PolicyConfig`` and ``CadenceConfig`` are the types of a scenario's ``[policy]`` and
``[nurture]`` sections: any registered kind, told apart by its ``kind`` key.
"""

from typing import Any

from policies import nurture, score
from policies.base import CADENCES, POLICIES, config_union, make_cadence, make_policy

PolicyConfig: Any = config_union(POLICIES)
CadenceConfig: Any = config_union(CADENCES)


def default_policy() -> Any:
    """The baseline's policy: a points score."""
    return POLICIES["score"][0]()


def default_cadence() -> Any:
    """The baseline's cadence: a weekly drip."""
    return CADENCES["drip"][0]()


__all__ = [
    "CadenceConfig",
    "PolicyConfig",
    "default_cadence",
    "default_policy",
    "make_cadence",
    "make_policy",
    "nurture",
    "score",
]
