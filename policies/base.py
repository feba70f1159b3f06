"""The plug-in interfaces: MQL policies and nurture cadences, and their registries.

A policy reads what marketing can see of a group of leads — their activity events and
observable fit, never the hidden intent — and says whether and when each lead becomes an MQL.
It works on whole arrays of leads at once, so the same code runs inside the simulator and on a
recorded event log. A cadence says when a lead that is being nurtured receives touches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, Union

import numpy as np
from pydantic import Field

from sim.events import EventLog
from sim.schema import StrictModel


@dataclass(frozen=True)
class LeadView:
    """What a policy may see of ``events.n_leads`` leads.

    ``grade`` is each lead's ICP fit grade (0 = A ... 3 = D) and ``fit`` its explicit fit
    attributes (codes into :data:`sim.vocabulary.FIT_ATTRIBUTES`). Only events at or after
    ``since[i]`` count for lead ``i`` (a recycled lead starts afresh).
    """

    events: EventLog
    grade: np.ndarray
    fit: dict[str, np.ndarray]
    since: np.ndarray


@dataclass(frozen=True)
class Qualification:
    """A policy's decision for each lead of a view.

    ``time`` is when the lead became MQL (``nan``: not in the view's events); ``priority``
    orders the sales queue when it is worked by score (higher first; ``nan``, for families
    without a score, after every scored lead); ``event`` is the index in
    ``view.events`` of the event that made the lead MQL (-1: none).
    """

    time: np.ndarray
    priority: np.ndarray
    event: np.ndarray


class Policy(Protocol):
    """An MQL policy: vectorised over leads, deterministic, free of hidden information."""

    def qualify(self, view: LeadView) -> Qualification:
        """Each lead's first MQL moment among the events the view lets count."""
        ...

    def explain(self, view: LeadView, lead: int) -> str:
        """Why ``lead`` became MQL, for a person: the rule and the values behind it."""
        ...


class Cadence(Protocol):
    """A nurture cadence: when a lead in nurture receives touches."""

    def touch_times(self, start: np.ndarray, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """Touches of nurture runs starting at ``start[i]`` for lead ``i``.

        Returns ``(lead, time)`` sorted by lead, then time, with every time before the horizon.
        """
        ...


class PolicyConfigBase(StrictModel):
    """Base of every policy family's ``[policy]`` section; ``kind`` names the family."""

    kind: str

    def check_horizon(self, horizon_days: float) -> None:
        """Raise ``ValueError`` if the policy cannot run over ``horizon_days`` (default: it can)."""


class CadenceConfigBase(StrictModel):
    """Base of every cadence's ``[nurture]`` section; ``kind`` names the cadence."""

    kind: str


PolicyFactory = Callable[[Any], Policy]
CadenceFactory = Callable[[Any], Cadence]
#: kind -> (configuration model, factory that builds the policy from a validated config)
POLICIES: dict[str, tuple[type[PolicyConfigBase], PolicyFactory]] = {}
CADENCES: dict[str, tuple[type[CadenceConfigBase], CadenceFactory]] = {}


def register_policy(
    kind: str, config: type[PolicyConfigBase]
) -> Callable[[PolicyFactory], PolicyFactory]:
    """Class decorator: make a policy available as ``policy.kind = kind``, configured by
    ``config``."""

    def add(factory: PolicyFactory) -> PolicyFactory:
        POLICIES[kind] = (config, factory)
        return factory

    return add


def register_cadence(
    kind: str, config: type[CadenceConfigBase]
) -> Callable[[CadenceFactory], CadenceFactory]:
    """Class decorator: make a cadence available as ``nurture.kind = kind``."""

    def add(factory: CadenceFactory) -> CadenceFactory:
        CADENCES[kind] = (config, factory)
        return factory

    return add


def config_union(registry: dict[str, tuple[type[StrictModel], Any]]) -> Any:
    """The type of a section that may be any registered kind, told apart by ``kind``."""
    models = tuple(model for model, _ in registry.values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


def make_policy(config: PolicyConfigBase) -> Policy:
    """The policy a validated ``[policy]`` section describes."""
    return POLICIES[config.kind][1](config)


def make_cadence(config: CadenceConfigBase) -> Cadence:
    """The cadence a validated ``[nurture]`` section describes."""
    return CADENCES[config.kind][1](config)
