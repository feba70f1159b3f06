"""The metric names of docs/metrics.md, in report order, with meaning, unit and good direction.

Tables, `results.json`, `replications.csv` and comparisons all iterate over :data:`METRICS`, so a
metric exists in exactly one place. ``higher_is_better`` is ``None`` for volumes whose good
direction depends on the question (more MQLs is not better by itself).
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mqlsim.core.errors import InputError
from mqlsim.core.vocabulary import LANES


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric."""

    name: str
    description: str
    unit: str
    higher_is_better: bool | None
    #: Whether a run can measure it below 0 (a balance such as net revenue); counts, rates,
    #: durations and amounts spent never are.
    signed: bool = False


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("leads", "leads created", "leads", None),
    MetricSpec("mqls", "distinct leads that became MQL", "leads", None),
    MetricSpec("mql_events", "MQL events, re-MQLs of recycled leads included", "events", None),
    MetricSpec("sals", "distinct MQL leads sales accepted", "leads", True),
    MetricSpec("sqls", "distinct MQL leads that became SQL", "leads", True),
    MetricSpec("opportunities", "distinct leads that became an opportunity", "leads", True),
    MetricSpec("deals_won", "distinct leads whose deal was won", "deals", True),
    MetricSpec("lead_to_mql_rate", "mqls / leads", "share", None),
    MetricSpec("mql_to_sal_rate", "sals / mqls", "share", True),
    MetricSpec("mql_to_sql_rate", "sqls / mqls", "share", True),
    MetricSpec("sql_to_won_rate", "deals_won / sqls", "share", True),
    MetricSpec("mql_to_won_rate", "deals_won / mqls", "share", True),
    MetricSpec("pipeline_value", "deal value of opportunities", "currency", True),
    MetricSpec("revenue_won", "deal value of deals won by the horizon", "currency", True),
    MetricSpec(
        "pipeline_velocity",
        "opportunities x win rate x mean deal value / mean sales cycle",
        "currency per day",
        True,
    ),
    MetricSpec("sales_hours", "rep hours spent working MQLs", "hours", None),
    MetricSpec("wasted_sales_hours", "rep hours on MQLs that did not become SQL", "hours", False),
    MetricSpec("rep_utilization", "sales_hours / rep hours available", "share", None),
    MetricSpec(
        "missed_opportunities",
        "in-market buyers whose buying window closed without an SQL",
        "leads",
        False,
    ),
    MetricSpec("missed_never_mql", "missed: no MQL before or during the window", "leads", False),
    MetricSpec("missed_mql_too_late", "missed: MQL only after the window closed", "leads", False),
    MetricSpec(
        "missed_waited_in_queue", "missed: window closed while waiting for sales", "leads", False
    ),
    MetricSpec(
        "missed_not_reached", "missed: worked by sales but not reached or qualified", "leads", False
    ),
    MetricSpec("lost_pipeline_value", "deal value of missed opportunities", "currency", False),
    MetricSpec("time_to_mql_days", "arrival to first MQL, mean", "days", False),
    MetricSpec("time_to_mql_days_median", "arrival to first MQL, median", "days", False),
    MetricSpec("days_mql_to_sal", "MQL to the SDR's call that accepted it, mean", "days", False),
    MetricSpec(
        "days_sal_to_sql", "SAL to the discovery meeting that made it SQL, mean", "days", False
    ),
    MetricSpec("days_sql_to_won", "SQL to the close of a won deal, mean", "days", False),
    MetricSpec("days_mql_to_won_median", "MQL to the close of a won deal, median", "days", False),
    MetricSpec("speed_to_lead_hours", "MQL to first sales touch, mean", "hours", False),
    MetricSpec("speed_to_lead_hours_median", "MQL to first sales touch, median", "hours", False),
    MetricSpec(
        "speed_to_lead_hours_p90", "MQL to first sales touch, 90th percentile", "hours", False
    ),
    MetricSpec("sla_breach_rate", "share of MQLs not touched within the SLA", "share", False),
    MetricSpec(
        "aged_out_rate", "share of MQLs that left the queue untouched (aged out)", "share", False
    ),
    MetricSpec("queue_wait_hours", "wait per entry into the sales queue, mean", "hours", False),
    MetricSpec("queue_length", "time-average number of MQLs waiting", "leads", False),
    MetricSpec("cost_per_mql", "marketing spend / mqls", "currency", False),
    MetricSpec("cost_per_sql", "marketing spend / sqls", "currency", False),
    MetricSpec("marketing_cost", "marketing spend in the period", "currency", False),
    MetricSpec(
        "sales_cost", "reps' cost and the cost of MQLs worked in the period", "currency", False
    ),
    MetricSpec(
        "net_revenue", "revenue_won - marketing_cost - sales_cost", "currency", True, signed=True
    ),
    MetricSpec("unsubscribe_rate", "share of leads that unsubscribed", "share", False),
    MetricSpec(
        "mql_precision", "share of MQL events made while the lead was in market", "share", True
    ),
    MetricSpec("mql_recall", "share of in-market buyers qualified while in market", "share", True),
    *(
        spec
        for lane in LANES
        for spec in (
            MetricSpec(
                f"{lane}_mql_events", f"MQL events routed to the {lane} lane", "events", None
            ),
            MetricSpec(
                f"{lane}_speed_to_lead_hours_median",
                f"{lane} lane: MQL to first sales touch, median",
                "hours",
                False,
            ),
            MetricSpec(
                f"{lane}_sla_breach_rate",
                f"{lane} lane: share of MQLs not touched within the lane's SLA",
                "share",
                False,
            ),
            MetricSpec(
                f"{lane}_sql_rate",
                f"{lane} lane: share of MQL events that became SQL",
                "share",
                True,
            ),
            MetricSpec(
                f"{lane}_won_rate",
                f"{lane} lane: share of MQL events whose deal was won by the horizon",
                "share",
                True,
            ),
        )
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(spec.name for spec in METRICS)
METRIC_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}

