"""The plug-in interfaces: MQL policies and nurture cadences, and what they read and return.

A policy reads what marketing can see of a group of leads — their activity events and
observable fit, never the hidden intent — and says whether and when each lead becomes an MQL.
It works on whole arrays of leads at once, so the same code runs inside the simulator and on a
recorded event log. A cadence says when a lead that is being nurtured receives touches. Their
settings, the scenario's ``[policy]`` and ``[nurture]`` sections, are in
:mod:`mqlsim.policies.sections`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mqlsim.core.events import EventLog

#: The fit code of a field the lead did not disclose (it earns 0 ICP points).
MISSING_CODE = -1


@dataclass(frozen=True)
class LeadView:
    """What a policy may see of ``events.n_leads`` leads.

    ``grade`` is each lead's ICP fit grade (0 = A ... 3 = D, or
    :data:`~mqlsim.core.vocabulary.UNKNOWN_GRADE` when its known fit does not decide it) and
    ``fit`` its explicit fit
    attributes (codes into :data:`mqlsim.core.vocabulary.FIT_ATTRIBUTES`, :data:`MISSING_CODE` where
    unknown; a field absent from ``fit`` is unknown for every lead). Lead ``i`` can become MQL
    only at an event at or after ``since[i]``; earlier events are history that a policy may
    count or ignore (a score with ``reset_on_recycle`` ignores it).

    ``memo``, when given, keeps what a policy computed from this view for other policies that
    read the same view (the points of a sweep share the view of their first MQLs): a policy
    may store there a value under a key naming every setting it depends on, and reuse it.

    ``source`` is each lead's source (its channel in the simulator, the log's ``source`` column
    in a replay): a code into ``source_names``, :data:`MISSING_CODE` where unknown; ``None``
    when no lead's source is known.
    """

    events: EventLog
    grade: np.ndarray
    fit: dict[str, np.ndarray]
    since: np.ndarray
    memo: dict[str, Any] | None = None
    source: np.ndarray | None = None
    source_names: tuple[str, ...] = ()

    def subset(self, leads: np.ndarray) -> LeadView:
        """The view of ``leads`` alone, renumbered ``0..len(leads)-1`` in that order."""
        return LeadView(
            events=self.events.take_leads(leads),
            grade=self.grade[leads],
            fit={name: codes[leads] for name, codes in self.fit.items()},
            since=self.since[leads],
            source=None if self.source is None else self.source[leads],
            source_names=self.source_names,
        )

    def with_since(self, since: np.ndarray) -> LeadView:
        """The same view with each lead's ``since`` replaced (no memo: decisions change)."""
        return dataclasses.replace(self, since=since, memo=None)


@dataclass(frozen=True)
class Qualification:
    """A policy's decision for each lead of a view.

    ``time`` is when the lead became MQL (``nan``: not in the view's events); ``priority``
    orders the sales queue when it is worked by score (higher first; ``nan``, for families
    without a score, after every scored lead); ``event`` is the index in
    ``view.events`` of the event that made the lead MQL (-1: none). ``rule``, for a policy
    made of several rules (one with ``rule_names``, such as a combination), is the position in
    ``rule_names`` of the rule that decided (-1: none); ``None`` for a policy that is one rule.
    """

    time: np.ndarray
    priority: np.ndarray
    event: np.ndarray
    rule: np.ndarray | None = None


def rule_names(policy: Policy, kind: str) -> tuple[str, ...]:
    """The names of ``policy``'s rules, which :attr:`Qualification.rule` indexes: its
    ``rule_names`` if it is made of rules (a combination names each by its place and kind, with
    the rule inside it when that has rules too: ``rules.0 (any_of) > rules.2 (score)``), else
    its ``kind`` alone."""
    names: tuple[str, ...] = tuple(getattr(policy, "rule_names", ()))
    return names or (kind,)


def rule_codes(decision: Qualification) -> np.ndarray:
    """Per lead, the position in :func:`rule_names` of the rule that made it MQL (0 for a
    policy that is one rule), -1 when it is not MQL."""
    if decision.rule is not None:
        return decision.rule
    return np.where(np.isnan(decision.time), -1, 0)


