"""Predictive: a logistic model of "sales will find this lead an SQL", fitted on the run's outcomes.

Features, at each event of a lead, from what marketing sees (the lead's whole history since
arrival, recycled or not):

- per activity, its decayed count: `sum of 2 ** (-(t - t_e) / feature_half_life_days)` over the
  lead's events `e` of that activity up to and including this one (at time `t`);
- the fit grade, one-hot (`grade_A` ... `grade_D`; all 0 when the grade is unknown);
- `intercept` (always 1).

The lead becomes MQL at the first event, at or after the view's `since`, where the predicted
probability `p = 1 / (1 + exp(-w·x))` reaches `cutoff`. The priority (a sales queue worked by
score) is `p`.

**Training on the simulated history.** Until `training_days`, leads are qualified by `bootstrap`
(a policy table of any kind; by default the baseline's score). At `training_days`, and then
every `retrain_every_days` (the "regular review"; `inf`: never), the model is fitted on the
outcomes observed so far (sales' SQLs, never the hidden intent), with one of two
`training_examples`:

- `"all_leads"` (the default): every lead in the run's history (as the engine passes it, the
  leads that have been MQL at least once), at a sample of its moments. A moment is an event
  time `t` (events at the same time are one moment, after the last of them) at least
  `label_window_days` before the fit, so that its label is known, and before the lead's first
  SQL. Of a lead's `n` moments, `k = min(n, max_examples_per_lead)` are used, the
  `floor(j n / k)`-th for `j = 0 ... k - 1` (its arrival, then evenly spaced: no randomness,
  and heavy clickers do not dominate). The label is 1 when sales found the lead an SQL within
  `label_window_days` after `t`. A lead never sent to sales is a 0, as in a real team's data.
- `"mql_episodes"`: every MQL episode sales opened at least `label_window_days` before the fit,
  at its MQL event, labelled 1 when it became an SQL within `label_window_days`. These are only
  the leads the policy in force picked: the model never sees a lead with little activity, and
  may qualify well-fitting leads at their arrival.

The fit maximises the log-likelihood minus `l2_penalty / 2` times the squared weights (the
intercept is not penalised), with L-BFGS-B and the analytic gradient from all-zero weights, so
it has no randomness. With fewer than `min_training_mqls` labelled MQL episodes, or only one
class among the examples, the previous version stays in force and the report says why.

**Versions.** Each fit is a version in force from its fit time until the next one: a lead's first
MQL is at the first event where the version in force then fires (the bootstrap's rule before
the first fit, the model after). A recycled lead is decided by the version in force when it
resumes. The fitted weights of every version, with the training set's size (labelled MQLs; for
all leads, also leads and examples) and positives, are written to `results.json` under
`policy_reports`.

**Fixed model.** `weights = { pricing_page = 1.2, grade_A = 0.8, intercept = -4.1 }` (a missing
feature weighs 0) is a model fitted already: no bootstrap and no training. Use it, with the same
`feature_half_life_days`, to run a model fitted in a simulation on a recorded log
(`mqlsim replay`). Without `weights` the policy needs sales outcomes, which only a simulation
has: it cannot run on a recorded log, nor inside another policy.

The reason lists the largest contributions `w·x` to the log-odds, e.g.
`predictive p=0.34 >= 0.30 (model fitted day 120 on 20705 moments of 3575 leads): pricing_page
+1.21, grade_A +0.8, ..., intercept -3.9`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mqlsim.core.errors import InputError
from mqlsim.core.vocabulary import ACTIVITIES, GRADES, Activity
from mqlsim.policies.base import (
    History,
    LeadView,
    Policy,
    Qualification,
    first_hits,
)
from mqlsim.policies.score import ScorePolicy
from mqlsim.policies.sections import (
    FEATURES,
    PredictivePolicyConfig,
    ScorePolicyConfig,
    make_policy,
)

_GRADE_COLUMNS = slice(len(ACTIVITIES), len(ACTIVITIES) + len(GRADES))
_INTERCEPT = len(FEATURES) - 1
#: An episode's MQL time is the SimPy clock, which can differ from the time of the event that
#: made the MQL by float rounding (about 1e-14 days): events this close after it still count.
_CLOCK_TOLERANCE_DAYS = 1e-9
#: Most contributions a reason lists (besides the intercept).
_SHOWN = 6


def fit_logistic(
    features: np.ndarray, labels: np.ndarray, l2_penalty: float, penalised: np.ndarray
) -> np.ndarray:
    """Weights maximising the log-likelihood of ``labels`` (0/1) given ``features`` minus
    ``l2_penalty / 2`` times the sum of the squared ``penalised`` weights.

    L-BFGS-B with the analytic gradient from all-zero weights: no randomness. It works on the
    features divided by their root mean square (the same objective in other units), which
    conditions the problem: decayed counts and one-hot grades differ in scale by orders of
    magnitude, and unscaled, a fit on many examples takes thousands of iterations.
    """
    from scipy.optimize import minimize  # scipy is imported on first use: it is slow to load
    from scipy.special import expit

    y = labels.astype(float)
    mask = penalised.astype(float)
    scale = np.sqrt(np.mean(features**2, axis=0)) if len(features) else np.ones(features.shape[1])
    scale[scale == 0.0] = 1.0
    scaled = features / scale
    penalty = l2_penalty * mask / scale**2  # the penalty on the unscaled weights

    def objective(weights: np.ndarray) -> tuple[float, np.ndarray]:
        z = scaled @ weights
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(penalty * weights**2)
        gradient = scaled.T @ (expit(z) - y) + penalty * weights
        return float(loss), gradient

    start = np.zeros(features.shape[1])
    options = {"maxiter": 10_000, "ftol": 1e-13, "gtol": 1e-9}
    solution = minimize(objective, start, jac=True, method="L-BFGS-B", options=options)
    return solution.x / scale


@dataclass(frozen=True)
class Model:
    """One fitted version: in force from ``start``; ``training`` (the sizes of its training
    set, as reported) is ``None`` for fixed weights. ``activity_score`` sums the activity
    terms of ``w·x`` as one decayed score."""

    start: float
    weights: np.ndarray
    activity_score: ScorePolicy
    training: dict[str, int] | None = None

    def describe(self) -> str:
        """Where the weights come from, for a reason."""
        if self.training is None:
            return "fixed weights"
        if "training_examples" in self.training:
            return (
                f"model fitted day {self.start:g} on {self.training['training_examples']} "
                f"moments of {self.training['training_leads']} leads"
            )
        return f"model fitted day {self.start:g} on {self.training['training_mqls']} MQLs"


@dataclass(frozen=True)
class Examples:
    """A training set: ``features`` (examples × :data:`FEATURES`) and 0/1 ``labels``; for the
    all-leads examples also each one's ``lead`` (into the history's view) and ``event``
    (index into its events; -1 for an MQL episode, whose moment is its MQL time)."""

    features: np.ndarray
    labels: np.ndarray
    lead: np.ndarray
    event: np.ndarray


def _one_hot(grade: np.ndarray) -> np.ndarray:
    """Grade codes as one-hot rows; an unknown grade (any other code) is all zeros."""
    return grade[:, None] == np.arange(len(GRADES))[None, :]


def _decayed_score(points: dict[Activity, float], half_life_days: float) -> ScorePolicy:
    """A score summing ``points`` per event, decayed with ``half_life_days``, over the whole
    history: no caps, no fit points, no reset on recycle."""
    config = ScorePolicyConfig(
        points=points,
        frequency_caps={},
        decay="half_life",
        decay_half_life_days=half_life_days,
        grade_points={},
        reset_on_recycle=False,
    )
    return ScorePolicy(config)


class PredictivePolicy:
    """MQL when the version in force predicts an SQL with probability at least ``cutoff``."""

    def __init__(self, config: PredictivePolicyConfig) -> None:
        self.config = config
        half_life = config.feature_half_life_days
        # The decayed count of each activity is a score with one point for that activity.
        self.counters = [_decayed_score({activity: 1.0}, half_life) for activity in ACTIVITIES]
        self.bootstrap: Policy | None = None
        self.models: list[Model] = []
        self.kept: list[dict[str, Any]] = []
        if config.weights is not None:
            fixed = np.array([config.weights.get(name, 0.0) for name in FEATURES])
            self.models.append(self._model(0.0, fixed))

    def _model(
        self, start: float, weights: np.ndarray, training: dict[str, int] | None = None
    ) -> Model:
        points = dict(zip(ACTIVITIES, weights[: len(ACTIVITIES)].tolist(), strict=True))
        score = _decayed_score(points, self.config.feature_half_life_days)
        return Model(start=start, weights=weights, activity_score=score, training=training)

    # --- features and probabilities -------------------------------------------------------

    def features(self, view: LeadView) -> np.ndarray:
        """The features right after each event of ``view`` (events × :data:`FEATURES`)."""
        events = view.events
        matrix = np.zeros((len(events), len(FEATURES)))
        for code, counter in enumerate(self.counters):
            matrix[:, code] = counter.scores(view)
        matrix[:, _GRADE_COLUMNS] = _one_hot(view.grade[events.lead])
        matrix[:, _INTERCEPT] = 1.0
        return matrix

    def probability(self, model: Model, view: LeadView) -> np.ndarray:
        """``model``'s probability right after each event: ``w·x`` is linear in the decayed
        counts, so its activity part is one decayed score with the weights as points."""
        from scipy.special import expit  # imported on first use, as in :func:`fit_logistic`

        fit = _one_hot(view.grade) @ model.weights[_GRADE_COLUMNS] + model.weights[_INTERCEPT]
        return expit(model.activity_score.scores(view) + fit[view.events.lead])

    def _features_at(self, view: LeadView, lead: np.ndarray, time: np.ndarray) -> np.ndarray:
        """The features of ``lead[k]`` at its last event up to ``time[k]`` (activity counts 0
        when it has none).

        Events and queries are sorted together, lead by lead and in time (a query after the
        events of its time), so the events before a query are those up to it.
        """
        leads, local = np.unique(lead, return_inverse=True)
        alone = view.subset(leads)
        events = alone.events
        is_query = np.repeat([False, True], [len(events), lead.size])
        order = np.lexsort(
            (
                is_query,
                np.concatenate((events.time, time + _CLOCK_TOLERANCE_DAYS)),
                np.concatenate((events.lead, local)),
            )
        )
        queries = is_query[order]
        last = np.empty(lead.size, dtype=np.int64)
        last[order[queries] - len(events)] = np.cumsum(~queries)[queries] - 1
        has_event = last >= events.starts[local]
        rows = np.zeros((lead.size, len(FEATURES)))
        rows[has_event] = self.features(alone)[last[has_event]]
        rows[:, _GRADE_COLUMNS] = _one_hot(alone.grade[local])
        rows[:, _INTERCEPT] = 1.0
        return rows

    # --- the Policy protocol --------------------------------------------------------------

    def _first_fit(self) -> float:
        return self.models[0].start if self.models else math.inf

    def qualify(self, view: LeadView) -> Qualification:
        """Each lead's first event, at or after ``since``, where the version in force fires."""
        if self.bootstrap is None and not self.models:
            raise InputError(
                'policy: kind = "predictive" without `weights` learns from simulated sales '
                "outcomes, so it runs only as a simulation's [policy] (not on a recorded log, "
                "nor inside another policy); give it fitted `weights` (a simulation's "
                "results.json lists them under policy_reports)"
            )
        events = view.events
        n_leads = events.n_leads
        time = np.full(n_leads, np.nan)
        priority = np.full(n_leads, np.nan)
        event = np.full(n_leads, -1, dtype=np.int64)
        first_fit = self._first_fit()
        if self.bootstrap is not None and np.any(view.since < first_fit):
            early = self.bootstrap.qualify(view)
            before = early.time < first_fit  # nan compares False
            time[before] = early.time[before]
            priority[before] = early.priority[before]
            event[before] = early.event[before]
        eligible = events.time >= view.since[events.lead]
        hits, chances = [], []
        ends = [model.start for model in self.models[1:]] + [math.inf]
        for model, end in zip(self.models, ends, strict=False):  # no models: no ends
            inside = eligible & (events.time >= model.start) & (events.time < end)
            if inside.any():
                chance = self.probability(model, view)
                hit = np.flatnonzero(inside & (chance >= self.config.cutoff))
                hits.append(hit)
                chances.append(chance[hit])
        if hits:
            later = first_hits(view, np.concatenate(hits), np.concatenate(chances))
            undecided = np.isnan(time)
            time[undecided] = later.time[undecided]
            priority[undecided] = later.priority[undecided]
            event[undecided] = later.event[undecided]
        return Qualification(time=time, priority=priority, event=event)

    def explain(self, view: LeadView, lead: int) -> str:
        """The probability, the version that fired and the largest contributions to the
        log-odds; before the first fit, the bootstrap's own reason."""
        alone = view.subset(np.array([lead]))
        decision = self.qualify(alone)
        when = decision.time[0]
        if np.isnan(when):
            return "not MQL"
        if when < self._first_fit():
            assert self.bootstrap is not None  # only the bootstrap decides before the first fit
            until = f"until day {self._first_fit():g}" if self.models else "before any fit"
            return f"predictive bootstrap {until} [{self.bootstrap.explain(alone, 0)}]"
        model = next(m for m in reversed(self.models) if m.start <= when)
        contribution = model.weights * self.features(alone)[decision.event[0]]
        ranked = sorted(
            (index for index in range(_INTERCEPT) if contribution[index] != 0),
            key=lambda index: (-abs(contribution[index]), index),
        )
        parts = [f"{FEATURES[index]} {contribution[index]:+.3g}" for index in ranked[:_SHOWN]]
        parts.append(f"intercept {contribution[_INTERCEPT]:+.3g}")
        return (
            f"predictive p={decision.priority[0]:.2f} >= {self.config.cutoff:.2f} "
            f"({model.describe()}): " + ", ".join(parts)
        )

    # --- the Refittable hooks -------------------------------------------------------------

    def refit_times(self, horizon_days: float) -> list[float]:
        """The bootstrap is in force from day 0; fits at ``training_days`` and every
        ``retrain_every_days`` after it, before the horizon (none with fixed weights)."""
        config = self.config
        if config.weights is not None:
            return []
        self.bootstrap = make_policy(config.bootstrap)
        if config.training_days >= horizon_days:
            return []
        if math.isinf(config.retrain_every_days):
            return [config.training_days]
        count = math.ceil((horizon_days - config.training_days) / config.retrain_every_days)
        times = config.training_days + config.retrain_every_days * np.arange(count)
        return times[times < horizon_days].tolist()

    def refit(self, time: float, history: History) -> bool:
        """Fit a version on the examples whose label is known by ``time``; keep the previous
        version (and say why) when there are too few labelled MQLs or only one class."""
        known = history.episode_mql_time <= history.time - self.config.label_window_days
        size = int(known.sum())
        examples = (
            self.all_leads_examples(history)
            if self.config.training_examples == "all_leads"
            else self.mql_examples(history)
        )
        positives = int(examples.labels.sum())
        counts = {"training_mqls": size}
        if self.config.training_examples == "all_leads":
            counts["training_leads"] = int(np.unique(examples.lead).size)
            counts["training_examples"] = int(examples.labels.size)
        counts["positives"] = positives
        if size < self.config.min_training_mqls or positives in (0, examples.labels.size):
            why = (
                f"only {size} labelled MQLs (min_training_mqls = {self.config.min_training_mqls})"
                if size < self.config.min_training_mqls
                else "only one class among the labelled examples"
            )
            self.kept.append({"fit_day": time, **counts, "reason": why})
            return False
        penalised = np.arange(len(FEATURES)) != _INTERCEPT
        weights = fit_logistic(
            examples.features, examples.labels, self.config.l2_penalty, penalised
        )
        self.models.append(self._model(time, weights, counts))
        return True

    def mql_examples(self, history: History) -> Examples:
        """One example per MQL episode opened at least ``label_window_days`` before the
        history's time: the features at its MQL event, labelled 1 when sales found it an SQL
        within ``label_window_days`` of the MQL."""
        window = self.config.label_window_days
        known = history.episode_mql_time <= history.time - window
        mql_time = history.episode_mql_time[known]
        labels = history.episode_sql_time[known] - mql_time <= window  # nan: False
        lead = history.episode_lead[known]
        features = self._features_at(history.view, lead, mql_time)
        event = np.full(lead.size, -1, dtype=np.int64)
        return Examples(features=features, labels=labels, lead=lead, event=event)

    def all_leads_examples(self, history: History) -> Examples:
        """Examples from every lead of the history's view: its state right after a sample of
        its event times ``t``, labelled 1 when sales found it an SQL in ``(t, t + window]``.

        Only moments with ``t <= time - window`` count (their label is known), and only
        moments before the lead's first SQL (from then on the lead is sales', not a
        qualification question). Events at the same time are one moment (after the last of
        them). Of a lead's ``n`` moments, ``k = min(n, max_examples_per_lead)`` are used, the
        ``floor(j n / k)``-th for ``j = 0 ... k - 1``: the first (its arrival) and evenly
        spaced after it, with no randomness.
        """
        window = self.config.label_window_days
        view = history.view
        events = view.events
        first_sql = np.full(events.n_leads, np.inf)
        sql = ~np.isnan(history.episode_sql_time)
        np.minimum.at(first_sql, history.episode_lead[sql], history.episode_sql_time[sql])
        lead, event_time = events.lead, events.time
        last_at_time = np.ones(len(events), dtype=bool)
        last_at_time[:-1] = (lead[1:] != lead[:-1]) | (event_time[1:] != event_time[:-1])
        moment = np.flatnonzero(
            last_at_time
            & (event_time <= history.time - window)
            & (event_time >= view.since[lead])
            & (event_time < first_sql[lead])
        )
        counts = np.bincount(lead[moment], minlength=events.n_leads)
        starts = np.concatenate(([0], np.cumsum(counts)))
        taken = np.minimum(counts, self.config.max_examples_per_lead)
        owner = np.repeat(np.arange(events.n_leads), taken)
        j = np.arange(taken.sum()) - np.repeat(np.cumsum(taken) - taken, taken)
        chosen = moment[starts[owner] + j * counts[owner] // taken[owner]]
        labels = first_sql[lead[chosen]] <= event_time[chosen] + window
        features = self.features(view)[chosen]
        return Examples(features=features, labels=labels, lead=lead[chosen], event=chosen)

    def report(self) -> dict[str, Any]:
        """Every version (from which day, how it was fitted, its weights by feature) and every
        fit that kept the previous version."""
        versions: list[dict[str, Any]] = []
        if self.bootstrap is not None:
            versions.append({"from_day": 0.0, "bootstrap": self.config.bootstrap.kind})
        for model in self.models:
            entry: dict[str, Any] = {"from_day": model.start}
            entry |= model.training or {}
            entry["weights"] = dict(zip(FEATURES, model.weights.tolist(), strict=True))
            versions.append(entry)
        return {"versions": versions, "kept_previous": list(self.kept)}
