"""Scenario models: every key a scenario file may hold, with its default, unit and meaning.

The defaults describe the shipped baseline (a mid-market B2B SaaS company); `docs/model.md`
says where each number comes from and `docs/scenarios.md` is generated from these models.
Loading files (``extends``, ``--set``, error messages) lives in :mod:`mqlsim.scenario.loading`.
"""

from __future__ import annotations

import itertools
from typing import Literal, get_args

from pydantic import Field, model_validator

from mqlsim.core.schema import (
    NonNegative,
    Positive,
    PositiveOrInfinite,
    Probability,
    StrictModel,
)
from mqlsim.core.vocabulary import (
    LANES,
    Activity,
    CompanySize,
    Grade,
    Industry,
    JobLevel,
    Lane,
    Region,
)
from mqlsim.policies import CadenceConfig, PolicyConfig, default_cadence, default_policy
from mqlsim.policies.sections import FitAttribute


class ScenarioMeta(StrictModel):
    """`[scenario]`: what the scenario is and how long and how often it runs."""

    name: str = Field("unnamed", description="Short name shown in tables and reports.")
    description: str = Field("", description="One or two sentences for the reader.")
    horizon_days: Positive = Field(365.0, description="Simulated days per replication.")
    warmup_days: NonNegative = Field(
        30.0,
        description=(
            "Days simulated first and left out of every metric: they load the sales queue and "
            "the recycling loop (the database starts in its steady state)."
        ),
    )
    seed: int = Field(20261122, ge=0, description="Root seed; replication r uses stream r of it.")
    replications: int = Field(5, ge=1, le=10_000, description="Independent replications to run.")

    @model_validator(mode="after")
    def _warmup_before_horizon(self) -> ScenarioMeta:
        if self.warmup_days >= self.horizon_days:
            raise ValueError(
                f"warmup_days ({self.warmup_days:g}) must be less than horizon_days "
                f"({self.horizon_days:g})"
            )
        return self


def _default_channels() -> list[Channel]:
    return [
        Channel(
            name="paid_search",
            share=0.35,
            cost_per_lead=140.0,
            persona_multipliers={"economic_buyer": 1.2, "researcher": 0.6},
            arrive_in_market_probability=0.07,
        ),
        Channel(
            name="organic_content",
            share=0.40,
            cost_per_lead=35.0,
            persona_multipliers={"economic_buyer": 0.7, "researcher": 1.5},
            arrive_in_market_probability=0.03,
        ),
        Channel(
            name="events",
            share=0.15,
            cost_per_lead=220.0,
            weekly_seasonality=[1.0, 1.6, 1.6, 1.4, 0.9, 0.3, 0.2],
            persona_multipliers={"economic_buyer": 1.2, "small_business": 0.8, "researcher": 0.9},
            arrive_in_market_probability=0.03,
        ),
        Channel(
            name="partner_referral",
            share=0.10,
            cost_per_lead=90.0,
            persona_multipliers={"economic_buyer": 1.4, "small_business": 1.3, "researcher": 0.3},
            arrive_in_market_probability=0.10,
        ),
    ]


class Channel(StrictModel):
    """One lead source: its share of arrivals, its cost, its weekday pattern, and who arrives
    through it (channels differ in quality)."""

    name: str = Field("channel", description="Channel name, unique within the scenario.")
    share: NonNegative = Field(1.0, description="Relative share of lead arrivals (normalised).")
    cost_per_lead: NonNegative = Field(0.0, description="Marketing spend per lead (currency).")
    weekly_seasonality: list[NonNegative] = Field(
        default_factory=lambda: [1.2, 1.2, 1.15, 1.1, 0.95, 0.2, 0.2],
        min_length=7,
        max_length=7,
        description="Arrival-rate multipliers Monday..Sunday; rescaled to average 1.",
    )
    persona_multipliers: dict[str, NonNegative] = Field(
        default_factory=dict,
        description=(
            "Multipliers of the personas' shares among this channel's leads, by persona name "
            "(not listed = 1; renormalised): who a channel brings, its quality."
        ),
    )
    arrive_in_market_probability: Probability = Field(
        0.0,
        description=(
            "Chance a lead of this channel arrives in market: an inbound hand-raiser whose "
            "conversion is a demo request and whose buying window starts at arrival."
        ),
    )
    buyer_odds: Positive = Field(
        1.0,
        description=(
            "Multiplier of the odds that a lead of this channel has budget, and of the odds "
            "that it has authority (its persona's chances; 1 = as the persona): how many "
            "real buyers a channel brings, whoever arrives."
        ),
    )

    @model_validator(mode="after")
    def _some_weekday_open(self) -> Channel:
        if sum(self.weekly_seasonality) <= 0:
            raise ValueError("weekly_seasonality must have at least one day above 0")
        return self


