"""Combinations: `any_of` and `all_of` over rules of any policy kind; combinations nest.

`rules` is an array of policy tables, each with its own `kind` (a rule may itself be an
`any_of`, an `all_of`, a `gate` or a plug-in), and every rule sees the same events. Each rule is
asked *whether and when it first fires*:

- `any_of` makes the lead MQL at the earliest moment any rule fires;
- `all_of` makes the lead MQL once every rule has fired at least once, at the latest of the
  rules' first firing times. A rule that fired earlier still counts then, even if it would no
  longer fire at that moment (say a score that has decayed below its threshold since).

The MQL's event is the one at which the deciding rule fired (on a tie, the first such rule in
order); breakdowns by rule (`--by rule`) name it by its place, `rules.1 (trigger)`. The
priority (for a sales queue worked by score) is the first numeric priority, in rule order,
among the rules that had fired by the MQL moment. The reason names the rules by their
place in `rules` (any_of: those that fired at the MQL moment; all_of: all of them) with the day
each first fired and its own reason in brackets, e.g.
`any_of: rules.1 (trigger) on day 6.00 [...]`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from mqlsim.policies.base import (
    LeadView,
    Qualification,
    rule_codes,
    rule_names,
)
from mqlsim.policies.sections import CombinationConfig, make_policy


class Combination(ABC):
    """Rules asked separately, their first firing times combined by :meth:`moment`."""

    name: ClassVar[str]

    def __init__(self, config: CombinationConfig) -> None:
        self.config = config
        self.rules = [make_policy(rule) for rule in config.rules]
        #: The rules by their place and kind, with the rule inside when a rule has rules too
        #: (``rules.0 (any_of) > rules.2 (score)``), for breakdowns by the rule that decided;
        #: rule ``i``'s own names start at ``self._first_name[i]``.
        names: list[str] = []
        self._first_name = []
        for index, (rule, rule_config) in enumerate(zip(self.rules, config.rules, strict=True)):
            self._first_name.append(len(names))
            own = f"rules.{index} ({rule_config.kind})"
            inner = rule_names(rule, rule_config.kind)
            names += [own] if inner == (rule_config.kind,) else [f"{own} > {n}" for n in inner]
        self.rule_names = tuple(names)

    @staticmethod
    @abstractmethod
    def moment(times: np.ndarray) -> np.ndarray:
        """The MQL time per lead from the rules' first firing times (rules × leads)."""

    def qualify(self, view: LeadView) -> Qualification:
        """Each lead's MQL from its rules' first firings."""
        decisions = [rule.qualify(view) for rule in self.rules]
        times = np.stack([decision.time for decision in decisions])
        time = self.moment(times)
        leads = np.arange(times.shape[1])
        fired = ~np.isnan(time)
        deciding = np.argmax(times == time, axis=0)  # first rule firing at the MQL moment
        events = np.stack([decision.event for decision in decisions])
        event = np.where(fired, events[deciding, leads], -1)
        priorities = np.stack([decision.priority for decision in decisions])
        scored = (times <= time) & ~np.isnan(priorities)
        first_scored = np.argmax(scored, axis=0)
        priority = np.where(scored.any(axis=0), priorities[first_scored, leads], np.nan)
        inner = np.stack([rule_codes(decision) for decision in decisions])
        first_name = np.array(self._first_name)[deciding]
        rule = np.where(fired, first_name + inner[deciding, leads], -1)
        return Qualification(time=time, priority=priority, event=event, rule=rule)

    def explain(self, view: LeadView, lead: int) -> str:
        """The rules that had fired by the MQL moment, each with its own reason in brackets."""
        alone = view.subset(np.array([lead]))
        times = np.array([rule.qualify(alone).time[0] for rule in self.rules])
        time = self.moment(times[:, None])[0]
        if np.isnan(time):
            return "not MQL"
        parts = [
            f"rules.{index} ({self.config.rules[index].kind}) on day {times[index]:.2f} "
            f"[{self.rules[index].explain(alone, 0)}]"
            for index in np.flatnonzero(times <= time)
        ]
        return f"{self.name}: " + ", ".join(parts)


class AnyOfPolicy(Combination):
    """MQL at the earliest first firing of any rule."""

    name = "any_of"

    @staticmethod
    def moment(times: np.ndarray) -> np.ndarray:
        """The earliest firing (``nan`` when no rule fires)."""
        return np.fmin.reduce(times, axis=0)


class AllOfPolicy(Combination):
    """MQL at the latest first firing, once every rule has fired."""

    name = "all_of"

    @staticmethod
    def moment(times: np.ndarray) -> np.ndarray:
        """The latest first firing (``nan`` when some rule never fires)."""
        return np.max(times, axis=0)
