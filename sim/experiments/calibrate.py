"""Calibration (`mqlsim calibrate`): fit a scenario's hidden parameters to a company's targets.

What the company controls (team size, working hours, the policy, the nurture cadence, channel
costs) is the base scenario with its ``--set`` overrides and is never fitted. What it cannot
see (how many leads arrive, how engaged they are, how many are real buyers, how often sales
accepts and wins) is a registry of :class:`Parameter`: each is one multiplier applied to a set
of scenario keys, either on the value (``scale``) or on the odds of a probability (``odds``,
which keeps it inside 0-1), within bounds. :data:`IDENTIFIES` says which parameters each
target can pin down, in order of preference; :func:`select_parameters` gives each target the
first of them not taken yet (intensive targets such as rates first, then totals), so a target
that others already determine (``mqls`` next to ``leads`` and ``lead_to_mql_rate``) pins
nothing and is only matched.

Per-channel targets (``[targets.channel.NAME]``) add per-channel parameters: a channel's count
sets its share of arrivals in closed form (:func:`channel_mix`), a channel's rate pins its buyer
odds (:func:`channel_quality`), whose Jacobian columns come from one difference of them all.

The search is :func:`scipy.optimize.least_squares` (trust-region reflective, within the
bounds) over the logarithms of the multipliers, on each target's residual in half-bands
(:meth:`mqlsim.scenario.targets.Target.z`). Every evaluation simulates the scenario's
replications on its seed, so all points share common random numbers; the Jacobian is a forward
difference of :data:`STEP` in log-multiplier (10 %), its points run together, in parallel. The
search stops when every target is within :data:`STOP_Z` of a half-band, when the optimiser
converges, or when the next evaluation would overspend the budget of replications; the best
point evaluated is kept. The fitted scenario is then checked on a seed the fit did not use
(the fit's seed + 1): that run is what the fit table shows.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mqlsim.core.errors import InputError, MqlsimWarning
from mqlsim.experiments.export_targets import ExportTargets
from mqlsim.experiments.runner import ExperimentResult, Progress, run_experiments
from mqlsim.experiments.summary import MetricSummary
from mqlsim.scenario.models import Scenario
from mqlsim.scenario.targets import PERIOD_TOTALS, Target, Targets

#: Replications a calibration may simulate unless told otherwise (the check run included).
DEFAULT_BUDGET = 300
#: Forward-difference step of the Jacobian, in log-multiplier (exp(0.2): 22 %): large enough
#: that the change it makes stands out of the simulation noise.
STEP = 0.2
#: The search stops once every target is this close to its value, in half-bands.
STOP_Z = 0.5
#: The check run's seed is the fit's seed plus this.
CHECK_SEED_OFFSET = 1

Transform = Literal["scale", "odds"]
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Parameter:
    """A hidden parameter: one multiplier applied to every key matching ``keys`` (dotted paths;
    ``*`` is every item of an array or every entry of a table), on the value (``scale``) or on
    the odds of a probability (``odds``), between ``low`` and ``high``."""

    name: str
    description: str
    transform: Transform
    keys: tuple[str, ...]
    low: float
    high: float

    def paths(self, data: dict[str, Any]) -> list[Path]:
        """The concrete key paths of ``keys`` in a scenario's data (list items by index)."""
        found: list[Path] = []
        for key in self.keys:
            found.extend(_expand(data, (), key.split(".")))
        return found

    def apply(self, data: dict[str, Any], multiplier: float) -> None:
        """Multiply the parameter's keys in ``data`` (a scenario's ``model_dump()``) in place."""
        for path in self.paths(data):
            node: Any = data
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = _transformed(node[path[-1]], multiplier, self.transform)


def _expand(node: Any, prefix: Path, parts: list[str]) -> list[Path]:
    if not parts:
        return [prefix]
    head, rest = parts[0], parts[1:]
    if head != "*":
        key: str | int = int(head) if isinstance(node, list) else head
        return _expand(node[key], (*prefix, key), rest)
    items: list[tuple[str | int, Any]] = (
        list(enumerate(node)) if isinstance(node, list) else list(node.items())
    )
    return [path for key, item in items for path in _expand(item, (*prefix, key), rest)]