def _default_job_levels() -> dict[JobLevel, float]:
    return {"individual_contributor": 0.4, "manager": 0.4, "director": 0.2}


def _default_company_sizes() -> dict[CompanySize, float]:
    return {"51-200": 0.4, "201-1000": 0.4, "1001-5000": 0.2}


def _default_industries() -> dict[Industry, float]:
    return {"software": 0.4, "financial_services": 0.3, "other": 0.3}


def _default_regions() -> dict[Region, float]:
    return {"north_america": 0.6, "europe": 0.4}


class Persona(StrictModel):
    """A kind of person who becomes a lead: observable fit and hidden engagement and intent."""

    name: str = Field("persona", description="Persona name, unique within the scenario.")
    share: NonNegative = Field(1.0, description="Relative share of leads (normalised).")
    engagement_multiplier: Positive = Field(
        1.0, description="Scales every organic activity rate of this persona."
    )
    propensity_sigma: NonNegative = Field(
        0.9,
        description="Log-normal sigma of the hidden individual engagement propensity (mean 1).",
    )
    activity_multipliers: dict[Activity, NonNegative] = Field(
        default_factory=dict,
        description="Per-activity rate multipliers for this persona (missing = 1).",
    )
    in_market_probability: Probability = Field(
        0.3, description="Chance the lead has a buying window during its life."
    )
    window_start_mean_days: NonNegative = Field(
        45.0, description="Mean delay from arrival to the buying window's start (exponential)."
    )
    window_length_mean_days: Positive = Field(
        60.0, description="Mean buying-window length (gamma, shape 4)."
    )
    budget_probability: Probability = Field(0.7, description="Chance the lead has budget.")
    authority_probability: Probability = Field(
        0.7, description="Chance the lead can sign or has a signer's backing."
    )
    deal_value_median: Positive = Field(30_000.0, description="Median deal value (currency).")
    deal_value_sigma: NonNegative = Field(0.6, description="Log-normal sigma of deal value.")
    job_level: dict[JobLevel, NonNegative] = Field(
        default_factory=_default_job_levels,
        description="Distribution of job levels (relative weights).",
    )
    company_size: dict[CompanySize, NonNegative] = Field(
        default_factory=_default_company_sizes,
        description="Distribution of company sizes in employees (relative weights).",
    )
    industry: dict[Industry, NonNegative] = Field(
        default_factory=_default_industries,
        description="Distribution of industries (relative weights).",
    )
    region: dict[Region, NonNegative] = Field(
        default_factory=_default_regions,
        description="Distribution of regions (relative weights).",
    )

    @model_validator(mode="after")
    def _distributions_not_empty(self) -> Persona:
        for attribute in ("job_level", "company_size", "industry", "region"):
            if sum(getattr(self, attribute).values()) <= 0:
                raise ValueError(f"{attribute} needs at least one value with weight above 0")
        return self


