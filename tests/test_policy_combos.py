"""Matrix, any_of/all_of and the data gate on hand-written logs; missing fit fields; properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlsim.core.errors import InputError
from mqlsim.core.rng import Streams
from mqlsim.core.vocabulary import FIT_ATTRIBUTES, GRADES
from mqlsim.model.calendar import ActivityClock
from mqlsim.model.population import generate_population, icp_points_of
from mqlsim.policies import PolicyConfig
from mqlsim.policies.base import MISSING_CODE, LeadView
from mqlsim.policies.sections import (
    AllOfPolicyConfig,
    AnyOfPolicyConfig,
    GatePolicyConfig,
    MatrixPolicyConfig,
    make_policy,
)
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import JourneysConfig, PopulationConfig, Scenario, ScenarioMeta
from tests.builders import event_log, generated_view

INF = float("inf")
NAN = float("nan")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
#: An engagement score without decay, caps or fit points: sums are easy to check by hand.
PLAIN = {
    "points": {"pricing_page": 30, "case_study": 20, "webinar_attended": 50, "demo_request": 100},
    "frequency_caps": {},
    "decay_half_life_days": INF,
    "grade_points": {},
}


def view(
    events: list[tuple[int, float, str]],
    grades: str | None = None,
    fit: dict[str, list[int]] | None = None,
    n_leads: int | None = None,
) -> LeadView:
    """A view from ``(lead, time, activity)`` triples; ``grades`` like ``"ABCD"`` (default C)."""
    if n_leads is None:
        n_leads = len(grades) if grades else max(e[0] for e in events) + 1
    return LeadView(
        events=event_log(events, n_leads),
        grade=np.array([GRADES.index(g) for g in grades or "C" * n_leads], dtype=np.int8),
        fit={name: np.array(codes, dtype=np.int8) for name, codes in (fit or {}).items()},
        since=np.zeros(n_leads),
    )


def policy(config: dict[str, Any]) -> Any:
    """The policy of a ``[policy]`` table, validated like a scenario's (nested kinds too)."""
    return make_policy(Scenario.model_validate({"policy": config}).policy)


def score(threshold: float, **points: float) -> dict[str, Any]:
    return {**PLAIN, "kind": "score", "threshold": threshold} | (
        {"points": points} if points else {}
    )


# --- matrix -----------------------------------------------------------------------------------

MATRIX_LOG = [
    # the same history for every grade: 30 on day 1, 50 on day 2, 100 on day 3
    *[(lead, 1.0, "pricing_page") for lead in range(4)],
    *[(lead, 2.0, "case_study") for lead in range(4)],
    *[(lead, 3.0, "webinar_attended") for lead in range(4)],
    (4, 1.0, "pricing_page"),  # grade C reaching only 30 + 20 = 50
    (4, 2.0, "case_study"),
]


def matrix(**settings_: Any) -> Any:
    return policy({"kind": "matrix", "engagement": PLAIN} | settings_)


def test_matrix_cells_by_grade() -> None:
    """A and B qualify at 50 (day 2), C at 90 (day 3, score 100), D never, C at 50 never."""
    decision = matrix().qualify(view(MATRIX_LOG, grades="ABCDC"))
    np.testing.assert_array_equal(decision.time, [2.0, 2.0, 3.0, NAN, NAN])
    np.testing.assert_array_equal(decision.priority, [50.0, 50.0, 100.0, NAN, NAN])
    np.testing.assert_array_equal(decision.event, [1, 4, 8, -1, -1])


def test_matrix_cell_for_d_and_exact_bar() -> None:
    decision = matrix(cells={"D": 100, "A": 30}).qualify(view(MATRIX_LOG, grades="ABCDC"))
    np.testing.assert_array_equal(decision.time, [1.0, NAN, NAN, 3.0, NAN])


def test_matrix_explain() -> None:
    rule, lead_view = matrix(), view(MATRIX_LOG, grades="ABCDC")
    assert rule.explain(lead_view, 1) == "matrix: grade B with score 50 >= 50"
    assert rule.explain(lead_view, 2) == "matrix: grade C with score 100 >= 90"
    assert rule.explain(lead_view, 3) == "not MQL"


