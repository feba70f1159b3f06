"""Score extensions on hand-written logs: group caps, linear and window decay, fit points from
explicit data, and whether a recycled lead's history counts; plus a slow reference model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mqlsim.core.vocabulary import FIT_ATTRIBUTES, GRADES
from mqlsim.policies.base import MISSING_CODE, LeadView
from mqlsim.policies.score import ScorePolicy
from mqlsim.policies.sections import ScorePolicyConfig
from tests.builders import event_log

INF = float("inf")


def view(
    events: list[tuple[int, float, str]],
    since: list[float] | None = None,
    grades: list[str] | None = None,
    fit: dict[str, list[str | None]] | None = None,
    n_leads: int | None = None,
) -> LeadView:
    """A view from ``(lead, time, activity)`` triples; grade C and no fit data unless given."""
    if n_leads is None:
        n_leads = max((e[0] for e in events), default=-1) + 1
    codes = {
        name: np.array(
            [MISSING_CODE if v is None else FIT_ATTRIBUTES[name].index(v) for v in values]
        )
        for name, values in (fit or {}).items()
    }
    return LeadView(
        events=event_log(events, n_leads),
        grade=np.array([GRADES.index(g) for g in grades or ["C"] * n_leads], dtype=np.int8),
        fit=codes,
        since=np.zeros(n_leads) if since is None else np.array(since, dtype=float),
    )


def policy(**overrides) -> ScorePolicy:
    """No decay, no caps, no fit points unless overridden."""
    settings_ = {
        "threshold": 100.0,
        "points": {"pricing_page": 30, "case_study": 15, "blog_post": 15, "webinar_attended": 50},
        "frequency_caps": {},
        "decay_half_life_days": INF,
        "grade_points": {},
    }
    settings_.update(overrides)
    return ScorePolicy(ScorePolicyConfig(**settings_))


CONTENT = {"content": {"activities": ["blog_post", "case_study"], "cap_points": 40}}
DOWNLOADS = [
    (0, 1.0, "case_study"),
    (0, 2.0, "blog_post"),
    (0, 3.0, "case_study"),
    (0, 4.0, "case_study"),
    (0, 5.0, "pricing_page"),
]


# --- group caps -------------------------------------------------------------------------------


def test_group_cap_40_gives_the_third_download_10_and_the_fourth_nothing() -> None:
    """Partial credit: 15 + 15 + 10 = 40, the fourth 15-point download earns 0; other activities
    still count."""
    score_policy = policy(groups=CONTENT, threshold=70)
    v = view(DOWNLOADS)
    np.testing.assert_array_equal(score_policy.counted_points(v), [15, 15, 10, 0, 30])
    np.testing.assert_array_equal(score_policy.scores(v), [15, 30, 40, 40, 70])
    assert score_policy.qualify(v).event.tolist() == [4]
    # Without the group the fourth download alone would reach 60 (and 90 with pricing).
    np.testing.assert_array_equal(policy().scores(v), [15, 30, 45, 60, 90])


def test_group_cap_threshold_on_the_cap() -> None:
    """Threshold 40 is reached exactly at the third download; 41 needs something outside."""
    v = view(DOWNLOADS[:4])
    assert policy(groups=CONTENT, threshold=40).qualify(v).event.tolist() == [2]
    assert policy(groups=CONTENT, threshold=41).qualify(v).event.tolist() == [-1]


def test_group_cap_applies_after_frequency_caps_and_per_lead() -> None:
    """A blog post beyond its frequency cap earns nothing and uses none of the group's cap;
    another lead's downloads do not use up this lead's cap."""
    score_policy = policy(groups=CONTENT, frequency_caps={"blog_post": 1})
    v = view(
        [
            (0, 1.0, "blog_post"),
            (0, 2.0, "blog_post"),
            (0, 3.0, "case_study"),
            (0, 4.0, "case_study"),
            (1, 1.0, "case_study"),
        ]
    )
    np.testing.assert_array_equal(score_policy.counted_points(v), [15, 0, 15, 10, 15])


def test_group_cap_counts_from_since() -> None:
    """Downloads before ``since`` do not use up the cap (the score restarts)."""
    score_policy = policy(groups=CONTENT)
    v = view(DOWNLOADS[:4], since=[2.5])
    np.testing.assert_array_equal(score_policy.counted_points(v), [0, 0, 15, 15])


@pytest.mark.parametrize(
    ("groups", "points", "message"),
    [
        (
            {"a": {"activities": ["blog_post"], "cap_points": 5}, **CONTENT},
            {},
            "blog_post is in both",
        ),
        (
            {"neg": {"activities": ["unsubscribe"], "cap_points": 5}},
            {"unsubscribe": -40},
            "negative points",
        ),
    ],
)
def test_bad_groups_are_errors(groups, points, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ScorePolicyConfig(groups=groups, points=points)


# --- linear decay -----------------------------------------------------------------------------


def linear(**overrides) -> ScorePolicy:
    settings_ = {"decay": "linear", "decay_points_per_period": 10.0, "decay_period_days": 30.0}
    return policy(**(settings_ | overrides))


def test_linear_decay_loses_points_at_each_period_end_never_below_zero() -> None:
    """50 points on day 0 stand at 50 on day 29.9, 40 on day 30, 20 on day 95, 0 (not -10) on
    day 180; 50 more on day 181 give 50."""
    score_policy = linear(points={"pricing_page": 50, "web_visit": 0})
    v = view(
        [
            (0, 0.0, "pricing_page"),
            (0, 29.9, "web_visit"),
            (0, 30.0, "web_visit"),
            (0, 95.0, "web_visit"),
            (0, 180.0, "web_visit"),
            (0, 181.0, "pricing_page"),
        ]
    )
    np.testing.assert_array_equal(score_policy.scores(v), [50, 50, 40, 20, 0, 50])


def test_linear_periods_run_from_since_and_points_add_between() -> None:
    """Score from day 10: 50 on day 10, 50 + 30 on day 39 = 80, a period ends on day 40 (70),
    then 70 + 30 = 100 on day 45: MQL there."""
    score_policy = linear(points={"pricing_page": 50, "case_study": 30, "web_visit": 0})
    v = view(
        [
            (0, 5.0, "pricing_page"),
            (0, 10.0, "pricing_page"),
            (0, 39.0, "case_study"),
            (0, 40.0, "web_visit"),
            (0, 45.0, "case_study"),
        ],
        since=[10.0],
    )
    scores = score_policy.scores(v)
    assert math.isnan(scores[0])
    np.testing.assert_array_equal(scores[1:], [50, 80, 70, 100])
    assert score_policy.qualify(v).time.tolist() == [45.0]


def test_linear_negative_points_take_away_only_what_there_is() -> None:
    """10 points, an unsubscribe (-40) leaves 0 (not -30), then 30 gives 30."""
    score_policy = linear(points={"web_visit": 10, "unsubscribe": -40, "pricing_page": 30})
    v = view([(0, 1.0, "web_visit"), (0, 2.0, "unsubscribe"), (0, 3.0, "pricing_page")])
    np.testing.assert_array_equal(score_policy.scores(v), [10, 0, 30])
    # Half-life (no decay) keeps the debt: 10 - 40 + 30 = 0.
    np.testing.assert_array_equal(
        policy(points={"web_visit": 10, "unsubscribe": -40, "pricing_page": 30}).scores(v),
        [10, -30, 0],
    )


def test_linear_explain_shows_the_decay() -> None:
    score_policy = linear(points={"pricing_page": 60}, grade_points={"A": 15})
    v = view([(0, 0.0, "pricing_page"), (0, 65.0, "pricing_page")], grades=["A"])
    assert score_policy.scores(v).tolist() == [75, 115]
    assert score_policy.explain(v, 0) == "score 115 >= 100: pricing_page +120, decay -20, fit +15"


# --- window decay -----------------------------------------------------------------------------


def window(**overrides) -> ScorePolicy:
    return policy(**({"decay": "window", "decay_window_days": 30.0} | overrides))


def test_window_counts_only_the_last_n_days() -> None:
    """60 + 60 inside 30 days qualify; exactly 30 days apart, the old event no longer counts."""
    score_policy = window(points={"pricing_page": 60})
    inside = view([(0, 0.0, "pricing_page"), (0, 29.99, "pricing_page")])
    np.testing.assert_array_equal(score_policy.scores(inside), [60, 120])
    assert score_policy.qualify(inside).event.tolist() == [1]
    outside = view([(0, 0.0, "pricing_page"), (0, 30.0, "pricing_page")])
    np.testing.assert_array_equal(score_policy.scores(outside), [60, 60])
    assert score_policy.qualify(outside).event.tolist() == [-1]


def test_window_slides_event_by_event() -> None:
    score_policy = window(points={"pricing_page": 30, "case_study": 15}, threshold=75)
    v = view(
        [
            (0, 0.0, "pricing_page"),
            (0, 10.0, "case_study"),
            (0, 20.0, "pricing_page"),
            (0, 35.0, "pricing_page"),
            (0, 41.0, "case_study"),
        ]
    )
    # day 35: the day-0 pricing view has expired (15 + 30 + 30); day 41: the day-10 one too.
    np.testing.assert_array_equal(score_policy.scores(v), [30, 45, 75, 75, 75])
    assert score_policy.qualify(v).event.tolist() == [2]


def test_window_negative_points_do_not_expire() -> None:
    """Case study 60 on day 0 expires; the day-1 unsubscribe (-40) does not: 60 - 40 on day 40."""
    score_policy = window(points={"case_study": 60, "unsubscribe": -40, "pricing_page": 60})
    v = view([(0, 0.0, "case_study"), (0, 1.0, "unsubscribe"), (0, 40.0, "pricing_page")])
    np.testing.assert_array_equal(score_policy.scores(v), [60, 20, 20])
    later = view([(0, 0.0, "unsubscribe"), (0, 40.0, "pricing_page"), (0, 41.0, "pricing_page")])
    explained = window(points={"unsubscribe": -40, "pricing_page": 60}, threshold=80)
    assert (
        explained.explain(later, 0) == "score 80 >= 80: unsubscribe -40, pricing_page +120, fit +0"
    )


# --- fit points -------------------------------------------------------------------------------


def test_fit_points_add_to_grade_points() -> None:
    """Student -30, software +10 and grade A +15; a missing job level or an attribute absent
    from the view earns 0."""
    score_policy = policy(
        points={"demo_request": 100},
        grade_points={"A": 15},
        fit_points={"job_level": {"student": -30, "vp": 5}, "industry": {"software": 10}},
    )
    v = view(
        [(i, 1.0, "demo_request") for i in range(4)],
        grades=["A", "C", "C", "A"],
        fit={"job_level": ["student", "vp", None, "vp"], "industry": ["software"] * 3 + ["other"]},
    )
    np.testing.assert_array_equal(score_policy.fit(v), [-5, 15, 10, 20])
    np.testing.assert_array_equal(score_policy.scores(v), [95, 115, 110, 120])
    assert score_policy.qualify(v).event.tolist() == [-1, 1, 2, 3]
    assert score_policy.explain(v, 1) == "score 115 >= 100: demo_request +100, fit +15"
    no_fit_data = view([(0, 1.0, "demo_request")], grades=["A"])
    np.testing.assert_array_equal(score_policy.scores(no_fit_data), [115])


# --- reset on recycle -------------------------------------------------------------------------

#: First run from day 0: MQL on day 5 (60 + 60). Sales recycles it; nurture resumes on day 20.
RECYCLED = [
    (0, 1.0, "pricing_page"),
    (0, 5.0, "pricing_page"),
    (0, 25.0, "web_visit"),
    (0, 30.0, "pricing_page"),
    (0, 32.0, "pricing_page"),
]


def test_reset_on_recycle_true_starts_afresh() -> None:
    score_policy = policy(points={"pricing_page": 60, "web_visit": 1})
    assert score_policy.qualify(view(RECYCLED, since=[0.0])).time.tolist() == [5.0]
    resumed = score_policy.qualify(view(RECYCLED, since=[20.0]))
    assert resumed.time.tolist() == [32.0]  # 1 + 60 + 60
    assert resumed.priority.tolist() == [121.0]


def test_reset_on_recycle_false_counts_history_but_fires_only_after_since() -> None:
    """History 120 counts, but the MQL needs an event at or after since: the day-25 visit."""
    score_policy = policy(points={"pricing_page": 60, "web_visit": 1}, reset_on_recycle=False)
    v = view(RECYCLED, since=[20.0])
    np.testing.assert_array_equal(score_policy.scores(v), [60, 120, 121, 181, 241])
    resumed = score_policy.qualify(v)
    assert resumed.time.tolist() == [25.0]
    assert resumed.priority.tolist() == [121.0]
    assert score_policy.explain(v, 0) == "score 121 >= 100: pricing_page +120, web_visit +1, fit +0"
    # A first run (since = the first event) is the same either way.
    first = view(RECYCLED, since=[1.0])
    assert score_policy.qualify(first).time.tolist() == [5.0]


def test_history_decays_and_caps_across_the_recycle() -> None:
    """Half-life 10 days: on day 25 the history (60, 1, 60 on days 1, 3, 5) stands at ~26.6,
    the second web visit earns nothing (its cap of 1 was used before the resume), and the
    pricing view makes ~86.6 >= 85. With a reset: 1 + 60 (the cap restarts too)."""
    score_policy = policy(
        points={"pricing_page": 60, "web_visit": 1},
        frequency_caps={"web_visit": 1},
        decay_half_life_days=10.0,
        reset_on_recycle=False,
        threshold=85,
    )
    events = [
        (0, 1.0, "pricing_page"),
        (0, 3.0, "web_visit"),
        (0, 5.0, "pricing_page"),
        (0, 25.0, "web_visit"),
        (0, 25.0, "pricing_page"),
    ]
    scores = score_policy.scores(view(events, since=[20.0]))
    expected_history = 60 * 2**-2.4 + 1 * 2**-2.2 + 60 * 2**-2.0
    assert scores[3] == pytest.approx(expected_history, abs=1e-9)
    assert scores[4] == pytest.approx(expected_history + 60, abs=1e-9)
    assert score_policy.qualify(view(events, since=[20.0])).event.tolist() == [4]
    reset = ScorePolicy(score_policy.config.model_copy(update={"reset_on_recycle": True}))
    assert reset.scores(view(events, since=[20.0]))[4] == 61


def test_linear_periods_run_from_the_first_event_when_history_counts() -> None:
    """History counts: periods end 30, 60 days after the first event (day 2), not after since."""
    score_policy = linear(points={"pricing_page": 50, "web_visit": 0}, reset_on_recycle=False)
    v = view([(0, 2.0, "pricing_page"), (0, 31.0, "web_visit"), (0, 32.0, "web_visit")], [20.0])
    np.testing.assert_array_equal(score_policy.scores(v), [50, 50, 40])


def test_half_life_horizon_check_only_for_half_life() -> None:
    with pytest.raises(ValueError, match="decay_half_life_days"):
        ScorePolicyConfig(decay_half_life_days=0.1).check_horizon(365.0)
    ScorePolicyConfig(decay="window", decay_half_life_days=0.1).check_horizon(365.0)


# --- a slow reference model of the documented rules, on random logs ----------------------------


def reference_scores(config: ScorePolicyConfig, log, grade: str, since: float) -> list[float]:
    """The score after each event of one lead, event by event (nan: not counted)."""
    counted = [config.reset_on_recycle is False or t >= since for t, _ in log]
    origin = since if config.reset_on_recycle else (log[0][0] if log else 0.0)
    group_of = {a: name for name, g in config.groups.items() for a in g.activities}
    occurrences: dict[str, int] = {}
    group_total = dict.fromkeys(config.groups, 0.0)
    earned = []
    for (_, activity), counts in zip(log, counted, strict=True):
        points = config.points.get(activity, 0.0) if counts else 0.0
        if counts:
            occurrences[activity] = occurrences.get(activity, 0) + 1
            if occurrences[activity] > config.frequency_caps.get(activity, 10**9):
                points = 0.0
            if activity in group_of:
                name = group_of[activity]
                cap = config.groups[name].cap_points
                points = min(group_total[name] + points, cap) - min(group_total[name], cap)
                group_total[name] += points
        earned.append(points)
    fit = config.grade_points.get(grade, 0.0)
    scores, engagement, previous_periods = [], 0.0, 0
    for j, (t, _) in enumerate(log):
        if config.decay == "half_life":
            value = sum(
                earned[e] * 2 ** (-(t - log[e][0]) / config.decay_half_life_days)
                for e in range(j + 1)
            )
        elif config.decay == "window":
            value = sum(
                earned[e]
                for e in range(j + 1)
                if earned[e] < 0 or t - log[e][0] < config.decay_window_days
            )
        else:
            periods = math.floor(max(t - origin, 0.0) / config.decay_period_days)
            loss = config.decay_points_per_period * (periods - previous_periods)
            previous_periods = periods
            engagement = max(0.0, max(0.0, engagement - loss) + earned[j])
            value = engagement
        scores.append(round(fit + value, 9) if counted[j] else math.nan)
    return scores


ACTIVITY_NAMES = st.sampled_from(["pricing_page", "case_study", "blog_post", "unsubscribe"])
TIMES = st.integers(0, 200 * 24).map(lambda hours: hours / 24)


@settings(max_examples=200, deadline=None)
@given(
    log=st.lists(st.tuples(TIMES, ACTIVITY_NAMES), min_size=1, max_size=15).map(sorted),
    decay=st.sampled_from(["half_life", "linear", "window"]),
    reset=st.booleans(),
    cap=st.sampled_from([0.0, 20.0, 40.0, 1000.0]),
    since=st.integers(0, 100).map(float),
)
def test_scores_match_the_reference_model(log, decay, reset, cap, since) -> None:
    config = ScorePolicyConfig(
        points={"pricing_page": 30, "case_study": 15, "blog_post": 7.5, "unsubscribe": -40},
        frequency_caps={"blog_post": 2},
        groups={"content": {"activities": ["case_study", "blog_post"], "cap_points": cap}},
        decay=decay,
        decay_half_life_days=20.0,
        decay_points_per_period=5.0,
        decay_period_days=14.0,
        decay_window_days=30.0,
        grade_points={"B": 5},
        reset_on_recycle=reset,
    )
    # A second lead in the same view must not change the first one's scores.
    events = [(0, t, a) for t, a in log] + [(1, 3.0, "case_study"), (1, 4.0, "case_study")]
    scores = ScorePolicy(config).scores(view(events, since=[since, 0.0], grades=["B", "B"]))
    np.testing.assert_allclose(
        scores[: len(log)], reference_scores(config, log, "B", since), atol=1e-9
    )