def _default_personas() -> list[Persona]:
    return [
        Persona(
            name="economic_buyer",
            share=0.25,
            in_market_probability=0.40,
            budget_probability=0.9,
            authority_probability=0.9,
            deal_value_median=36_000.0,
            job_level={"director": 0.5, "vp": 0.35, "c_level": 0.15},
            company_size={"51-200": 0.25, "201-1000": 0.5, "1001-5000": 0.25},
        ),
        Persona(
            name="practitioner",
            share=0.45,
            in_market_probability=0.25,
            budget_probability=0.65,
            authority_probability=0.55,
            deal_value_median=24_000.0,
            job_level={"individual_contributor": 0.6, "manager": 0.4},
        ),
        Persona(
            name="small_business",
            share=0.15,
            in_market_probability=0.30,
            budget_probability=0.55,
            authority_probability=0.90,
            deal_value_median=6_000.0,
            job_level={"manager": 0.3, "c_level": 0.7},
            company_size={"1-10": 0.5, "11-50": 0.5},
        ),
        Persona(
            name="researcher",
            share=0.15,
            engagement_multiplier=1.8,
            activity_multipliers={"blog_post": 2.5, "demo_request": 0.1, "trial_signup": 0.5},
            in_market_probability=0.02,
            budget_probability=0.05,
            authority_probability=0.05,
            deal_value_median=5_000.0,
            job_level={"student": 0.6, "individual_contributor": 0.4},
            company_size={"1-10": 0.5, "11-50": 0.3, "5000+": 0.2},
            industry={"education": 0.7, "other": 0.3},
        ),
    ]


def _default_job_level_points() -> dict[JobLevel, float]:
    return {
        "student": -20,
        "individual_contributor": 0,
        "manager": 5,
        "director": 10,
        "vp": 15,
        "c_level": 15,
    }


def _default_company_size_points() -> dict[CompanySize, float]:
    return {
        "1-10": -10,
        "11-50": 0,
        "51-200": 10,
        "201-1000": 15,
        "1001-5000": 10,
        "5000+": 0,
    }


def _default_industry_points() -> dict[Industry, float]:
    return {
        "software": 10,
        "financial_services": 10,
        "healthcare": 5,
        "education": -5,
    }


def _default_region_points() -> dict[Region, float]:
    return {"north_america": 5, "europe": 5}


class ICP(StrictModel):
    """The ideal customer profile: fit points per attribute value and the grade cut-offs."""

    job_level_points: dict[JobLevel, float] = Field(
        default_factory=_default_job_level_points,
        description="ICP points per job level (missing = 0).",
    )
    company_size_points: dict[CompanySize, float] = Field(
        default_factory=_default_company_size_points,
        description="ICP points per company size (missing = 0).",
    )
    industry_points: dict[Industry, float] = Field(
        default_factory=_default_industry_points,
        description="ICP points per industry (missing = 0).",
    )
    region_points: dict[Region, float] = Field(
        default_factory=_default_region_points,
        description="ICP points per region (missing = 0).",
    )
    grade_a_min_points: float = Field(30.0, description="ICP points at or above which fit is A.")
    grade_b_min_points: float = Field(20.0, description="ICP points at or above which fit is B.")
    grade_c_min_points: float = Field(10.0, description="ICP points at or above which fit is C.")

    @model_validator(mode="after")
    def _ordered_cutoffs(self) -> ICP:
        if not self.grade_a_min_points >= self.grade_b_min_points >= self.grade_c_min_points:
            raise ValueError(
                "grade cut-offs must satisfy grade_a_min_points >= grade_b_min_points "
                ">= grade_c_min_points"
            )
        return self


def _no_missing_fields() -> dict[FitAttribute, float]:
    # The same keys, in the same order, as FIT_ATTRIBUTES (mqlsim.policies.base asserts it).
    return dict.fromkeys(get_args(FitAttribute), 0.0)


