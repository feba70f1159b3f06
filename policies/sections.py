"""The scenario sections that configure policies and cadences: every built-in family's settings.

A family is two things: its section here (a pydantic model of the ``[policy]`` or ``[nurture]``
table, registered under its ``kind`` with :func:`register_policy` or :func:`register_cadence`)
and its behaviour, a class in the family's own module (``policies/score.py``...) that the
registration names as ``"package.module:Class"``. Checking a scenario file needs only the
sections, so this module imports no numpy and no family module: ``mqlsim validate`` reads a
file without loading the simulator, and a family's module is imported when a run builds its
policy (:meth:`PolicyConfigBase.build`). Third-party code is not registered here: it is a
plug-in (:mod:`mqlsim.policies.plugins`).
"""

from __future__ import annotations

import difflib
import math
import pkgutil
from collections.abc import Callable, Mapping
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    Protocol,
    TypeVar,
    Union,
    cast,
    get_args,
)

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WrapValidator,
    field_validator,
    model_validator,
)

from mqlsim.core.schema import (
    NonNegative,
    Positive,
    PositiveOrInfinite,
    ScoreOrNever,
    StrictModel,
)
from mqlsim.core.vocabulary import (
    ACTIVITIES,
    BOTTOM_OF_FUNNEL,
    FIT_ATTRIBUTES,
    GRADES,
    HAND_RAISES,
    Activity,
    CompanySize,
    Grade,
    Industry,
    JobLevel,
    Region,
)

if TYPE_CHECKING:
    from pydantic_core import InitErrorDetails

    from mqlsim.policies import PolicyConfig  # resolved by policies/__init__.py once all are known
    from mqlsim.policies.base import Cadence, Policy

#: An explicit fit field a policy may read (a key of :data:`mqlsim.core.vocabulary.FIT_ATTRIBUTES`).
FitAttribute = Literal["job_level", "company_size", "industry", "region"]
assert get_args(FitAttribute) == tuple(FIT_ATTRIBUTES)


class PolicyConfigBase(StrictModel):
    """Base of every policy family's ``[policy]`` section; ``kind`` names the family.

    ``extra_bytes_per_lead`` and ``extra_seconds_per_lead`` are what the family adds to a
    replication beyond the policy-independent work, measured (for the estimates a run makes
    before it starts, sim/experiments/budget.py); most families add nothing to speak of.
    """

    extra_bytes_per_lead: ClassVar[float] = 0.0
    extra_seconds_per_lead: ClassVar[float] = 0.0

    kind: str

    def check_horizon(self, horizon_days: float) -> None:
        """Raise ``ValueError`` if the policy cannot run over ``horizon_days`` (default: it can)."""

    def sources_named(self) -> set[str]:
        """The lead sources (channel names) the policy's settings name (default: none)."""
        return set()

    def untimed_parts(self) -> list[str]:
        """What of the policy depends on when events happened, so that a lead snapshot (one
        row per lead, no times; docs/replay.md) cannot evaluate it: one phrase per part, ``[]``
        when nothing does. Every built-in family says; a plug-in cannot be told apart."""
        return [f"{self.kind}: a plug-in, which may use event times in ways mqlsim cannot see"]

    def build(self) -> Policy:
        """The policy this section describes: its registered family's class, imported now."""
        return cast("Policy", pkgutil.resolve_name(POLICIES[self.kind][1])(self))


class CadenceConfigBase(StrictModel):
    """Base of every cadence's ``[nurture]`` section; ``kind`` names the cadence."""

    kind: str

    def planned_touches_per_lead(self) -> float:
        """How many touches the cadence plans per lead and nurture run at most (arrays of
        this many entries per lead are allocated), for a run's size estimate; 0 if unknown."""
        return 0.0

    def build(self) -> Cadence:
        """The cadence this section describes: its registered kind's class, imported now."""
        return cast("Cadence", pkgutil.resolve_name(CADENCES[self.kind][1])(self))