def rule_labels(policy: Policy, kind: str, decision: Qualification) -> list[str]:
    """Per lead, the name (:func:`rule_names`) of the rule behind ``policy``'s ``decision``;
    ``""`` where the lead never became MQL."""
    names = rule_names(policy, kind)
    return [names[code] if code >= 0 else "" for code in rule_codes(decision).tolist()]


def first_hits(view: LeadView, hits: np.ndarray, priority: np.ndarray) -> Qualification:
    """Each lead's MQL at its first event among ``hits`` (event indices, ascending).

    ``priority[k]`` is the lead's priority if ``hits[k]`` is its first hit.
    """
    events = view.events
    leads, first = np.unique(events.lead[hits], return_index=True)
    event = np.full(events.n_leads, -1, dtype=np.int64)
    event[leads] = hits[first]
    time = np.full(events.n_leads, np.nan)
    time[leads] = events.time[hits[first]]
    chosen = np.full(events.n_leads, np.nan)
    chosen[leads] = priority[first]
    return Qualification(time=time, priority=chosen, event=event)


class Policy(Protocol):
    """An MQL policy: vectorised over leads, deterministic, free of hidden information."""

    def qualify(self, view: LeadView) -> Qualification:
        """Each lead's first MQL moment among the events the view lets count."""
        ...

    def explain(self, view: LeadView, lead: int) -> str:
        """Why ``lead`` became MQL, for a person: the rule and the values behind it."""
        ...


@dataclass(frozen=True)
class History:
    """What a run has observed by ``time``, for a policy that learns from it.

    ``view`` holds the activity (up to ``time``) and fit of every lead arrived by ``time``,
    with ``since`` at its arrival; ``episode_*`` describe every MQL episode sales has opened so
    far: its lead (into ``view``), when it became MQL, and when sales found it an SQL (``nan``:
    not, or not yet). Only observed outcomes: never the hidden intent.
    """

    time: float
    view: LeadView
    episode_lead: np.ndarray
    episode_mql_time: np.ndarray
    episode_sql_time: np.ndarray


@runtime_checkable
class Refittable(Protocol):
    """Optional hooks of a policy that learns from the run it is part of (predictive models).

    The engine gives such a policy *epochs*: version ``k`` decides from the ``k``-th refit time
    on. At each refit time it calls :meth:`refit` with the history observed so far; when the
    policy changed, it decides again the first MQL of every lead not yet MQL (firing only at
    events from then on; the history still counts). Recycled leads are decided by the version
    in force when they resume. Every other policy is a single version for the whole run.
    """

    def refit_times(self, horizon_days: float) -> list[float]:
        """A run over ``horizon_days`` starts: the times (ascending, in (0, horizon)) at which
        to call :meth:`refit`. Until this is called the policy is not part of a run."""
        ...

    def refit(self, time: float, history: History) -> bool:
        """Learn from ``history`` a version valid from ``time`` on; ``False`` when the policy
        kept its previous version (the engine then has nothing to decide again)."""
        ...

    def report(self) -> dict[str, Any]:
        """What the policy learnt, as plain JSON data (for ``results.json``)."""
        ...


class Cadence(Protocol):
    """A nurture cadence: when a lead in nurture receives touches, and when its run stops.

    The engine plans each run whole with :meth:`touch_times`, has the lead answer every touch,
    cuts the run with :meth:`running` and at the lead's unsubscribe, then at its MQL. That is
    exact only because a touch's fate may depend on earlier touches, their answers and the
    lead's organic activity, never on later touches or on touch-caused activity.
    """

    def touch_times(
        self, start: np.ndarray, horizon_days: float, organic: EventLog | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Touches of nurture runs starting at ``start[i]`` for lead ``i``, if never stopped.

        ``organic`` holds each lead's organic activity (lead ``i``'s slice; ``None``: none),
        which may trigger touches. Returns ``(lead, time)`` sorted by lead, then time, with
        every time before the horizon.
        """
        ...

    def running(self, lead: np.ndarray, answered: np.ndarray) -> np.ndarray:
        """Which of the planned touches (sorted as above) are sent, given which were answered
        (opened): for each lead, a prefix of its touches, where the run stops (a sunset)."""
        ...