class PopulationConfig(StrictModel):
    """`[population]`: who arrives, how often, from where."""

    leads_per_day: NonNegative = Field(
        40.0, description="Mean lead arrivals per day, all channels."
    )
    channels: list[Channel] = Field(
        default_factory=_default_channels, min_length=1, description="Lead sources."
    )
    personas: list[Persona] = Field(
        default_factory=_default_personas, min_length=1, description="Persona mixture."
    )
    icp: ICP = Field(default_factory=ICP, description="Ideal customer profile grading fit A-D.")
    missing_field_probability: dict[FitAttribute, Probability] = Field(
        default_factory=_no_missing_fields,
        description=(
            "Chance each fit field is unknown for a lead, drawn per lead and field (not listed "
            "= 0). A lead's grade is unknown when its known fields do not decide it; an "
            "unknown field fails a data gate requiring it."
        ),
    )
    attrition_per_year: float = Field(
        0.225,
        ge=0.0,
        lt=1.0,
        description=(
            "Share of leads that leave within a year (job changes, going dark): a constant "
            "hazard. A lead that has left stops all activity."
        ),
    )
    initial_stock: Literal["stationary", "none"] = Field(
        "stationary",
        description=(
            "Leads in the database at day 0: the stationary stock of existing leads "
            "(arrivals before day 0 that have not left), or none (the run starts empty)."
        ),
    )
    stock_history_days: float = Field(
        365.0,
        gt=0,
        allow_inf_nan=False,
        description=(
            "Days of each existing lead's past activity drawn before day 0 (older activity, "
            "long faded and decayed, is left out)."
        ),
    )

    @model_validator(mode="after")
    def _shares_and_names(self) -> PopulationConfig:
        for kind, items in (("channels", self.channels), ("personas", self.personas)):
            names = [item.name for item in items]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{kind} names must be unique; repeated: {', '.join(duplicates)}")
            if sum(item.share for item in items) <= 0:
                raise ValueError(f"{kind} shares must add up to more than 0")
        personas = [persona.name for persona in self.personas]
        for channel in self.channels:
            multipliers = channel.persona_multipliers
            unknown = sorted(set(multipliers) - set(personas))
            if unknown:
                raise ValueError(
                    f"channel {channel.name!r}: persona_multipliers names unknown personas "
                    f"{', '.join(unknown)}; expected some of {', '.join(personas)}"
                )
            mixed = sum(p.share * multipliers.get(p.name, 1.0) for p in self.personas)
            if mixed <= 0:
                raise ValueError(
                    f"channel {channel.name!r}: persona_multipliers leave no persona with a "
                    "share above 0"
                )
        if self.initial_stock == "stationary" and self.attrition_per_year == 0:
            raise ValueError(
                "initial_stock = 'stationary' needs attrition_per_year above 0: without "
                "attrition the database grows without limit and has no stationary stock"
            )
        return self


def _default_organic_rates() -> dict[Activity, float]:
    return {
        "web_visit": 0.05,
        "pricing_page": 0.001,
        "blog_post": 0.02,
        "case_study": 0.002,
        "comparison_guide": 0.0005,
        "roi_calculator": 0.0004,
        "implementation_guide": 0.0004,
        "webinar_registered": 0.001,
        "form_fill": 0.001,
        "demo_request": 0.0001,
        "trial_signup": 0.00015,
    }


def _default_window_lift() -> dict[Activity, float]:
    return {
        "web_visit": 2.0,
        "pricing_page": 30.0,
        "blog_post": 1.2,
        "case_study": 5.0,
        "comparison_guide": 25.0,
        "roi_calculator": 25.0,
        "implementation_guide": 20.0,
        "webinar_registered": 3.0,
        "form_fill": 3.0,
        "demo_request": 120.0,
        "trial_signup": 60.0,
    }