#: kind -> (its section's model, "package.module:Class" of the policy built from a section)
POLICIES: dict[str, tuple[type[PolicyConfigBase], str]] = {}
#: kind -> (its section's model, "package.module:Class" of the cadence built from a section)
CADENCES: dict[str, tuple[type[CadenceConfigBase], str]] = {}
_Policy = TypeVar("_Policy", bound=type[PolicyConfigBase])
_Cadence = TypeVar("_Cadence", bound=type[CadenceConfigBase])


def register_policy(kind: str, policy: str) -> Callable[[_Policy], _Policy]:
    """Class decorator of a family's section: ``policy.kind = kind`` selects it, and
    ``policy`` (``"package.module:Class"``, constructed with the validated section) is the
    family's behaviour, imported only when a policy is built."""

    def add(config: _Policy) -> _Policy:
        POLICIES[kind] = (config, policy)
        return config

    return add


def register_cadence(kind: str, cadence: str) -> Callable[[_Cadence], _Cadence]:
    """Class decorator of a cadence's section, as :func:`register_policy`: ``nurture.kind =
    kind`` selects it, ``cadence`` names the class built from it."""

    def add(config: _Cadence) -> _Cadence:
        CADENCES[kind] = (config, cadence)
        return config

    return add


class PluginDispatch(Protocol):
    """What :func:`config_union` needs of the model of sections that name third-party code."""

    #: The entry-point group searched for plain names (``mqlsim.policies``...).
    group: ClassVar[str]

    @classmethod
    def claims(cls, kind: str) -> bool:
        """Whether ``kind`` names a plug-in rather than a misspelt built-in kind."""
        ...


