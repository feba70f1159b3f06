"""Data gate: MQL only for leads whose required fit fields are known.

`rule` is the wrapped policy (any kind). A lead whose `required_fields` are all known becomes MQL
when, and as, the rule says; a lead missing one of them never does, however engaged it is. Fit
fields do not change during a lead's life (in the simulator and in a recorded log alike), so the
gate blocks a lead rather than delaying it. A field is missing when the population leaves it
unknown (`population.missing_field_probability`), or, in a replayed event log, when its column
is empty for the lead or absent from the log.
"""

from __future__ import annotations

import numpy as np

from mqlsim.policies.base import (
    MISSING_CODE,
    LeadView,
    Qualification,
    rule_codes,
    rule_names,
)
from mqlsim.policies.sections import GatePolicyConfig, make_policy


class GatePolicy:
    """The wrapped rule's decision for leads with every required field, none for the others."""

    def __init__(self, config: GatePolicyConfig) -> None:
        self.config = config
        self.rule = make_policy(config.rule)
        #: The gated rule's names (its kind, or its own rules): breakdowns by rule see through
        #: the gate.
        self.rule_names = rule_names(self.rule, config.rule.kind)

    def missing(self, view: LeadView) -> np.ndarray:
        """Per lead, whether any required field is unknown."""
        absent = np.zeros(view.events.n_leads, dtype=bool)
        for field in self.config.required_fields:
            if field not in view.fit:
                return np.ones_like(absent)
            absent |= view.fit[field] == MISSING_CODE
        return absent

    def qualify(self, view: LeadView) -> Qualification:
        """The rule's decisions, withdrawn for leads missing a required field."""
        decision = self.rule.qualify(view)
        blocked = self.missing(view)
        return Qualification(
            time=np.where(blocked, np.nan, decision.time),
            priority=np.where(blocked, np.nan, decision.priority),
            event=np.where(blocked, -1, decision.event),
            rule=np.where(blocked, -1, rule_codes(decision)),
        )

    def explain(self, view: LeadView, lead: int) -> str:
        """``gate: job_level, company_size known [<the rule's reason>]``, or why it is blocked."""
        alone = view.subset(np.array([lead]))
        reason = self.rule.explain(alone, 0)
        fields = self.config.required_fields
        lacking = [f for f in fields if f not in alone.fit or alone.fit[f][0] == MISSING_CODE]
        if lacking:
            return f"not MQL: gate: missing {', '.join(lacking)} (rule: {reason})"
        if np.isnan(self.rule.qualify(alone).time[0]):
            return "not MQL"
        return f"gate: {', '.join(fields) or 'no fields'} known [{reason}]"