class JourneysConfig(StrictModel):
    """`[journeys]`: how leads behave over time, with and without buying intent."""

    organic_rates_per_day: dict[Activity, NonNegative] = Field(
        default_factory=_default_organic_rates,
        description=(
            "Organic activity rates per day for a lead of propensity 1 outside a buying window "
            "(missing = 0). Derived activities (email, attendance, usage, unsubscribe) "
            "must not be listed."
        ),
    )
    window_lift: dict[Activity, NonNegative] = Field(
        default_factory=_default_window_lift,
        description="Rate multipliers inside the buying window (missing = 1).",
    )
    arrival_burst_multiplier: NonNegative = Field(
        2.0,
        description="Extra activity right after arrival, as a multiple of the organic rates.",
    )
    arrival_burst_decay_days: Positive = Field(
        10.0, description="Mean life of the arrival burst (exponential decay)."
    )
    interest_half_life_days: PositiveOrInfinite = Field(
        290.0,
        description=(
            "Outside a buying window, organic activity fades with the lead's age: the part "
            "above interest_floor halves every this many days; inf: it never fades."
        ),
    )
    interest_floor: Probability = Field(
        0.0, description="Share of the organic rates that never fades with age."
    )
    activity_start_hour: float = Field(
        8.0, ge=0, lt=24, description="Start of the leads' active hours (their working day)."
    )
    activity_end_hour: float = Field(
        17.0, gt=0, le=24, description="End of the leads' active hours."
    )
    activity_weekdays: int = Field(
        5, ge=1, le=7, description="Active days per week, counted from Monday."
    )
    off_hours_activity: NonNegative = Field(
        0.22,
        description=(
            "Activity rate outside the active hours relative to inside (1: a uniform clock). "
            "Organic activity, arrivals' conversions and nurture sends follow the profile."
        ),
    )
    webinar_attendance_probability: Probability = Field(
        0.45, description="Chance a registration is followed by attendance."
    )
    webinar_lead_time_days: Positive = Field(
        14.0, description="Attendance comes uniformly within this many days of registering."
    )
    trial_length_days: Positive = Field(14.0, description="Length of a free trial.")
    product_usage_rate_per_day: NonNegative = Field(
        0.25, description="Product-usage events per day during a trial (propensity 1)."
    )
    product_usage_window_lift: NonNegative = Field(
        3.0, description="Usage-rate multiplier for trials started inside a buying window."
    )
    product_usage_able_lift: NonNegative = Field(
        1.0,
        description="A further usage-rate multiplier, inside a buying window, for a lead with "
        "budget and authority (1: usage does not depend on them).",
    )
    email_open_probability: Probability = Field(
        0.22, description="Chance a nurture touch is opened (propensity 1; capped at 0.95)."
    )
    email_click_probability: Probability = Field(
        0.15,
        description="Chance an opened touch is clicked; a click lands on one content activity, "
        "drawn in proportion to the lead's current content rates.",
    )
    unsubscribe_probability: Probability = Field(
        0.004, description="Chance a touch leads to an unsubscribe, at one touch a week."
    )
    unsubscribe_fatigue: NonNegative = Field(
        0.6,
        description=(
            "Touch fatigue: the unsubscribe chance is multiplied by 1 + fatigue x (touches in "
            "the last 7 days - 1)."
        ),
    )

    @model_validator(mode="after")
    def _active_hours(self) -> JourneysConfig:
        if self.activity_end_hour <= self.activity_start_hour:
            raise ValueError("activity_end_hour must be later than activity_start_hour")
        return self

    @model_validator(mode="after")
    def _organic_only(self) -> JourneysConfig:
        from mqlsim.core.vocabulary import DERIVED_ACTIVITIES

        listed = sorted(set(self.organic_rates_per_day) & set(DERIVED_ACTIVITIES))
        if listed:
            raise ValueError(
                "organic_rates_per_day cannot set derived activities "
                f"({', '.join(listed)}); set their probabilities instead"
            )
        return self


def _default_sal_acceptance() -> dict[Grade, float]:
    return {"A": 0.9, "B": 0.8, "C": 0.6, "D": 0.25}


def _default_win_probability() -> dict[Grade, float]:
    return {"A": 0.3, "B": 0.24, "C": 0.16, "D": 0.1}


#: How a lane orders its own MQLs (docs/model.md, "Sales").
Discipline = Literal["fifo", "score", "grade", "deadline"]