def test_matrix_engagement_has_no_grade_points() -> None:
    assert MatrixPolicyConfig().engagement.grade_points == {}
    partial = MatrixPolicyConfig.model_validate({"engagement": {"threshold": 5.0}})
    assert partial.engagement.grade_points == {}
    with pytest.raises(ValueError, match="grade_points must be empty"):
        MatrixPolicyConfig.model_validate({"engagement": {"grade_points": {"A": 10.0}}})


def test_matrix_engagement_decays_like_the_score() -> None:
    """With a 1-day half-life, 30 points on day 0 are 15 on day 1: 15 + 20 < 50 for grade A."""
    engagement = PLAIN | {"decay_half_life_days": 1.0}
    log = [(0, 0.0, "pricing_page"), (0, 1.0, "case_study"), (0, 1.0, "pricing_page")]
    decision = policy({"kind": "matrix", "engagement": engagement}).qualify(view(log, "A"))
    np.testing.assert_array_equal(decision.time, [1.0])
    assert decision.priority[0] == 65.0  # 15 + 20 + 30, reached at the third event
    assert decision.event[0] == 2


# --- any_of / all_of --------------------------------------------------------------------------

# lead 0: case study (score 100) on day 3, demo request on day 5; lead 1: demo request only;
# lead 2: case study only; lead 3: nothing that counts.
COMBO_LOG = [
    (0, 3.0, "case_study"),
    (0, 5.0, "demo_request"),
    (1, 2.0, "demo_request"),
    (2, 4.0, "case_study"),
    (3, 1.0, "web_visit"),
]
SCORE_RULE = score(100, case_study=100)
HANDRAISE_RULE = {"kind": "handraise", "activities": ["demo_request"]}


def test_any_of_fires_at_the_earliest_rule() -> None:
    decision = policy({"kind": "any_of", "rules": [SCORE_RULE, HANDRAISE_RULE]}).qualify(
        view(COMBO_LOG)
    )
    np.testing.assert_array_equal(decision.time, [3.0, 2.0, 4.0, NAN])
    np.testing.assert_array_equal(decision.event, [0, 2, 3, -1])
    np.testing.assert_array_equal(decision.priority, [100.0, NAN, 100.0, NAN])


def test_all_of_fires_when_the_last_rule_first_fires() -> None:
    decision = policy({"kind": "all_of", "rules": [SCORE_RULE, HANDRAISE_RULE]}).qualify(
        view(COMBO_LOG)
    )
    np.testing.assert_array_equal(decision.time, [5.0, NAN, NAN, NAN])
    np.testing.assert_array_equal(decision.event, [1, -1, -1, -1])
    np.testing.assert_array_equal(decision.priority, [100.0, NAN, NAN, NAN])


def test_all_of_counts_a_rule_that_no_longer_holds() -> None:
    """The score reaches 100 on day 0 and decays to 25 by day 20; all_of still fires then."""
    decaying = score(100, case_study=100) | {"decay_half_life_days": 10.0}
    log = [(0, 0.0, "case_study"), (0, 20.0, "demo_request")]
    rule = policy({"kind": "all_of", "rules": [decaying, HANDRAISE_RULE]})
    np.testing.assert_array_equal(rule.qualify(view(log)).time, [20.0])


def test_priority_is_the_first_score_among_rules_fired_by_then() -> None:
    """Rule order decides among scored rules that have fired; later scores do not count."""
    log = [(0, 1.0, "pricing_page"), (0, 2.0, "case_study")]
    low, high = score(30, pricing_page=30), score(50, pricing_page=30, case_study=20)
    decision = policy({"kind": "all_of", "rules": [high, low]}).qualify(view(log))
    assert (decision.time[0], decision.priority[0]) == (2.0, 50.0)
    decision = policy({"kind": "any_of", "rules": [high, low]}).qualify(view(log))
    assert (decision.time[0], decision.priority[0]) == (1.0, 30.0)


def test_nested_combinations() -> None:
    """any_of(all_of(score, handraise), trigger of 2 web visits in 7 days)."""
    log = [*COMBO_LOG, (1, 6.0, "web_visit"), (1, 8.0, "web_visit"), (3, 9.0, "web_visit")]
    nested = {
        "kind": "any_of",
        "rules": [
            {"kind": "all_of", "rules": [SCORE_RULE, HANDRAISE_RULE]},
            {"kind": "trigger", "activity": "web_visit", "count": 2, "window_days": 7.0},
        ],
    }
    decision = policy(nested).qualify(view(log))
    np.testing.assert_array_equal(decision.time, [5.0, 8.0, NAN, NAN])