def config_union(
    registry: Mapping[str, tuple[type[StrictModel], Any]], plugin: type[PluginDispatch]
) -> Any:
    """The type of a section that may be any registered kind or a plug-in, told apart by ``kind``.

    A kind in ``registry`` selects its model; any other kind that ``plugin`` claims selects
    ``plugin``; anything else is one error at ``kind`` that lists the registered kinds.
    """
    members = tuple(Annotated[model, Tag(kind)] for kind, (model, _) in registry.items())

    def tag(value: Any) -> str | None:
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        if not isinstance(kind, str):  # a list or table is unhashable: never a registry key
            return None
        if kind in registry:
            return kind
        if isinstance(value, plugin) or plugin.claims(kind):
            return plugin.__name__
        return None

    def explain_kind(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            problems = error.errors()
            if len(problems) != 1 or problems[0]["type"] != "union_tag_not_found":
                raise
            raise _unknown_kind(value, list(registry), plugin.group) from None

    # Annotated as a value: a union built at run time, not a type alias a checker could read.
    union: Any = Union[(*members, Annotated[plugin, Tag(plugin.__name__)])]
    return Annotated[union, Discriminator(tag), WrapValidator(explain_kind)]


def _unknown_kind(value: Any, kinds: list[str], group: str) -> ValidationError:
    """The error for a section without a known ``kind``: at ``kind``, listing the choices."""
    if not isinstance(value, dict):
        line: InitErrorDetails = {"type": "dict_type", "loc": (), "input": value}
        return ValidationError.from_exception_data("kind", [line])
    found = value.get("kind")
    listed = ", ".join(repr(kind) for kind in kinds)
    choices = (
        f"one of {listed}, or a plug-in ('package.module:Class' or an entry point of group {group})"
    )
    if found is None:
        message = f"required key is missing: {choices}"
    elif not isinstance(found, str):
        message = f"expected a string, {choices}, found {_shown(found)}"
    else:
        message = f"expected {choices}, found {_shown(found)}"
        close = difflib.get_close_matches(str(found), kinds, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    error = ValueError(message)
    line = {"type": "value_error", "loc": ("kind",), "input": found, "ctx": {"error": error}}
    return ValidationError.from_exception_data("kind", [line])


def _shown(value: object) -> str:
    """``value`` in an error line, cut to 60 characters (a file may hold anything there)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def make_policy(config: PolicyConfigBase) -> Policy:
    """The policy a validated ``[policy]`` section describes."""
    return config.build()


def make_cadence(config: CadenceConfigBase) -> Cadence:
    """The cadence a validated ``[nurture]`` section describes."""
    return config.build()


def _default_points() -> dict[Activity, float]:
    return {
        "web_visit": 1,
        "pricing_page": 30,
        "blog_post": 1,
        "case_study": 20,
        "comparison_guide": 25,
        "roi_calculator": 25,
        "implementation_guide": 25,
        "webinar_registered": 5,
        "webinar_attended": 50,
        "email_open": 0,
        "email_click": 3,
        "form_fill": 5,
        "demo_request": 100,
        "trial_signup": 60,
        "product_usage": 5,
        "unsubscribe": -40,
    }


def _default_frequency_caps() -> dict[Activity, int]:
    return {
        "web_visit": 10,
        "blog_post": 5,
        "email_open": 5,
        "email_click": 5,
        "product_usage": 10,
    }


def _default_grade_points() -> dict[Grade, float]:
    return {"A": 15, "B": 5, "C": 0, "D": -10}


class ScoreGroup(StrictModel):
    """A group of activities whose earned points together never exceed `cap_points`."""

    activities: list[Activity] = Field(min_length=1, description="The activities in the group.")
    cap_points: NonNegative = Field(
        description="Most points the group's activities earn together since the score started."
    )


class FitPoints(StrictModel):
    """Points for explicit fit data, added to the grade points (missing or unknown = 0).
    Express disqualifiers here: e.g. `job_level = { student = -30 }`."""

    job_level: dict[JobLevel, float] = Field(default_factory=dict, description="By job level.")
    company_size: dict[CompanySize, float] = Field(
        default_factory=dict, description="By company size."
    )
    industry: dict[Industry, float] = Field(default_factory=dict, description="By industry.")
    region: dict[Region, float] = Field(default_factory=dict, description="By region.")


@register_policy("score", "mqlsim.policies.score:ScorePolicy")
class ScorePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "score"`: points per activity, caps, decay, fit points."""

    kind: Literal["score"] = Field("score", description="Policy family.")
    threshold: float = Field(100.0, description="Score at or above which the lead becomes MQL.")
    points: dict[Activity, float] = Field(
        default_factory=_default_points,
        description="Points per activity; negative points subtract (missing = 0).",
    )
    frequency_caps: dict[Activity, Annotated[int, Field(ge=0)]] = Field(
        default_factory=_default_frequency_caps,
        description="Most occurrences of an activity that earn points (missing = no cap).",
    )
    groups: dict[str, ScoreGroup] = Field(
        default_factory=dict,
        description=(
            "Named groups of activities, each `{ activities = [...], cap_points = N }`: "
            "together they earn at most `cap_points` since the score started; the event that "
            "reaches the cap earns the rest up to it. An activity belongs to at most one group, "
            "and grouped activities may not have negative points."
        ),
    )
    decay: Literal["half_life", "linear", "window"] = Field(
        "half_life",
        description=(
            "How points fade: `half_life` (halve every `decay_half_life_days`), `linear` "
            "(lose `decay_points_per_period` every `decay_period_days`, never below 0) or "
            "`window` (positive points count for `decay_window_days`)."
        ),
    )
    decay_half_life_days: PositiveOrInfinite = Field(
        60.0, description="With decay = half_life: points halve every this many days; inf: never."
    )
    decay_points_per_period: NonNegative = Field(
        10.0, description="With decay = linear: points lost at the end of every period."
    )
    decay_period_days: Positive = Field(
        30.0, description="With decay = linear: length of a period, from the score's start."
    )
    decay_window_days: Positive = Field(
        90.0, description="With decay = window: days a positive point counts after its event."
    )
    grade_points: dict[Grade, float] = Field(
        default_factory=_default_grade_points,
        description="Fit points by ICP grade, added to the score (not listed, or unknown: 0).",
    )
    fit_points: FitPoints = Field(
        default_factory=FitPoints, description="Fit points by explicit fit data (below)."
    )
    source_points: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Fit points by the lead's source: a channel name of `population.channels` in a "
            "simulation, a value of the log's `source` column in `mqlsim replay` (missing = 0)."
        ),
    )
    value_points: dict[Activity, float] = Field(
        default_factory=dict,
        description=(
            "Points per unit of an event's recorded `value` (a replayed log's `value` column, "
            "e.g. 0.05 per second on a page), added to the activity's points and capped with "
            "them; events without a value, and every simulated event, earn none (missing = 0)."
        ),
    )
    reset_on_recycle: bool = Field(
        True,
        description=(
            "A recycled lead's score starts afresh when nurture resumes; false: its history "
            "keeps counting (an MQL still needs an event after the resume)."
        ),
    )

    @model_validator(mode="after")
    def _groups_are_disjoint_and_positive(self) -> ScorePolicyConfig:
        seen: dict[str, str] = {}
        for name, group in self.groups.items():
            for activity in group.activities:
                if activity in seen:
                    raise ValueError(
                        f"groups: {activity} is in both {seen[activity]!r} and {name!r}"
                    )
                seen[activity] = name
                if self.points.get(activity, 0.0) < 0:
                    raise ValueError(
                        f"groups.{name}: {activity} has negative points; a group caps "
                        "positive points only"
                    )
                if self.value_points.get(activity, 0.0) != 0:
                    raise ValueError(
                        f"groups.{name}: {activity} has value_points; a group caps fixed "
                        "points per event only"
                    )
        return self

    def sources_named(self) -> set[str]:
        """The sources given points."""
        return set(self.source_points)

    def untimed_parts(self) -> list[str]:
        """Decay is the score's only use of time; caps and groups count occurrences."""
        if self.decay == "half_life" and math.isinf(self.decay_half_life_days):
            return []
        setting = {
            "half_life": f"decay_half_life_days = {self.decay_half_life_days:g}",
            "linear": f"{self.decay_points_per_period:g} points every "
            f"{self.decay_period_days:g} days",
            "window": f"decay_window_days = {self.decay_window_days:g}",
        }[self.decay]
        return [f"score decay ({self.decay}, {setting}): every point counts in full"]

    def check_horizon(self, horizon_days: float) -> None:
        """Half-life weights must stay representable: at most 1000 half-lives per horizon."""
        if self.decay == "half_life" and horizon_days / self.decay_half_life_days > 1000:
            raise ValueError(
                "policy.decay_half_life_days must be at least horizon_days / 1000 "
                f"({horizon_days / 1000:g})"
            )