def _default_routes() -> dict[Activity, Lane]:
    return {"demo_request": "handraise", "trial_signup": "pql", "product_usage": "pql"}


class LaneConfig(StrictModel):
    """One lane of the sales queue: its place in the order, its SLA, its own order, its age
    limit, how much delay matters, reps of its own and its deals' odds of winning. A key left
    out takes the `[sales]` key of the same name, where there is one."""

    priority: int = Field(
        1,
        ge=1,
        le=100,
        description="Lanes with a lower number are worked first; equal numbers share the "
        "queue first come, first served.",
    )
    sla_hours: Positive | None = Field(
        None, description="Speed-to-lead target of the lane's MQLs (default: sales.sla_hours)."
    )
    discipline: Discipline | None = Field(
        None, description="Order inside the lane (default: sales.queue_discipline)."
    )
    max_queue_age_hours: PositiveOrInfinite | None = Field(
        None,
        description="Untouched MQLs older than this leave the lane back to nurture (inf: never;"
        " default: sales.max_queue_age_hours).",
    )
    response_strength: NonNegative | None = Field(
        None,
        description="How much delay matters for the lane's MQLs (default: "
        "sales.response_strength).",
    )
    dedicated_reps: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Of sales.reps, how many work this lane only (the others work every lane).",
    )
    win_odds: Positive = Field(
        1.0,
        description="Odds multiplier on the win of the lane's opportunities (1: the grade's "
        "sales.win_probability as it is).",
    )


class LanesConfig(StrictModel):
    """`[sales.lanes]`: the three lanes, each a table."""

    handraise: LaneConfig = Field(
        default_factory=LaneConfig, description="Hand-raises: demo requests by default."
    )
    pql: LaneConfig = Field(
        default_factory=LaneConfig,
        description="Product-qualified leads: trial sign-ups and product usage by default.",
    )
    score: LaneConfig = Field(
        default_factory=LaneConfig, description="Every MQL that no route sends elsewhere."
    )


def _contact_curve() -> list[list[float]]:
    return [[0.0, 1.0], [0.0833, 1.0], [0.1667, 0.1], [0.5, 0.01], [24.0, 0.005], [168.0, 0.004]]


def _qualify_curve() -> list[list[float]]:
    return [
        [0.0, 1.0],
        [0.0833, 1.0],
        [0.5, 0.006],
        [1.0, 0.003],
        [2.0, 0.000425],
        [24.0, 0.0000625],
        [168.0, 0.00003125],
    ]


def _default_deal_value_multiplier() -> dict[CompanySize, float]:
    return {
        "1-10": 0.5,
        "11-50": 0.75,
        "51-200": 0.8,
        "201-1000": 1.0,
        "1001-5000": 1.5,
        "5000+": 2.5,
    }


def _check_curve(name: str, points: list[list[float]]) -> None:
    """A response curve: ``[hours, odds multiplier]`` points from 0 hours, hours rising."""
    if any(len(point) != 2 for point in points):
        raise ValueError(f"{name}: each point is [hours, odds multiplier]")
    hours = [point[0] for point in points]
    if hours[0] != 0:
        raise ValueError(f"{name}: the first point must be at 0 hours, found {hours[0]:g}")
    if any(later <= earlier for earlier, later in itertools.pairwise(hours)):
        raise ValueError(f"{name}: the hours must rise from point to point")
    if any(point[1] <= 0 for point in points):
        raise ValueError(f"{name}: odds multipliers must be above 0")