def test_combination_explains_the_deciding_rules() -> None:
    log_view = view(COMBO_LOG)
    any_of = policy({"kind": "any_of", "rules": [SCORE_RULE, HANDRAISE_RULE]})
    reason = any_of.explain(log_view, 1)
    assert reason.startswith("any_of: rules.1 (handraise) on day 2.00 [")
    assert reason.endswith("]") and "rules.0" not in reason
    assert any_of.explain(log_view, 0).startswith("any_of: rules.0 (score) on day 3.00 [score 100")
    assert any_of.explain(log_view, 3) == "not MQL"
    all_of = policy({"kind": "all_of", "rules": [SCORE_RULE, HANDRAISE_RULE]})
    reason = all_of.explain(log_view, 0)
    assert reason.startswith("all_of: rules.0 (score) on day 3.00 [score 100 >= 100")
    assert "], rules.1 (handraise) on day 5.00 [" in reason
    assert all_of.explain(log_view, 1) == "not MQL"


def test_ties_name_every_rule_that_fired() -> None:
    log_view = view([(0, 2.0, "demo_request")])
    rule = policy({"kind": "any_of", "rules": [HANDRAISE_RULE, score(100, demo_request=100)]})
    reason = rule.explain(log_view, 0)
    assert "rules.0 (handraise) on day 2.00" in reason and "rules.1 (score) on day 2.00" in reason
    assert rule.qualify(log_view).priority[0] == 100.0


def test_combination_needs_rules() -> None:
    with pytest.raises(ValueError, match="at least 1 item"):
        AnyOfPolicyConfig(rules=[])
    config = AllOfPolicyConfig.model_validate({"rules": [{"kind": "score"}]})
    assert config.rules[0].threshold == 100


def test_nested_errors_name_dotted_paths(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[policy]\nkind = "any_of"\n'
        'rules = [{ kind = "score" }, { kind = "score", threshold = "x" },'
        ' { kind = "all_of", rules = [{ kind = "matrx" }] }]\n'
    )
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    lines = caught.value.lines
    assert len(lines) == 2, lines
    assert lines[0].endswith("policy.rules.1.threshold: expected a number, found 'x' (line 3)")
    assert "policy.rules.2.rules.0.kind: expected one of 'score', " in lines[1]
    assert "found 'matrx' (did you mean 'matrix'?)" in lines[1]


# --- data gate ---------------------------------------------------------------------------------

GATE_LOG = [(lead, 1.0 + lead, "demo_request") for lead in range(4)]
# job_level, company_size codes: lead 0 both known, lead 1 no job level, lead 2 no company
# size, lead 3 known but region missing (not required)
GATE_FIT = {
    "job_level": [2, MISSING_CODE, 1, 0],
    "company_size": [3, 2, MISSING_CODE, 1],
    "region": [0, 0, 0, MISSING_CODE],
}


def gate(**settings_: Any) -> Any:
    return policy({"kind": "gate", "rule": HANDRAISE_RULE} | settings_)


def test_gate_blocks_leads_missing_a_required_field() -> None:
    decision = gate().qualify(view(GATE_LOG, fit=GATE_FIT))
    np.testing.assert_array_equal(decision.time, [1.0, NAN, NAN, 4.0])
    np.testing.assert_array_equal(decision.event, [0, -1, -1, 3])


def test_gate_on_other_fields_and_on_none() -> None:
    log_view = view(GATE_LOG, fit=GATE_FIT)
    by_region = gate(required_fields=["region"]).qualify(log_view)
    np.testing.assert_array_equal(by_region.time, [1.0, 2.0, 3.0, NAN])
    np.testing.assert_array_equal(gate(required_fields=[]).qualify(log_view).time, [1, 2, 3, 4])


def test_gate_treats_a_field_absent_from_the_view_as_missing() -> None:
    """A replayed log without an industry column knows no lead's industry."""
    decision = gate(required_fields=["industry"]).qualify(view(GATE_LOG, fit=GATE_FIT))
    assert np.isnan(decision.time).all()