def _transformed(value: float, multiplier: float, transform: Transform) -> float:
    if transform == "scale":
        return value * multiplier
    if value >= 1.0:  # certain stays certain (and 0 stays 0 below)
        return 1.0
    return value * multiplier / (1.0 - value + value * multiplier)


#: Every parameter calibration may fit, by name (docs/calibration.md describes each).
PARAMETERS: dict[str, Parameter] = {
    parameter.name: parameter
    for parameter in (
        Parameter(
            "arrival_rate",
            "lead arrivals per day",
            "scale",
            ("population.leads_per_day",),
            1e-3,
            1e3,
        ),
        Parameter(
            "engagement",
            "every organic activity rate, how much leads do unprompted",
            "scale",
            ("journeys.organic_rates_per_day.*",),
            1 / 30,
            30.0,
        ),
        Parameter(
            "buyer_share",
            "the chance a lead has budget and authority, every persona",
            "odds",
            (
                "population.personas.*.budget_probability",
                "population.personas.*.authority_probability",
            ),
            1 / 50,
            50.0,
        ),
        Parameter(
            "in_market",
            "the chance a lead has a buying window, every persona",
            "odds",
            ("population.personas.*.in_market_probability",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "window_timing",
            "the mean delay from arrival to the buying window, every persona",
            "scale",
            ("population.personas.*.window_start_mean_days",),
            1 / 20,
            20.0,
        ),
        Parameter(
            "sal_acceptance",
            "the chance sales accepts a reached MQL, every fit grade",
            "odds",
            ("sales.sal_acceptance_probability.*",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "reach",
            "the chance an immediate contact attempt reaches the lead",
            "odds",
            ("sales.reach_probability",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "hand_raisers",
            "the chance a lead arrives in market (a hand-raiser), every channel",
            "odds",
            ("population.channels.*.arrive_in_market_probability",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "cycle",
            "the median sales cycle, SQL to close",
            "scale",
            ("sales.cycle_median_days",),
            1 / 20,
            20.0,
        ),
        Parameter(
            "opportunity",
            "the chance an SQL becomes an opportunity",
            "odds",
            ("sales.opportunity_probability",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "win",
            "the chance an opportunity is won, every fit grade",
            "odds",
            ("sales.win_probability.*",),
            1 / 50,
            50.0,
        ),
        Parameter(
            "deal_value",
            "the median deal value, every persona",
            "scale",
            ("population.personas.*.deal_value_median",),
            1 / 100,
            100.0,
        ),
        Parameter(
            "work_time",
            "rep time per contact attempt and per qualification call",
            "scale",
            ("sales.attempt_hours", "sales.call_hours"),
            1 / 20,
            20.0,
        ),
    )
}

_WORKLOAD = ("work_time",)
#: For each metric a target may be set on, the parameters it can pin down, preferred first (a
#: parameter named with ``--fit`` lists the targets that name it as pinning it). Metrics not
#: listed (costs, unsubscribes, queue length) are matched but pin nothing.
IDENTIFIES: dict[str, tuple[str, ...]] = {
    "leads": ("arrival_rate",),
    "lead_to_mql_rate": ("engagement",),
    "mql_to_sal_rate": ("sal_acceptance", "reach"),
    "mql_to_sql_rate": ("buyer_share", "in_market"),
    "sql_to_won_rate": ("win",),
    "mql_to_won_rate": ("win", "buyer_share"),
    "days_sql_to_won": ("cycle",),
    "days_mql_to_won_median": ("cycle",),
    "time_to_mql_days": ("window_timing", "engagement"),
    "time_to_mql_days_median": ("window_timing", "engagement"),
    "speed_to_lead_hours": _WORKLOAD,
    "speed_to_lead_hours_median": _WORKLOAD,
    "speed_to_lead_hours_p90": _WORKLOAD,
    "queue_wait_hours": _WORKLOAD,
    "rep_utilization": _WORKLOAD,
    "sla_breach_rate": _WORKLOAD,
    "mqls": ("arrival_rate", "engagement"),
    "mql_events": ("arrival_rate", "engagement"),
    "sals": ("arrival_rate", "sal_acceptance"),
    "sqls": ("arrival_rate", "buyer_share"),
    "opportunities": ("arrival_rate", "opportunity"),
    "deals_won": ("arrival_rate", "win"),
    "pipeline_value": ("deal_value",),
    "revenue_won": ("deal_value",),
    "sales_hours": _WORKLOAD,
    "wasted_sales_hours": _WORKLOAD,
}


#: Per-channel rates a channel's :func:`channel_quality` parameter is pinned by, preferred first.
CHANNEL_RATES: tuple[str, ...] = (
    "mql_to_won_rate",
    "mql_to_sql_rate",
    "sql_to_won_rate",
    "mql_to_sal_rate",
    "lead_to_mql_rate",
)
#: Per-channel counts that set a channel's share of arrivals (:func:`channel_mix`).
CHANNEL_COUNTS: tuple[str, ...] = ("leads", "mqls")


def channel_quality(base: Scenario, channel: str) -> Parameter:
    """The buyer odds of one channel (``buyers.NAME``): a multiplier of the odds that a lead
    of that channel has budget, and of the odds that it has authority
    (``population.channels.NAME.buyer_odds``). It moves how many of the channel's MQLs sales
    can qualify and win, and leaves its arrivals and who arrives alone."""
    index = _channel_index(base, channel)
    return Parameter(
        f"buyers.{channel}",
        f"the odds of budget and authority among {channel}'s leads",
        "scale",
        (f"population.channels.{index}.buyer_odds",),
        1 / 50,
        50.0,
    )


def _channel_index(base: Scenario, channel: str) -> int:
    names = [item.name for item in base.population.channels]
    if channel not in names:
        raise InputError(
            f"targets.channel.{channel}: the base scenario {base.scenario.name!r} has no channel"
            f" {channel!r}; expected one of {', '.join(names)} (add it to"
            " population.channels, or rename the source)"
        )
    return names.index(channel)


def channel_mix(base: Scenario, targets: Targets) -> list[tuple[Parameter, float, str]]:
    """The shares of arrivals that per-channel counts set, without search: ``(parameter,
    multiplier, target key)`` per channel with a ``leads`` (else ``mqls``) target.

    Each such channel's share of the arrivals those channels carry in the base becomes its
    share of their counts; channels without a count keep theirs. From ``mqls`` this assumes
    the channels turn leads into MQLs alike (the fit table shows how close that came).
    """
    counted: dict[str, Target] = {}
    for channel in targets.channels:
        given = {t.metric: t for t in targets.of_channel(channel)}
        metric = next((m for m in CHANNEL_COUNTS if m in given), None)
        if metric is not None:
            counted[channel] = given[metric]
    if len({t.metric for t in counted.values()}) > 1:
        raise InputError(
            f"{targets.label}: per-channel counts mix leads and mqls; give one of them for"
            " every channel that has a count"
        )
    channels = base.population.channels
    indices = {channel: _channel_index(base, channel) for channel in counted}
    carried = sum(channels[i].share for i in indices.values())
    total = sum(t.value for t in counted.values())
    mix = []
    for channel, target in counted.items():
        index = indices[channel]
        old = channels[index].share
        if old <= 0 or carried <= 0 or total <= 0:
            raise InputError(
                f"targets.channel.{channel}.{target.metric}: the base gives channel"
                f" {channel!r} no arrivals (share 0); give it a share > 0"
            )
        parameter = Parameter(
            f"share.{channel}",
            f"{channel}'s share of arrivals, set from its count",
            "scale",
            (f"population.channels.{index}.share",),
            0.0,
            math.inf,
        )
        mix.append((parameter, target.value / total * carried / old, target.key))
    return mix


def select_parameters(
    targets: Targets, chosen: Sequence[str] | None = None, base: Scenario | None = None
) -> list[tuple[Parameter, tuple[str, ...]]]:
    """The parameters to fit, each with the targets that pin it (see the module docstring).

    ``chosen`` names them instead (in that order); each then lists the targets that could pin
    it. Per-channel rate targets each pin their channel's :func:`channel_quality` (``base``
    names the channels). :class:`InputError` for unknown names, or when no target pins any
    parameter.
    """
    per_channel: list[tuple[Parameter, tuple[str, ...]]] = []
    for channel in targets.channels:
        assert base is not None, "per-channel targets need the base scenario"
        given = {t.metric: t for t in targets.of_channel(channel)}
        rate = next((m for m in CHANNEL_RATES if m in given), None)
        if rate is not None:
            per_channel.append((channel_quality(base, channel), (given[rate].key,)))
    metrics = targets.metrics
    if chosen is not None:
        unknown = [name for name in chosen if name not in PARAMETERS]
        if unknown:
            raise InputError(
                f"--fit {', '.join(unknown)}: unknown parameter; expected some of"
                f" {', '.join(PARAMETERS)}"
            )
        if len(set(chosen)) != len(chosen):
            raise InputError(f"--fit {', '.join(chosen)}: a parameter is named twice")
        return [
            (PARAMETERS[name], tuple(m for m in metrics if name in IDENTIFIES.get(m, ())))
            for name in chosen
        ] + per_channel
    pinned: dict[str, list[str]] = {}
    order = [m for m in metrics if m not in PERIOD_TOTALS] + [
        m for m in metrics if m in PERIOD_TOTALS
    ]
    for metric in order:
        free = [name for name in IDENTIFIES.get(metric, ()) if name not in pinned]
        if free:
            pinned[free[0]] = [metric]
    if not pinned and not per_channel:
        raise InputError(
            f"{targets.label}: no target pins a hidden parameter (targets on"
            f" {', '.join(t.key for t in targets)}); give at least one of"
            f" {', '.join(IDENTIFIES)}"
        )
    return [
        (PARAMETERS[name], tuple(pinned[name])) for name in PARAMETERS if name in pinned
    ] + per_channel


def apply_multipliers(
    base: Scenario, multipliers: dict[str, float], parameters: Sequence[Parameter] = ()
) -> Scenario:
    """``base`` with each named parameter's keys multiplied (see :class:`Parameter`): one of
    :data:`PARAMETERS` or of ``parameters`` (per-channel ones)."""
    known = PARAMETERS | {parameter.name: parameter for parameter in parameters}
    data = base.model_dump()
    for name, multiplier in multipliers.items():
        known[name].apply(data, multiplier)
    return Scenario.model_validate(data)


@dataclass(frozen=True)
class FittedParameter:
    """A fitted parameter: its multiplier, the targets that pinned it and whether the search
    ended at one of its bounds (the model could not go further)."""

    parameter: Parameter
    multiplier: float
    targets: tuple[str, ...]
    at_bound: bool


@dataclass(frozen=True)
class TargetFit:
    """A target and what the fitted scenario's check run simulated for it (on the target's
    scale: per ``period_days`` for totals)."""

    target: Target
    simulated: MetricSummary

    @property
    def within(self) -> bool:
        """Whether the simulated mean lies in the target's band."""
        return self.target.within(self.simulated.mean)


@dataclass(frozen=True)
class Calibration:
    """What a calibration found: the fitted scenario, its parameters, how it matches each
    target on the check run, and what the search cost.

    ``replications`` counts every replication the calibration evaluated, the check run
    included (cached ones too: the budget counts them, so a cache never changes the result);
    ``evaluations`` the scenarios evaluated; ``stop`` why the search ended: ``"within"`` (every
    target within :data:`STOP_Z` half-bands), ``"converged"`` (the optimiser's tolerances) or
    ``"budget"``.
    """

    base: Scenario
    fitted: Scenario
    targets: Targets
    parameters: tuple[FittedParameter, ...]
    fits: tuple[TargetFit, ...]
    check: ExperimentResult
    evaluations: int
    replications: int
    seconds: float
    stop: Literal["within", "converged", "budget"]
    #: Where the targets came from when computed from a CRM export (``--from-export``).
    export: ExportTargets | None = None

    @property
    def within(self) -> bool:
        """Whether every target's check-run mean lies in its band."""
        return all(fit.within for fit in self.fits)

    @property
    def multipliers(self) -> dict[str, float]:
        """Each fitted parameter's multiplier, by name."""
        return {fitted.parameter.name: fitted.multiplier for fitted in self.parameters}

    def to_records(self) -> list[dict[str, Any]]:
        """The fit table: one record per target (its value and band, the check run's mean and
        95 % interval on the target's scale, whether it is within)."""
        return [
            {
                "metric": fit.target.key,
                "target": fit.target.value,
                "low": fit.target.low,
                "high": fit.target.high,
                "simulated": fit.simulated.mean,
                "ci_low": fit.simulated.ci_low,
                "ci_high": fit.simulated.ci_high,
                "within": fit.within,
            }
            for fit in self.fits
        ]

    def to_frame(self) -> Any:
        """:meth:`to_records` as a pandas DataFrame indexed by metric (needs pandas)."""
        from mqlsim.experiments.frames import frame

        return frame(self.to_records(), index="metric")


class _Stop(Exception):
    """Ends the search early, for ``reason``."""

    def __init__(self, reason: Literal["within", "budget"]) -> None:
        super().__init__(reason)
        self.reason: Literal["within", "budget"] = reason


class _Search:
    """The objective of the search: residuals of points (log-multipliers), simulated once each,
    with the replications spent and the best point so far."""

    def __init__(
        self,
        base: Scenario,
        targets: Targets,
        parameters: list[Parameter],
        budget: int,
        progress: Progress | None,
        execution: dict[str, Any],
    ) -> None:
        self.base, self.targets, self.parameters = base, targets, parameters
        self.names = [parameter.name for parameter in parameters]
        self.budget, self.progress, self.execution = budget, progress, execution
        self.replications = base.scenario.replications
        meta = base.scenario
        self.measured_days = meta.horizon_days - meta.warmup_days
        self.spent = 0
        self.evaluations = 0
        self.residuals: dict[tuple[float, ...], np.ndarray] = {}
        self.best: tuple[float, np.ndarray] | None = None  # (cost, point)

    def scenario_at(self, point: np.ndarray) -> Scenario:
        multipliers = dict(zip(self.names, np.exp(point).tolist(), strict=True))
        return apply_multipliers(self.base, multipliers, self.parameters)

    def evaluate(self, points: list[np.ndarray]) -> list[np.ndarray]:
        """The residuals of ``points``; new ones are simulated together. Raises :class:`_Stop`
        when that would leave too little budget for the check run, or once a point has every
        target within :data:`STOP_Z`."""
        new = list(
            {
                tuple(p.tolist()): p for p in points if tuple(p.tolist()) not in self.residuals
            }.values()
        )
        if new:
            cost = len(new) * self.replications
            if self.spent + cost + self.replications > self.budget:
                raise _Stop("budget")
            spent = self.spent

            def report(done: int, _total: int) -> None:
                if self.progress is not None:
                    self.progress(spent + done, self.budget)

            with warnings.catch_warnings():
                # A point far from the targets may drift; only the check run's warnings count.
                warnings.simplefilter("ignore", MqlsimWarning)
                results = run_experiments(
                    [self.scenario_at(p) for p in new], report, **self.execution
                )
            self.spent += cost
            self.evaluations += len(new)
            for point, result in zip(new, results, strict=True):
                z = np.array([target.z(mean) for target, mean in self._means(result)])
                z = np.where(np.isnan(z), 1e3, z)  # unmeasured: far off, never "within"
                self.residuals[tuple(point.tolist())] = z
                cost_here = float(z @ z)
                if self.best is None or cost_here < self.best[0]:
                    self.best = (cost_here, point)
            if any(np.all(np.abs(self.residuals[tuple(p.tolist())]) <= STOP_Z) for p in new):
                raise _Stop("within")
        return [self.residuals[tuple(p.tolist())] for p in points]

    def _means(self, result: ExperimentResult) -> list[tuple[Target, float]]:
        return [
            (
                target,
                self.targets.per_period(
                    target.metric, simulated(result, target).mean, self.measured_days
                ),
            )
            for target in self.targets
        ]


def simulated(result: ExperimentResult, target: Target) -> MetricSummary:
    """What ``result`` measured of ``target``'s metric, over every lead or its channel's."""
    if target.channel is None:
        return result.summaries[target.metric]
    return result.segment_summaries("channel")[target.channel][target.metric]


def calibrate_scenario(
    base: Scenario,
    targets: Targets,
    *,
    parameters: Sequence[str] | None = None,
    budget: int = DEFAULT_BUDGET,
    progress: Progress | None = None,
    execution: dict[str, Any] | None = None,
) -> Calibration:
    """Fit ``base``'s hidden parameters to ``targets`` (see the module docstring).

    ``parameters`` names the parameters to fit instead of those the targets select;
    ``budget`` caps the replications simulated, the check run's included; ``progress(done,
    budget)`` is called as replications finish; ``execution`` holds the runner's ``workers``,
    ``scheduler`` and ``cache``.
    """
    # scipy.optimize is imported here, on first use: it takes 0.3 s to load, which every
    # command that imports the API (run, compare, report...) would otherwise pay.
    from scipy.optimize import least_squares

    started = time.perf_counter()
    mix = channel_mix(base, targets)
    mixed = apply_multipliers(base, {p.name: m for p, m, _ in mix}, [p for p, _, _ in mix])
    selected = select_parameters(targets, parameters, base)
    fitted_here = [parameter for parameter, _ in selected]
    names = [parameter.name for parameter in fitted_here]
    grouped = np.array([name.startswith("buyers.") for name in names])
    replications = base.scenario.replications
    per_step = 1 + int((~grouped).sum()) + int(grouped.any())
    least = (per_step + 1) * replications
    if budget < least:
        raise InputError(
            f"--budget {budget}: too small to fit {len(names)} parameters with"
            f" {replications} replications per evaluation; expected at least {least}"
            " (a start, its differences and the check run)"
        )
    lower = np.log([parameter.low for parameter in fitted_here])
    upper = np.log([parameter.high for parameter in fitted_here])
    search = _Search(mixed, targets, fitted_here, budget, progress, execution or {})
    start = np.clip(_start(mixed, targets, names), lower + 1e-9, upper - 1e-9)
    rows = _rows(targets, fitted_here, mixed)

    def residuals(point: np.ndarray) -> np.ndarray:
        return search.evaluate([point])[0]

    def jacobian(point: np.ndarray) -> np.ndarray:
        # Global parameters: one forward difference each. Per-channel ones move only their
        # channel's targets (and the totals, through their channel's weight): one difference
        # moves them all at once (a Curtis-Powell-Reid grouping of the Jacobian's columns).
        steps = np.where(point + STEP <= upper, STEP, -STEP)
        eye = np.eye(len(point))
        shifted = [point + eye[i] * steps[i] for i in np.flatnonzero(~grouped)]
        if grouped.any():
            shifted.append(point + np.where(grouped, steps, 0.0))
        centre, *moved = search.evaluate([point, *shifted])
        columns = np.zeros((centre.size, len(point)))
        for i, change in zip(np.flatnonzero(~grouped), moved, strict=False):
            columns[:, i] = (change - centre) / steps[i]
        if grouped.any():
            change = (moved[-1] - centre)[:, None] / steps[None, :]
            columns[:, grouped] = (change * rows)[:, grouped]
        return columns

    stop: Literal["within", "converged", "budget"] = "converged"
    point = start
    try:
        # Simulation noise can make the trust region collapse far from the targets: start
        # again from the best point while that finds a better one.
        while True:
            least_squares(
                residuals,
                point,
                jac=jacobian,
                bounds=(lower, upper),
                method="trf",
                x_scale=1.0,
                xtol=1e-3,
                ftol=1e-3,
                gtol=1e-6,
            )
            assert search.best is not None
            if np.array_equal(search.best[1], point):
                break
            point = search.best[1]
    except _Stop as stopped:
        stop = stopped.reason
    assert search.best is not None  # the start is always evaluated within the budget
    point = search.best[1]
    fitted = search.scenario_at(point)
    check_seed = fitted.scenario.seed + CHECK_SEED_OFFSET
    checked_scenario = fitted.model_copy(
        update={"scenario": fitted.scenario.model_copy(update={"seed": check_seed})}
    )

    def report(done: int, _total: int) -> None:
        if progress is not None:
            progress(search.spent + done, budget)

    (check,) = run_experiments([checked_scenario], report, **(execution or {}))
    spent = search.spent + replications
    measured = base.scenario.horizon_days - base.scenario.warmup_days
    fits = tuple(
        TargetFit(target, _per_period(targets, target.metric, simulated(check, target), measured))
        for target in targets
    )
    fitted_parameters = tuple(
        FittedParameter(parameter, multiplier, (key,), at_bound=False)
        for parameter, multiplier, key in mix
    ) + tuple(
        FittedParameter(
            parameter=parameter,
            multiplier=float(math.exp(value)),
            targets=pinned,
            at_bound=bool(value <= low + 1e-6 or value >= high - 1e-6),
        )
        for (parameter, pinned), value, low, high in zip(selected, point, lower, upper, strict=True)
    )
    return Calibration(
        base=base,
        fitted=fitted,
        targets=targets,
        parameters=fitted_parameters,
        fits=fits,
        check=check,
        evaluations=search.evaluations + 1,
        replications=spent,
        seconds=time.perf_counter() - started,
        stop=stop,
    )


def _rows(targets: Targets, parameters: list[Parameter], base: Scenario) -> np.ndarray:
    """How much of a grouped difference each target row gives each per-channel parameter: all
    of it for its own channel's targets, none for another channel's, and for targets on every
    lead the channel's share of arrivals."""
    channels = base.population.channels
    total = sum(channel.share for channel in channels) or 1.0
    weight = {channel.name: channel.share / total for channel in channels}
    rows = np.zeros((len(targets), len(parameters)))
    for column, parameter in enumerate(parameters):
        if not parameter.name.startswith("buyers."):
            continue
        channel = parameter.name.removeprefix("buyers.")
        for row, target in enumerate(targets):
            if target.channel is None:
                rows[row, column] = weight[channel]
            elif target.channel == channel:
                rows[row, column] = 1.0
    return rows


def _start(base: Scenario, targets: Targets, names: list[str]) -> np.ndarray:
    """The search's first point: no change, except arrivals set from a ``leads`` target."""
    start = np.zeros(len(names))
    leads = next((t for t in targets.of_channel(None) if t.metric == "leads"), None)
    if leads is not None and "arrival_rate" in names and targets.period_days:
        wanted = leads.value / targets.period_days
        current = base.population.leads_per_day
        if wanted > 0 and current > 0:
            start[names.index("arrival_rate")] = math.log(wanted / current)
    return start


def _per_period(
    targets: Targets, metric: str, summary: MetricSummary, measured_days: float
) -> MetricSummary:
    """``summary`` on the targets' scale (per ``period_days`` for totals)."""

    def scaled(value: float) -> float:
        return targets.per_period(metric, value, measured_days)

    return MetricSummary(
        scaled(summary.mean),
        scaled(summary.ci_low),
        scaled(summary.ci_high),
        tuple(scaled(value) for value in summary.values),
    )