class SalesConfig(StrictModel):
    """`[sales]`: the team that works the MQL queue and what its work yields."""

    reps: int = Field(4, ge=1, le=10_000, description="Reps working the MQL queue.")
    always_working: bool = Field(
        False, description="Reps work around the clock (ignores the working-hour keys)."
    )
    work_start_hour: float = Field(8.0, ge=0, lt=24, description="Start of the working day.")
    work_end_hour: float = Field(18.0, gt=0, le=24, description="End of the working day.")
    working_weekdays: int = Field(
        5, ge=1, le=7, description="Working days per week, counted from Monday."
    )
    routes: dict[Activity, Lane] = Field(
        default_factory=_default_routes,
        description="Lane of an MQL by the activity that made it MQL (not listed = score).",
    )
    lanes: LanesConfig = Field(
        default_factory=LanesConfig,
        description="Each lane's priority, SLA, order, age limit and reps.",
    )
    queue_discipline: Discipline = Field(
        "fifo",
        description="Order inside a lane: fifo; highest score first; best fit grade first; "
        "or earliest deadline first (an MQL's SLA deadline, a retry's due time).",
    )
    sla_aware: bool = Field(
        True,
        description="First touches that can still meet their SLA are worked before anything "
        "else: by lane priority, then earliest deadline.",
    )
    sla_hours: Positive = Field(4.0, description="Speed-to-lead target: MQL to first touch.")
    max_queue_age_hours: PositiveOrInfinite = Field(
        72.0,
        description="An MQL not touched within this many hours leaves the queue back to "
        "nurture (aged out); inf: never.",
    )
    max_attempts: int = Field(6, ge=1, le=50, description="Contact attempts before giving up.")
    retry_gaps_hours: list[NonNegative] = Field(
        default_factory=lambda: [4.0, 20.0, 48.0, 72.0, 72.0],
        min_length=1,
        description="Wait after attempt k before attempt k+1 joins the queue (the last gap "
        "repeats).",
    )
    attempt_hours: NonNegative = Field(0.25, description="Rep time per contact attempt.")
    call_hours: NonNegative = Field(0.75, description="Rep time of a qualification conversation.")
    work_time_distribution: Literal["fixed", "exponential"] = Field(
        "fixed", description="Attempt and call times: fixed at their means, or exponential."
    )
    reach_probability: Probability = Field(
        0.95, description="Chance the first attempt reaches the lead when made at once."
    )
    reach_attempt_factor: Positive = Field(
        0.89, description="Odds multiplier of reaching the lead for each further attempt."
    )
    contact_curve: list[list[NonNegative]] = Field(
        default_factory=_contact_curve,
        min_length=1,
        description="Odds multiplier of reaching the lead by hours since the MQL: "
        "[hours, multiplier] points, geometric in between, flat after the last.",
    )
    qualify_probability: Probability = Field(
        0.95,
        description="Chance an accepted buyer inside its buying window qualifies (SQL) when "
        "called at once.",
    )
    qualify_curve: list[list[NonNegative]] = Field(
        default_factory=_qualify_curve,
        min_length=1,
        description="Odds multiplier of qualifying by hours from the MQL to the first attempt: "
        "[hours, multiplier] points, geometric in between, flat after the last.",
    )
    response_strength: NonNegative = Field(
        1.0,
        description="Power applied to both curves: 1 as the studies measured, 0.5 half as "
        "steep on a log scale, 0 delay does not matter.",
    )
    sal_acceptance_probability: dict[Grade, Probability] = Field(
        default_factory=_default_sal_acceptance,
        description="Chance sales accepts a reached MQL, by fit grade, when the call shows it "
        "in its buying window with budget and authority (missing = 0).",
    )
    sal_not_in_market_factor: Probability = Field(
        0.35, description="Acceptance multiplier when the call shows no buying window now."
    )
    sal_no_budget_factor: Probability = Field(
        0.7, description="Acceptance multiplier when the call shows no budget."
    )
    sal_no_authority_factor: Probability = Field(
        0.7, description="Acceptance multiplier when the call shows no authority."
    )
    discovery_meeting_days: NonNegative = Field(
        2.0,
        description="Mean days from the SDR's call (SAL) to the discovery meeting that decides "
        "the SQL (exponential).",
    )
    opportunity_probability: Probability = Field(
        0.85, description="Chance an SQL becomes an opportunity."
    )
    cycle_median_days: Positive = Field(
        14.0,
        description="Median days from opportunity to close (won or lost) for a deal of "
        "cycle_reference_value (log-normal).",
    )
    cycle_sigma: NonNegative = Field(1.9, description="Log-normal sigma of the sales cycle.")
    cycle_value_elasticity: NonNegative = Field(
        0.3,
        description="The cycle's median scales with (deal value / cycle_reference_value) to "
        "this power.",
    )
    cycle_reference_value: Positive = Field(
        25_000.0, description="Deal value (currency) whose median cycle is cycle_median_days."
    )
    win_probability: dict[Grade, Probability] = Field(
        default_factory=_default_win_probability,
        description="Chance an opportunity is won at its close, by fit grade (missing = 0).",
    )
    deal_value_multiplier: dict[CompanySize, Positive] = Field(
        default_factory=_default_deal_value_multiplier,
        description="Multiplies the persona's deal value by company size (missing or unknown "
        "size = 1).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SalesConfig:
        if not self.always_working and self.work_end_hour <= self.work_start_hour:
            raise ValueError("work_end_hour must be later than work_start_hour")
        _check_curve("contact_curve", self.contact_curve)
        _check_curve("qualify_curve", self.qualify_curve)
        dedicated = sum(getattr(self.lanes, name).dedicated_reps for name in LANES)
        if dedicated >= self.reps:
            raise ValueError(
                f"lanes' dedicated_reps add up to {dedicated}: they must leave at least one of "
                f"the {self.reps} reps to work every lane"
            )
        return self

    def lane(self, name: Lane) -> LaneConfig:
        """Lane ``name`` with the `[sales]` keys filled in where it leaves them out."""
        lane = getattr(self.lanes, name)

        def either(own: float | None, shared: float) -> float:
            return shared if own is None else own

        return LaneConfig(
            priority=lane.priority,
            sla_hours=either(lane.sla_hours, self.sla_hours),
            discipline=lane.discipline or self.queue_discipline,
            max_queue_age_hours=either(lane.max_queue_age_hours, self.max_queue_age_hours),
            response_strength=either(lane.response_strength, self.response_strength),
            dedicated_reps=lane.dedicated_reps,
            win_odds=lane.win_odds,
        )


class CostsConfig(StrictModel):
    """`[costs]`: marketing spend besides the per-lead channel costs, and the sales team's
    cost."""

    fixed_marketing_cost_per_day: NonNegative = Field(
        500.0, description="Programme spend per day that no channel carries (currency)."
    )
    cost_per_touch: NonNegative = Field(0.02, description="Cost of one nurture touch (currency).")
    cost_per_rep_per_year: NonNegative = Field(
        100_000.0, description="Fully loaded cost of one rep for a year (currency)."
    )
    cost_per_mql_worked: NonNegative = Field(
        0.0,
        description="Cost of each MQL episode sales touches: data, enrichment, dialer (currency).",
    )


class Scenario(StrictModel):
    """A whole scenario file after `extends` and `--set` are applied."""

    scenario: ScenarioMeta = Field(default_factory=ScenarioMeta)
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    journeys: JourneysConfig = Field(default_factory=JourneysConfig)
    policy: PolicyConfig = Field(default_factory=default_policy)
    nurture: CadenceConfig = Field(default_factory=default_cadence)
    sales: SalesConfig = Field(default_factory=SalesConfig)
    costs: CostsConfig = Field(default_factory=CostsConfig)

    @model_validator(mode="after")
    def _policy_fits_horizon(self) -> Scenario:
        if self.population.initial_stock == "none":
            self.policy.check_horizon(self.scenario.horizon_days)
            return self
        history = self.population.stock_history_days
        try:  # existing leads' drawn history adds to what a policy spans
            self.policy.check_horizon(self.scenario.horizon_days + history)
        except ValueError as error:
            raise ValueError(
                f"{error}; with the stationary stock the span is horizon_days plus "
                f"population.stock_history_days ({history:g})"
            ) from None
        return self