def test_gate_explains_passes_and_blocks() -> None:
    log_view = view(GATE_LOG, fit=GATE_FIT)
    rule = gate()
    assert rule.explain(log_view, 0).startswith("gate: job_level, company_size known [")
    assert rule.explain(log_view, 1).startswith("not MQL: gate: missing job_level (rule: ")
    assert rule.explain(log_view, 2).startswith("not MQL: gate: missing company_size (rule: ")


def test_gate_default_fields_and_nesting() -> None:
    assert GatePolicyConfig(rule={"kind": "score"}).required_fields == ["job_level", "company_size"]
    combined = policy({"kind": "any_of", "rules": [{"kind": "gate", "rule": SCORE_RULE}]})
    log_view = view([(0, 1.0, "case_study"), (1, 1.0, "case_study")], fit=GATE_FIT, n_leads=4)
    np.testing.assert_array_equal(combined.qualify(log_view).time, [1.0, NAN, NAN, NAN])


# --- missing fit fields in the population ------------------------------------------------------


def population(missing: dict[str, float] | None = None, seed: int = 11) -> Any:
    config = (
        PopulationConfig(leads_per_day=40.0, initial_stock="none")
        if missing is None
        else PopulationConfig(
            leads_per_day=40.0, initial_stock="none", missing_field_probability=missing
        )
    )
    meta = ScenarioMeta(horizon_days=100.0, warmup_days=10.0, seed=seed)
    clock = ActivityClock(JourneysConfig())
    return generate_population(config, meta, Streams(seed, 0), clock)


def test_default_population_misses_nothing() -> None:
    assert all((codes != MISSING_CODE).all() for codes in population().fit.values())


def test_missing_fields_change_nothing_else() -> None:
    """Missingness has its own stream: arrivals, personas, hidden intent and the known fields
    are those of the population without it."""
    full, holed = population(), population({"job_level": 0.3, "region": 0.5})
    for name in ("arrival", "persona", "propensity", "window_start", "deal_value", "u_win"):
        np.testing.assert_array_equal(getattr(full, name), getattr(holed, name))
    # sales learns the whole fit on the call: the grade it uses does not change either
    np.testing.assert_array_equal(full.grade, holed.grade)
    for name, codes in holed.fit.items():
        known = codes != MISSING_CODE
        np.testing.assert_array_equal(codes[known], full.fit[name][known])
    assert abs((holed.fit["job_level"] == MISSING_CODE).mean() - 0.3) < 0.03
    assert abs((holed.fit["region"] == MISSING_CODE).mean() - 0.5) < 0.03
    assert (holed.fit["industry"] != MISSING_CODE).all()


def test_one_fields_probability_moves_no_other_fields_draws() -> None:
    a = population({"job_level": 0.2, "company_size": 0.2})
    b = population({"job_level": 0.6, "company_size": 0.2})
    np.testing.assert_array_equal(a.fit["company_size"], b.fit["company_size"])
    assert ((a.fit["job_level"] == MISSING_CODE) <= (b.fit["job_level"] == MISSING_CODE)).all()


def test_missing_field_earns_no_icp_points() -> None:
    icp = PopulationConfig().icp
    fit = {name: np.zeros(2, dtype=np.int8) for name in FIT_ATTRIBUTES}
    fit["job_level"] = np.array([4, MISSING_CODE], dtype=np.int8)  # vp: 15 points
    known, unknown = icp_points_of(fit, icp)
    assert known - unknown == icp.job_level_points["vp"]
    holed = population({"job_level": 0.3})
    np.testing.assert_array_equal(holed.icp_points, icp_points_of(holed.fit, icp))


# --- properties on the engine's own journeys --------------------------------------------------


@pytest.fixture(scope="module")
def journey_view() -> LeadView:
    """Organic journeys of a small generated population with some fit fields missing."""
    return generated_view(seed=7, missing_field_probability={"job_level": 0.2})