@register_policy("trigger", "mqlsim.policies.trigger:TriggerPolicy")
class TriggerPolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "trigger"`: MQL at `count` occurrences of `activity` within
    `window_days` (all of them in the window (t - window_days, t])."""

    kind: Literal["trigger"] = Field("trigger", description="Policy family.")
    activity: Activity = Field("pricing_page", description="The activity that is counted.")
    count: int = Field(3, ge=1, description="Occurrences needed within the window.")
    window_days: PositiveOrInfinite = Field(
        7.0, description="Length of the window the occurrences must fall in; inf for no limit."
    )

    def untimed_parts(self) -> list[str]:
        """The window, unless it is unlimited."""
        if math.isinf(self.window_days):
            return []
        return [f"trigger window ({self.window_days:g} days): occurrences count in any span"]


@register_policy("content", "mqlsim.policies.content:ContentPolicy")
class ContentPolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "content"`: MQL at `distinct_assets` different `assets` within
    `window_days` (each asset's latest download in the window (t - window_days, t])."""

    kind: Literal["content"] = Field("content", description="Policy family.")
    assets: list[Activity] = Field(
        default_factory=lambda: list(BOTTOM_OF_FUNNEL),
        min_length=1,
        description="The activities that count as assets (each counts once).",
    )
    distinct_assets: int = Field(3, ge=1, description="Different assets needed within the window.")
    window_days: PositiveOrInfinite = Field(
        14.0, description="Length of the window the assets must fall in; inf for no limit."
    )

    def untimed_parts(self) -> list[str]:
        """The window, unless it is unlimited."""
        if math.isinf(self.window_days):
            return []
        return [f"content window ({self.window_days:g} days): assets count in any span"]

    @model_validator(mode="after")
    def _reachable(self) -> ContentPolicyConfig:
        if len(set(self.assets)) != len(self.assets):
            raise ValueError("assets must not repeat an activity")
        if self.distinct_assets > len(self.assets):
            raise ValueError(
                f"distinct_assets ({self.distinct_assets}) must not exceed the number of assets "
                f"({len(self.assets)}), or the rule can never fire"
            )
        return self


@register_policy("handraise", "mqlsim.policies.handraise:HandRaisePolicy")
class HandRaisePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "handraise"`: MQL at the first of `activities` (a hand-raise)."""

    kind: Literal["handraise"] = Field("handraise", description="Policy family.")
    activities: list[Activity] = Field(
        default_factory=lambda: list(HAND_RAISES),
        min_length=1,
        description=(
            "Activities that are hand-raises; form_fill makes every simulated lead an MQL "
            "(its arrival is a form fill)."
        ),
    )

    def untimed_parts(self) -> list[str]:
        """Nothing: a hand-raise qualifies whenever it happened."""
        return []


@register_policy("pql", "mqlsim.policies.pql:PqlPolicy")
class PqlPolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "pql"`: MQL at `usage_events` product-usage events within the
    first `window_days` after a trial sign-up."""

    kind: Literal["pql"] = Field("pql", description="Policy family.")
    usage_events: int = Field(3, ge=1, description="Product-usage events needed in the window.")
    window_days: PositiveOrInfinite = Field(
        7.0, description="Days from a trial sign-up during which usage counts; inf for no limit."
    )

    def untimed_parts(self) -> list[str]:
        """The trial: usage counts only after a sign-up, and inside its first days."""
        window = "" if math.isinf(self.window_days) else f", {self.window_days:g}-day window"
        return [
            f"trial timing (usage after a trial_signup{window}): usage counts whenever it "
            "happened, once the lead has a trial_signup"
        ]


def _default_cells() -> dict[Grade, float]:
    return {"A": 50.0, "B": 50.0, "C": 90.0}


@register_policy("matrix", "mqlsim.policies.matrix:MatrixPolicy")
class MatrixPolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "matrix"`: MQL when the engagement score reaches the cell of the
    lead's fit grade."""

    kind: Literal["matrix"] = Field("matrix", description="Policy family.")
    cells: dict[Grade, ScoreOrNever] = Field(
        default_factory=_default_cells,
        description="Per fit grade, the engagement score at or above which the lead becomes "
        "MQL; a grade not listed, or set to `inf`, never qualifies. Like every table this one "
        "merges over its defaults, so a file turns a default grade off with `C = inf`.",
    )
    engagement: ScorePolicyConfig = Field(
        default_factory=lambda: ScorePolicyConfig(grade_points={}),
        description="The engagement score: a score policy's points, caps and decay. It has no "
        "grade_points (the grade is the other axis) and its threshold is unused (the cells are "
        "the thresholds).",
    )

    @field_validator("engagement", mode="before")
    @classmethod
    def _without_grade_points(cls, engagement: Any) -> Any:
        """An engagement table starts from no grade points (a score's default has some)."""
        if isinstance(engagement, dict):
            return {"grade_points": {}, **engagement}
        return engagement

    @field_validator("engagement")
    @classmethod
    def _no_grade_points(cls, engagement: ScorePolicyConfig) -> ScorePolicyConfig:
        if engagement.grade_points:
            raise ValueError("grade_points must be empty: the matrix's other axis is the grade")
        return engagement

    def check_horizon(self, horizon_days: float) -> None:
        """The engagement score's decay must fit the horizon."""
        self.engagement.check_horizon(horizon_days)

    def sources_named(self) -> set[str]:
        """The sources the engagement score gives points."""
        return self.engagement.sources_named()

    def untimed_parts(self) -> list[str]:
        """The engagement score's decay."""
        return [f"engagement {part}" for part in self.engagement.untimed_parts()]


#: The model's features, in the order of its weight vectors.
FEATURES: tuple[str, ...] = (*ACTIVITIES, *(f"grade_{grade}" for grade in GRADES), "intercept")


@register_policy("predictive", "mqlsim.policies.predictive:PredictivePolicy")
class PredictivePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "predictive"`: MQL when a logistic model's probability of an SQL
    reaches `cutoff`; the model is fitted on the run's own sales outcomes, or given as `weights`."""

    # Its training examples, measured on policy_predictive.toml at 40-200 leads a day
    # (docs/experiments.md, "Memory and time").
    extra_bytes_per_lead: ClassVar[float] = 8_000.0
    extra_seconds_per_lead: ClassVar[float] = 5e-4

    kind: Literal["predictive"] = Field("predictive", description="Policy family.")
    cutoff: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.3, description="Predicted probability at or above which the lead becomes MQL."
    )
    feature_half_life_days: PositiveOrInfinite = Field(
        30.0, description="Activity counts halve every this many days (inf: plain counts)."
    )
    bootstrap: PolicyConfig = Field(
        default_factory=ScorePolicyConfig,
        description=(
            "The policy in force until the first fit: a policy table with its own kind "
            "(default: the baseline's score)."
        ),
    )
    training_days: Positive = Field(120.0, description="Day of the first fit.")
    retrain_every_days: PositiveOrInfinite = Field(
        math.inf, description="Days between later fits on all outcomes observed so far; inf: none."
    )
    label_window_days: Positive = Field(
        30.0,
        description=(
            "An example (an MQL, or a lead's moment) counts as positive when sales found the "
            "lead an SQL within this many days of it; only examples at least this old at a "
            "fit are used."
        ),
    )
    training_examples: Literal["all_leads", "mql_episodes"] = Field(
        "all_leads",
        description=(
            '"all_leads": each lead of the history at up to max_examples_per_lead of its '
            "moments, positive when sales found it an SQL within label_window_days; "
            '"mql_episodes": only the MQL episodes, at their MQL.'
        ),
    )
    max_examples_per_lead: int = Field(
        10,
        ge=1,
        description='With "all_leads": most moments of one lead used in a fit, evenly spaced.',
    )
    min_training_mqls: int = Field(
        100, ge=1, description="Fewest labelled MQLs a fit needs; with fewer, no new version."
    )
    l2_penalty: NonNegative = Field(
        1.0, description="Weight of the L2 penalty on the weights (not the intercept)."
    )
    weights: dict[str, float] | None = Field(
        None,
        description=(
            "A fitted model: weight by feature (activity names, `grade_A` ... `grade_D`, "
            "`intercept`; missing = 0). With it there is no bootstrap and no training."
        ),
    )

    @field_validator("weights")
    @classmethod
    def _known_features(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        for name, value in (weights or {}).items():
            if name not in FEATURES:
                close = difflib.get_close_matches(name, FEATURES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown feature {name!r}{hint}; expected activity names, grade_A ... "
                    "grade_D or intercept"
                )
            if not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite weight, found {value}")
        return weights

    def check_horizon(self, horizon_days: float) -> None:
        """Decay weights must stay representable, and the bootstrap must fit the horizon."""
        if horizon_days / self.feature_half_life_days > 1000:
            raise ValueError(
                "policy.feature_half_life_days must be at least horizon_days / 1000 "
                f"({horizon_days / 1000:g})"
            )
        if self.weights is None:
            self.bootstrap.check_horizon(horizon_days)

    def sources_named(self) -> set[str]:
        """The sources the bootstrap names (the model reads no source)."""
        return set() if self.weights is not None else self.bootstrap.sources_named()

    def untimed_parts(self) -> list[str]:
        """The features' decay (a model without ``weights`` needs a simulation anyway)."""
        if math.isinf(self.feature_half_life_days):
            return []
        return [
            f"feature decay (feature_half_life_days = {self.feature_half_life_days:g}): "
            "every event counts in full"
        ]


class CombinationConfig(PolicyConfigBase):
    """Rules combined by `any_of` or `all_of`."""

    rules: list[PolicyConfig] = Field(
        min_length=1, description="The combined rules: policy tables, each with its own kind."
    )

    def check_horizon(self, horizon_days: float) -> None:
        """Every rule must fit the horizon."""
        for rule in self.rules:
            rule.check_horizon(horizon_days)

    def sources_named(self) -> set[str]:
        """The sources any rule names."""
        return set().union(*(rule.sources_named() for rule in self.rules))

    def untimed_parts(self) -> list[str]:
        """Each rule's, named by its place."""
        return [
            f"rules.{index}: {part}"
            for index, rule in enumerate(self.rules)
            for part in rule.untimed_parts()
        ]


@register_policy("any_of", "mqlsim.policies.combine:AnyOfPolicy")
class AnyOfPolicyConfig(CombinationConfig):
    """`[policy]` with `kind = "any_of"`: MQL when the first of `rules` fires."""

    kind: Literal["any_of"] = Field("any_of", description="Policy family.")


@register_policy("all_of", "mqlsim.policies.combine:AllOfPolicy")
class AllOfPolicyConfig(CombinationConfig):
    """`[policy]` with `kind = "all_of"`: MQL once every one of `rules` has fired."""

    kind: Literal["all_of"] = Field("all_of", description="Policy family.")


def _default_required_fields() -> list[FitAttribute]:
    return ["job_level", "company_size"]


@register_policy("gate", "mqlsim.policies.gate:GatePolicy")
class GatePolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "gate"`: the wrapped `rule`, for leads whose `required_fields`
    are known."""

    kind: Literal["gate"] = Field("gate", description="Policy family.")
    required_fields: list[FitAttribute] = Field(
        default_factory=_default_required_fields,
        description="Fit fields a lead must have for the rule to make it MQL.",
    )
    rule: PolicyConfig = Field(description="The gated policy: a policy table with its own kind.")

    def check_horizon(self, horizon_days: float) -> None:
        """The gated rule must fit the horizon."""
        self.rule.check_horizon(horizon_days)

    def sources_named(self) -> set[str]:
        """The sources the gated rule names."""
        return self.rule.sources_named()

    def untimed_parts(self) -> list[str]:
        """The gated rule's (the gate reads fit, which has no time)."""
        return [f"rule: {part}" for part in self.rule.untimed_parts()]


#: Activities that answer touches: they cannot trigger follow-ups.
_ANSWERS = ("email_open", "email_click", "unsubscribe")


@register_cadence("drip", "mqlsim.policies.nurture:DripCadence")
class DripNurtureConfig(CadenceConfigBase):
    """`[nurture]` with `kind = "drip"`: a touch every N days (at most M), plus optional
    follow-ups after organic activity, a weekly cap and a sunset."""

    kind: Literal["drip"] = Field("drip", description="Cadence family.")
    interval_days: Positive = Field(7.0, description="Days between drip touches.")
    max_touches: int = Field(8, ge=0, le=1000, description="Drip touches per nurture run.")
    follow_ups: dict[Activity, Positive] = Field(
        default_factory=dict,
        description=(
            "Days after an organic activity at which a follow-up touch is sent, e.g. "
            "`{ pricing_page = 1.0 }`; touch answers (opens, clicks, unsubscribes) never trigger."
        ),
    )
    max_touches_per_week: int = Field(
        0, ge=0, description="Most touches of a run per calendar week, Monday-Sunday (0: no cap)."
    )
    sunset_after_unanswered: int = Field(
        0, ge=0, description="The run stops after this many unopened touches in a row (0: never)."
    )
    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before nurture resumes."
    )

    def planned_touches_per_lead(self) -> float:
        """Every drip touch is planned at once, before the horizon cuts them."""
        return float(self.max_touches)

    @field_validator("follow_ups")
    @classmethod
    def _organic_triggers(cls, follow_ups: dict[str, float]) -> dict[str, float]:
        answers = [activity for activity in follow_ups if activity in _ANSWERS]
        if answers:
            raise ValueError(
                f"{', '.join(answers)} answer touches and cannot trigger follow-ups "
                "(only organic activity does)"
            )
        return follow_ups


@register_cadence("none", "mqlsim.policies.nurture:NoCadence")
class NoNurtureConfig(CadenceConfigBase):
    """`[nurture]` with `kind = "none"`: no touches; leads act on their own."""

    kind: Literal["none"] = Field("none", description="Cadence family.")
    recycle_cooldown_days: NonNegative = Field(
        14.0, description="Days after a recycle before the lead may become MQL again."
    )
