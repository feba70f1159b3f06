"""MQL policies and nurture cadences; importing the package registers the built-in ones."""

from policies import nurture, score
from policies.base import make_cadence, make_policy

__all__ = ["make_cadence", "make_policy", "nurture", "score"]