CELL = st.one_of(st.none(), st.floats(0, 200))
SIMPLE_RULES = st.one_of(
    st.builds(lambda t: {"kind": "score", "threshold": t}, st.floats(20, 300)),
    st.builds(
        lambda a, b, c, d: {
            "kind": "matrix",
            "cells": {g: v for g, v in zip("ABCD", (a, b, c, d), strict=True) if v is not None},
        },
        CELL,
        CELL,
        CELL,
        CELL,
    ),
    st.builds(
        lambda activity, count, window: {
            "kind": "trigger",
            "activity": activity,
            "count": count,
            "window_days": window,
        },
        st.sampled_from(["pricing_page", "web_visit", "case_study"]),
        st.integers(1, 4),
        st.sampled_from([3.0, 7.0, 30.0, INF]),
    ),
    st.just(HANDRAISE_RULE),
)
RULES = st.recursive(
    SIMPLE_RULES,
    lambda inner: st.one_of(
        st.builds(
            lambda kind, rules: {"kind": kind, "rules": rules},
            st.sampled_from(["any_of", "all_of"]),
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(lambda rule: {"kind": "gate", "rule": rule}, inner),
    ),
    max_leaves=4,
)


@settings(max_examples=30, deadline=None)
@given(rules=st.lists(RULES, min_size=1, max_size=3), extra=RULES, where=st.integers(0, 3))
def test_adding_a_rule_to_any_of_never_loses_mqls(journey_view, rules, extra, where) -> None:
    before = policy({"kind": "any_of", "rules": rules}).qualify(journey_view)
    more = [*rules[:where], extra, *rules[where:]]
    after = policy({"kind": "any_of", "rules": more}).qualify(journey_view)
    was, now = ~np.isnan(before.time), ~np.isnan(after.time)
    assert not np.any(was & ~now)
    assert np.all(after.time[was] <= before.time[was])
    assert now.sum() >= was.sum()


@settings(max_examples=30, deadline=None)
@given(rules=st.lists(RULES, min_size=1, max_size=3), extra=RULES)
def test_adding_a_rule_to_all_of_never_adds_mqls(journey_view, rules, extra) -> None:
    before = policy({"kind": "all_of", "rules": rules}).qualify(journey_view)
    after = policy({"kind": "all_of", "rules": [*rules, extra]}).qualify(journey_view)
    was, now = ~np.isnan(before.time), ~np.isnan(after.time)
    assert not np.any(now & ~was)
    assert np.all(after.time[now] >= before.time[now])


def test_any_of_is_the_earliest_of_its_rules_on_journeys(journey_view) -> None:
    """Guards the properties against vacuity: the rules fire for some leads, at different times."""
    rules = [score(100) | {"points": {"pricing_page": 30, "case_study": 20}}, HANDRAISE_RULE]
    times = np.stack([policy(rule).qualify(journey_view).time for rule in rules])
    combined = policy({"kind": "any_of", "rules": rules}).qualify(journey_view).time
    np.testing.assert_array_equal(combined, np.fmin(times[0], times[1]))
    fired = ~np.isnan(times)
    assert fired[0].sum() > 0 and fired[1].sum() > 0 and (fired[0] != fired[1]).any()
    gated = policy({"kind": "gate", "rule": rules[1]}).qualify(journey_view).time
    assert 0 < (~np.isnan(gated)).sum() < fired[1].sum()


# --- the example scenarios --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kinds",
    [
        ("policy_matrix.toml", ["matrix"]),
        ("policy_any_of.toml", ["any_of", "score", "handraise", "pql"]),
        ("policy_gate.toml", ["gate", "score"]),
    ],
)
def test_example_scenarios_load(name: str, kinds: list[str]) -> None:
    """They run in tests/test_scenarios_shipped.py; here: they say what they claim."""
    scenario = load_scenario(SCENARIOS / name)
    section = scenario.policy
    nested = [*getattr(section, "rules", []), *filter(None, [getattr(section, "rule", None)])]
    assert [section.kind, *(rule.kind for rule in nested)] == kinds
    assert scenario.scenario.name == name.removesuffix(".toml")
    assert scenario.scenario.description


def test_gate_example_has_missing_fields() -> None:
    scenario = load_scenario(SCENARIOS / "policy_gate.toml")
    assert scenario.population.missing_field_probability["job_level"] > 0
    assert set(scenario.policy.required_fields) <= {
        name for name, p in scenario.population.missing_field_probability.items() if p > 0
    }


def test_policy_union_is_the_scenarios_policy_type() -> None:
    """Combinations hold the same union as the [policy] section (built once, after every
    family registered)."""
    assert AnyOfPolicyConfig.model_fields["rules"].annotation == list[PolicyConfig]