#: The metrics every breakdown (``--by``) computes per segment, in report order: the counts,
#: sums and rates, and the means that add up across segments' episodes. Team-level metrics
#: (utilisation, the queue, costs) and quantiles are not split.
SEGMENT_METRICS: tuple[str, ...] = (
    "leads",
    "mqls",
    "mql_events",
    "sals",
    "sqls",
    "opportunities",
    "deals_won",
    "lead_to_mql_rate",
    "mql_to_sal_rate",
    "mql_to_sql_rate",
    "sql_to_won_rate",
    "mql_to_won_rate",
    "pipeline_value",
    "revenue_won",
    "sales_hours",
    "wasted_sales_hours",
    "missed_opportunities",
    "missed_never_mql",
    "missed_mql_too_late",
    "missed_waited_in_queue",
    "missed_not_reached",
    "lost_pipeline_value",
    "time_to_mql_days",
    "days_mql_to_sal",
    "days_sal_to_sql",
    "days_sql_to_won",
    "speed_to_lead_hours",
    "sla_breach_rate",
    "aged_out_rate",
    "unsubscribe_rate",
    "mql_precision",
    "mql_recall",
)
#: The breakdown dimensions (``--by``), in the order reports show them.
DIMENSIONS: tuple[str, ...] = ("channel", "persona", "grade", "rule", "lane")


def parse_dimensions(values: Iterable[str], option: str = "--by") -> tuple[str, ...]:
    """Breakdown dimensions given as names or comma-separated lists, each once, in the order
    given; :class:`InputError` naming ``option`` for an unknown one."""
    chosen: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if name not in DIMENSIONS:
                raise InputError(
                    f"{option} {name!r}: expected one of {', '.join(DIMENSIONS)} (or several, "
                    "comma-separated)"
                )
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen)


#: The segment metrics a dimension that labels MQL episodes (the policy's rule, the sales lane)
#: can give; the others are about leads before any MQL, which no episode label covers (``nan``
#: there).
EPISODE_SEGMENT_METRICS: tuple[str, ...] = (
    "mqls",
    "mql_events",
    "sals",
    "sqls",
    "opportunities",
    "deals_won",
    "mql_to_sal_rate",
    "mql_to_sql_rate",
    "sql_to_won_rate",
    "mql_to_won_rate",
    "pipeline_value",
    "revenue_won",
    "sales_hours",
    "wasted_sales_hours",
    "days_mql_to_sal",
    "days_sal_to_sql",
    "days_sql_to_won",
    "speed_to_lead_hours",
    "sla_breach_rate",
    "aged_out_rate",
    "mql_precision",
)


def _percent(value: float) -> str:
    return f"{value * 100:.1f}"


def _currency(value: float) -> str:
    return f"{value:,.0f}"


def _duration(value: float) -> str:
    """Hours and days: two decimals for short durations, one for long ones."""
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _count(value: float) -> str:
    """Counts are means over replications, hence one decimal."""
    return f"{value:,.1f}"


UNIT_FORMATS: dict[str, tuple[Callable[[float], str], str]] = {
    "share": (_percent, "%"),
    "currency": (_currency, "currency"),
    "hours": (_duration, "hours"),
    "days": (_duration, "days"),
    "leads": (_count, "leads"),
    "events": (_count, "events"),
    "deals": (_count, "deals"),
    "currency per day": (_currency, "currency/day"),
}
"""Per catalogue unit: how a value is printed and what the table's unit column says."""


def format_value(value: float, unit: str) -> str:
    """``value`` as a table shows it for a metric of ``unit``; ``n/a`` when not measured."""
    if math.isnan(value):
        return "n/a"
    return UNIT_FORMATS[unit][0](value)
