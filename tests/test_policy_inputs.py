"""What policies read besides activities: the lead's source (points by channel, in a simulation
and in a replay) and an event's recorded value; and which rule made each lead MQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mqlsim
from mqlsim.core.errors import InputError
from mqlsim.core.events import EventLog
from mqlsim.core.vocabulary import ACTIVITY_CODE
from mqlsim.model.engine import run_replication
from mqlsim.policies import make_policy
from mqlsim.policies.base import MISSING_CODE, LeadView, rule_labels
from mqlsim.scenario.loading import load_scenario
from tests.builders import event_log

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
SMALL = ["scenario.horizon_days=120", "scenario.warmup_days=30", "population.leads_per_day=15"]


def view(
    events: EventLog, source: list[int] | None = None, names: tuple[str, ...] = ()
) -> LeadView:
    n = events.n_leads
    return LeadView(
        events=events,
        grade=np.full(n, 3),  # D
        fit={},
        since=np.zeros(n),
        source=None if source is None else np.array(source),
        source_names=names,
    )


def test_source_points_are_fit_points_by_channel_in_a_simulation() -> None:
    """Leads of the channel given points become MQL sooner; the others are decided as before."""
    plain = load_scenario(BASELINE, SMALL)
    boosted = load_scenario(BASELINE, [*SMALL, "policy.source_points.events=60"])
    before, after = run_replication(plain, 0), run_replication(boosted, 0)
    pop = before.population
    events_channel = pop.channel_names.index("events")

    def first_mqls(run) -> dict[int, float]:  # type: ignore[no-untyped-def]
        """Each lead's first MQL (later ones depend on the sales queue, shared by all)."""
        sales = run.sales
        firsts = sales.pass_index == 0
        return dict(zip(sales.lead[firsts], sales.mql_time[firsts], strict=True))

    first, boosted_first = first_mqls(before), first_mqls(after)
    others = [lead for lead in first if pop.channel[lead] != events_channel]
    assert others and all(boosted_first.get(lead) == first[lead] for lead in others[:200])
    from_events = [lead for lead in boosted_first if pop.channel[lead] == events_channel]
    assert sum(lead not in first for lead in from_events) > 10  # newly qualified by the points
    reason = next(
        r.reason
        for r in mqlsim.explain(boosted, limit=None)
        if pop.channel[r.lead] == events_channel
    )
    assert "source events +60" in reason


def test_a_source_that_is_no_channel_is_an_error_in_a_simulation(capsys) -> None:
    with pytest.raises(InputError, match="policy: source 'evnts' is not a channel of"):
        mqlsim.run(BASELINE, overrides=[*SMALL, "policy.source_points.evnts=60"], workers=1)
    with pytest.raises(InputError, match=r"\(did you mean 'events'\?\)"):
        mqlsim.explain(BASELINE, overrides=[*SMALL, "policy.source_points.evnts=60"])


def test_source_points_in_a_view() -> None:
    config = load_scenario(BASELINE, ["policy.source_points.ads=120"]).policy
    policy = make_policy(config)
    events = event_log([(0, 0.0, "web_visit"), (1, 0.0, "web_visit"), (2, 0.0, "web_visit")], 3)
    decision = policy.qualify(view(events, [0, 1, MISSING_CODE], ("ads", "seo")))
    assert np.isfinite(decision.time).tolist() == [True, False, False]
    assert np.isnan(policy.qualify(view(events)).time).all()  # no source known: no points


def test_value_points_read_the_events_value_and_obey_caps() -> None:
    config = load_scenario(
        BASELINE,
        [
            "policy.threshold=50",
            "policy.grade_points.D=0",
            "policy.value_points.web_visit=0.1",
            "policy.frequency_caps.web_visit=2",
            "policy.points.web_visit=0",
        ],
    ).policy
    policy = make_policy(config)
    base = event_log([(0, 0.0, "web_visit"), (0, 1.0, "web_visit"), (0, 2.0, "web_visit")], 1)
    for values, fires_at in (([300.0, 250.0, 900.0], 1.0), ([100.0, 100.0, 900.0], None)):
        events = EventLog(base.lead, base.time, base.activity, base.starts, np.array(values))
        decision = policy.qualify(view(events))
        # The third visit is beyond the cap of 2: its 90 points do not count.
        assert np.isnan(decision.time[0]) if fires_at is None else decision.time[0] == fires_at
    no_values = policy.qualify(view(base))
    assert np.isnan(no_values.time[0])  # simulated events carry no value


def test_value_points_in_a_group_are_refused() -> None:
    with pytest.raises(InputError, match="web_visit has value_points"):
        load_scenario(
            BASELINE,
            [
                "policy.value_points.web_visit=1",
                "policy.groups.browse={activities=['web_visit'], cap_points=10}",
            ],
        )


def test_the_rule_that_fired_through_gates_and_combinations() -> None:
    scenario = mqlsim.load(
        ROOT / "scenarios" / "policy_any_of.toml",
        {"policy.rules": [
            {"kind": "gate", "required_fields": [], "rule": {"kind": "handraise"}},
            {"kind": "any_of", "rules": [{"kind": "trigger", "count": 1}]},
        ]},
    )  # fmt: skip
    policy = make_policy(scenario.policy)
    events = event_log(
        [(0, 1.0, "demo_request"), (1, 2.0, "pricing_page"), (2, 1.0, "web_visit")], 3
    )
    lead_view = view(events)
    decision = policy.qualify(lead_view)
    assert rule_labels(policy, scenario.policy.kind, decision) == [
        "rules.0 (gate) > handraise",
        "rules.1 (any_of) > rules.0 (trigger)",
        "",
    ]
    assert ACTIVITY_CODE["pricing_page"] == events.activity[1]
