"""The sales floor's rules one at a time, on hand-made leads (sim/model/sales.py).

Each test runs the real :class:`~mqlsim.model.sales.SalesFloor` on a few leads whose outcome
draws are known, with work times and reach chosen so that the order in which reps take MQLs,
and when, can be read off the log and checked exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import simpy

from mqlsim.core.errors import InputError
from mqlsim.core.rng import Streams
from mqlsim.core.vocabulary import ACTIVITY_CODE, COMPANY_SIZES, LANES
from mqlsim.model.engine import run_replication
from mqlsim.model.metrics import SalesRecord
from mqlsim.model.population import Population
from mqlsim.model.sales import (
    HOURS_PER_DAY,
    Outcome,
    ResponseCurve,
    SalesFloor,
    SalesLog,
    deal_values,
    response,
    with_odds,
)
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import SalesConfig
from tests.builders import buyers

BASELINE = str(Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml")
HOUR = 1.0 / HOURS_PER_DAY
HANDRAISE, PQL, SCORE = (LANES.index(lane) for lane in ("handraise", "pql", "score"))
#: A floor where work takes known time and every attempt reaches the lead: the order of work
#: is the log's order.
PLAIN = {
    "reps": 1,
    "always_working": True,
    "attempt_hours": 0.0,
    "call_hours": 1.0,
    "reach_probability": 1.0,
    "response_strength": 0.0,
    "sla_aware": False,
    "max_queue_age_hours": math.inf,
}


def sales_config(**keys: object) -> SalesConfig:
    return SalesConfig.model_validate({**PLAIN, **keys})


class Run:
    """A sales floor on ``population`` with its own SimPy environment; recycles are kept."""

    def __init__(self, config: SalesConfig, population: Population, start: float = 0.0) -> None:
        self.env = simpy.Environment(initial_time=start)
        self.recycled: list[tuple[int, int, float]] = []
        self.floor = SalesFloor(
            self.env,
            config,
            population,
            Streams(7, 0),
            lambda lead, pass_index, time: self.recycled.append((lead, pass_index, time)),
        )

    def mql(self, time: float, lead: int, activity: str | None = None, score: float = math.nan):
        """``lead`` becomes MQL at ``time`` (days) by ``activity``."""
        code = -1 if activity is None else ACTIVITY_CODE[activity]
        self.floor.schedule_mqls([time], [lead], [0], [score], [code])

    def until(self, time: float) -> SalesLog:
        self.env.run(until=time)
        return self.floor.log

    def first_touch_order(self) -> list[int]:
        """The leads in the order reps first touched them."""
        log = self.floor.log
        touched = [
            e for e in range(len(log.episode_lead)) if not math.isnan(log.episode_first_touch[e])
        ]
        touched.sort(key=lambda e: log.episode_first_touch[e])
        return [log.episode_lead[e] for e in touched]


# --- the response curves ----------------------------------------------------------------------


def test_response_curve_is_geometric_between_points_and_flat_after_the_last() -> None:
    curve = ResponseCurve([[0.0, 1.0], [2.0, 0.25], [4.0, 0.0625]])
    assert curve(0.0) == 1.0
    assert curve(1.0) == pytest.approx(0.5, rel=1e-12)
    assert curve(3.0) == pytest.approx(0.125, rel=1e-12)
    assert curve(4.0) == pytest.approx(0.0625, rel=1e-12)
    assert curve(1000.0) == pytest.approx(0.0625, rel=1e-12)
    assert ResponseCurve([[0.0, 2.0], [2.0, 0.5]])(2.0) == pytest.approx(0.25)  # relative to 0 h
    assert ResponseCurve([[0.0, 1.0], [2.0, 0.25]], strength=0.5)(2.0) == pytest.approx(0.5)
    assert ResponseCurve([[0.0, 1.0], [2.0, 0.25]], strength=0.0)(2.0) == 1.0


def test_with_odds_multiplies_the_odds() -> None:
    assert with_odds(0.5, 3.0) == pytest.approx(0.75)
    assert with_odds(0.8, 0.25) == pytest.approx(0.5)
    assert with_odds(1.0, 0.01) == 1.0
    assert with_odds(0.0, 100.0) == 0.0


def test_response_by_hand() -> None:
    """Two attempts 1 h + 5 h apart; contact odds 1 then 1/4 after 1 h, qualification odds
    halving at 1 h: computed by hand."""
    config = SalesConfig(
        max_attempts=2,
        attempt_hours=1.0,
        retry_gaps_hours=[5.0],
        reach_probability=0.5,
        reach_attempt_factor=0.5,
        contact_curve=[[0.0, 1.0], [1.0, 0.25]],
        qualify_probability=0.5,
        qualify_curve=[[0.0, 1.0], [1.0, 0.5]],
    )
    got = response(config, 1.0)
    first = with_odds(0.5, 0.25)  # 0.2
    second = with_odds(0.5, 0.5 * 0.25)  # attempt 2 at 7 h, the curve flat after 1 h
    assert got.first_contact == pytest.approx(first)
    assert got.contact == pytest.approx(1 - (1 - first) * (1 - second))
    assert got.qualify == pytest.approx(got.contact * with_odds(0.5, 0.5))


# --- lanes, priorities, SLA-aware triage, ages ------------------------------------------------


def test_routes_send_each_mql_to_its_lane() -> None:
    run = Run(sales_config(), buyers(5))
    for lead, activity in enumerate(
        ["demo_request", "product_usage", "trial_signup", "pricing_page", None]
    ):
        run.mql(0.0, lead, activity)
    log = run.until(1.0)
    assert log.episode_lane == [HANDRAISE, PQL, PQL, SCORE, SCORE]
    rerouted = Run(sales_config(routes={"pricing_page": "handraise"}), buyers(1))
    rerouted.mql(0.0, 0, "pricing_page")
    assert rerouted.until(1.0).episode_lane == [HANDRAISE]


def test_a_lower_priority_number_is_worked_first_and_equal_ones_first_come() -> None:
    """One rep busy for an hour with lead 0; then a score MQL (lead 1) and a demo request
    (lead 2) wait: the demo request's lane goes first only when its number is lower."""
    for lanes, order in (
        ({"handraise": {"priority": 1}, "score": {"priority": 2}}, [0, 2, 1]),
        ({}, [0, 1, 2]),
    ):
        run = Run(sales_config(lanes=lanes), buyers(3))
        run.mql(0.0, 0, None)
        run.mql(0.1 * HOUR, 1, None)
        run.mql(0.2 * HOUR, 2, "demo_request")
        run.until(5 * HOUR)
        assert run.first_touch_order() == order


def test_mqls_scheduled_in_batches_are_served_in_time_order_across_batches() -> None:
    """Batches in time order that overlap (the queue merges them into one run) and a batch out
    of order (the queue's heap) are one first-come, first-served queue: one rep, busy 0.2 h
    per lead, touches each lead as soon as it is free and the lead has arrived, in the order
    of their MQL times (lead 2, due at 0.3 h, is taken at 0.4 h although lead 3 of an earlier
    batch is due only at 0.5 h)."""
    run = Run(sales_config(call_hours=0.2), buyers(7))
    schedule = run.floor.schedule_mqls
    schedule([0.0, 0.1 * HOUR, 0.5 * HOUR], [0, 1, 3], [0] * 3, [math.nan] * 3, [-1] * 3)
    schedule([0.3 * HOUR, 0.6 * HOUR], [2, 4], [0] * 2, [math.nan] * 2, [-1] * 2)
    schedule([0.65 * HOUR, 0.45 * HOUR], [5, 6], [0] * 2, [math.nan] * 2, [-1] * 2)
    log = run.until(10 * HOUR)
    assert run.first_touch_order() == [0, 1, 2, 6, 3, 4, 5]
    touched = sorted(log.episode_first_touch)
    assert touched == pytest.approx([0.2 * HOUR * k for k in range(7)])


def test_sla_aware_works_first_touches_that_can_still_meet_their_sla_first() -> None:
    """The rep is busy for 5 h. Lead 1 queued at 0.1 h (4 h SLA: breached by 5 h), lead 2 at
    4.5 h (still within its SLA at 5 h): SLA-aware takes lead 2 first, FIFO takes lead 1."""
    for sla_aware, order in ((True, [0, 2, 1]), (False, [0, 1, 2])):
        run = Run(sales_config(sla_aware=sla_aware, call_hours=5.0), buyers(3))
        run.mql(0.0, 0)
        run.mql(0.1 * HOUR, 1)
        run.mql(4.5 * HOUR, 2)
        run.until(20 * HOUR)
        assert run.first_touch_order() == order


def test_at_risk_first_touches_go_by_lane_priority_then_deadline() -> None:
    """Both wait within their SLA when the rep frees up: the demo request (priority 1) goes
    before the score MQL (priority 2) although its deadline is later."""
    lanes = {"handraise": {"priority": 1, "sla_hours": 8.0}, "score": {"priority": 2}}
    run = Run(sales_config(sla_aware=True, call_hours=1.0, lanes=lanes), buyers(3))
    run.mql(0.0, 0)
    run.mql(0.1 * HOUR, 1)  # score: deadline 4.1 h
    run.mql(0.2 * HOUR, 2, "demo_request")  # hand-raise: deadline 8.2 h
    run.until(5 * HOUR)
    assert run.first_touch_order() == [0, 2, 1]


def test_untouched_mqls_age_out_of_the_queue_back_to_nurture() -> None:
    """Lead 1 waits behind a 100-hour call: at 24 hours of age it leaves the queue, its
    episode ends aged out then, and nurture gets it back then."""
    run = Run(sales_config(call_hours=100.0, max_queue_age_hours=24.0), buyers(2))
    run.mql(0.0, 0)
    run.mql(1 * HOUR, 1)
    log = run.until(200 * HOUR)
    assert log.episode_outcome[1] == Outcome.AGED_OUT
    assert log.episode_end[1] == pytest.approx(25 * HOUR)
    assert log.queue_leave[1] == pytest.approx(25 * HOUR)
    assert math.isnan(log.episode_first_touch[1])
    assert run.recycled == [(1, 0, pytest.approx(25 * HOUR))]
    assert log.episode_outcome[0] != Outcome.AGED_OUT  # touched at once: never ages out


def test_a_lane_age_limit_overrides_the_floor() -> None:
    lanes = {"score": {"max_queue_age_hours": 2.0}}
    run = Run(sales_config(call_hours=100.0, max_queue_age_hours=24.0, lanes=lanes), buyers(3))
    run.mql(0.0, 0)
    run.mql(1 * HOUR, 1)  # score lane: 2 h
    run.mql(1 * HOUR, 2, "demo_request")  # hand-raise lane: the floor's 24 h
    log = run.until(200 * HOUR)
    assert log.episode_end[1] == pytest.approx(3 * HOUR)
    assert log.episode_end[2] == pytest.approx(25 * HOUR)


def test_dedicated_reps_work_their_lane_only() -> None:
    """Two reps, one dedicated to hand-raises: score MQLs are worked one at a time by the
    other; a demo request arriving meanwhile is taken at once by the dedicated rep."""
    config = sales_config(reps=2, lanes={"handraise": {"dedicated_reps": 1}})
    run = Run(config, buyers(4))
    for lead in range(3):
        run.mql(0.0, lead)
    run.mql(0.5 * HOUR, 3, "demo_request")
    log = run.until(10 * HOUR)
    touch = log.episode_first_touch
    assert touch[:3] == pytest.approx([0.0, 1 * HOUR, 2 * HOUR])  # one rep, one hour each
    assert touch[3] == pytest.approx(0.5 * HOUR)


def test_dedicated_reps_must_leave_a_rep_for_every_lane(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[sales]\nreps = 2\n[sales.lanes.handraise]\ndedicated_reps = 2\n")
    with pytest.raises(InputError) as error:
        load_scenario(path)
    [line] = error.value.lines
    assert line.startswith(f"{path}: sales: ") and "dedicated_reps add up to 2" in line


@pytest.mark.parametrize(
    ("curve", "problem"),
    [
        ("[[1.0, 1.0], [2.0, 0.5]]", "the first point must be at 0 hours"),
        ("[[0.0, 1.0], [2.0, 0.5], [2.0, 0.4]]", "the hours must rise"),
        ("[[0.0, 1.0], [2.0, 0.0]]", "odds multipliers must be above 0"),
        ("[[0.0, 1.0, 3.0]]", "each point is [hours, odds multiplier]"),
    ],
)
def test_bad_response_curves_are_one_line_errors(tmp_path: Path, curve: str, problem: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f"[sales]\ncontact_curve = {curve}\n")
    with pytest.raises(InputError) as error:
        load_scenario(path)
    [line] = error.value.lines
    assert f"contact_curve: {problem}" in line and str(path) in line


def test_score_discipline_takes_the_highest_score_in_the_lane() -> None:
    run = Run(sales_config(queue_discipline="score"), buyers(4))
    run.mql(0.0, 0, score=0.0)
    for lead, score in ((1, 120.0), (2, 180.0), (3, math.nan)):
        run.mql(0.1 * HOUR, lead, score=score)
    run.until(10 * HOUR)
    assert run.first_touch_order() == [0, 2, 1, 3]


def test_deadline_discipline_serves_retries_at_their_due_time() -> None:
    """Lead 0 is not reached at its 1-hour first attempt and is due again at 1.5 h; leads 1 and
    2 queued at 0.1 h and 0.2 h (deadlines 4.1 h and 4.2 h). When the rep frees up at 2 h, FIFO
    takes lead 2 (queued first), "deadline" lead 0's retry (due first)."""
    for discipline, third in (("fifo", 2), ("deadline", 0)):
        config = sales_config(
            queue_discipline=discipline,
            reach_probability=0.0,
            max_attempts=2,
            retry_gaps_hours=[0.5],
            attempt_hours=1.0,
        )
        run = Run(config, buyers(3))
        run.mql(0.0, 0)
        run.mql(0.1 * HOUR, 1)
        run.mql(0.2 * HOUR, 2)
        log = run.until(10 * HOUR)
        order = [
            log.episode_lead[e]
            for _, e in sorted(zip(log.work_start, log.work_episode, strict=True))
        ]
        assert order[:3] == [0, 1, third]


# --- the call: screening, meeting, cycle ------------------------------------------------------


def test_sdr_acceptance_sees_fit_and_what_the_call_shows() -> None:
    """Every lead is reached at once; lead i is accepted exactly when its acceptance draw is
    below its grade's chance times the factors for what the call shows it lacks."""
    n = 400
    population = buyers(n, seed=3)
    lacks_budget = np.arange(n) % 2 == 1
    out_of_window = np.arange(n) % 4 >= 2
    population.budget[lacks_budget] = False
    population.window_end[out_of_window] = 0.0  # the window closed before the call
    config = sales_config(call_hours=0.0, sal_no_budget_factor=0.5, sal_not_in_market_factor=0.2)
    run = Run(config, population)
    run.floor.schedule_mqls([0.0] * n, list(range(n)), [0] * n, [math.nan] * n, [-1] * n)
    log = run.until(1.0)
    expected = 0.9 * np.where(lacks_budget, 0.5, 1.0) * np.where(out_of_window, 0.2, 1.0)
    accepted = np.array(log.episode_outcome) != Outcome.REJECTED
    np.testing.assert_array_equal(accepted, population.u_accept < expected)
    assert (
        0
        < accepted[lacks_budget | out_of_window].sum()
        < accepted[~(lacks_budget | out_of_window)].sum()
    )


def test_an_opportunity_counts_as_won_only_once_its_cycle_closes() -> None:
    """The same run cut at two horizons: before a deal's close it is an open opportunity
    (pipeline, not revenue), after it won."""
    population = buyers(1)
    config = sales_config(
        call_hours=0.0,
        discovery_meeting_days=0.0,
        qualify_probability=1.0,
        opportunity_probability=1.0,
        win_probability={"A": 1.0},
        cycle_sigma=0.0,
        cycle_median_days=10.0,
    )
    run = Run(config, population)
    run.mql(0.0, 0)
    log = run.until(1.0)
    close = log.episode_close[0]
    deal = deal_values(population, config)[0]  # 25,000 at a company of 1-10: x 0.5
    assert close == pytest.approx(10.0 * (deal / 25_000.0) ** 0.3)
    assert log.episode_sql[0] == pytest.approx(0.0)
    for horizon, outcome in ((close - 1.0, Outcome.OPPORTUNITY_OPEN), (close + 1.0, Outcome.WON)):
        log.horizon = horizon
        assert SalesRecord.from_log(log).outcome[0] == outcome


def test_a_lanes_win_odds_scale_its_opportunities_odds_of_winning() -> None:
    """The same opportunities in two lanes: in the pql lane (win odds 3) lead i is won exactly
    when its win draw is below the chance of odds three times the grade's 1:1, that is 0.75;
    in the score lane (odds left at 1), below the grade's 0.5 itself."""
    n = 200
    population = buyers(n, seed=5)
    config = sales_config(
        reps=n,
        call_hours=0.0,
        discovery_meeting_days=0.0,
        sal_acceptance_probability={"A": 1.0},
        qualify_probability=1.0,
        opportunity_probability=1.0,
        win_probability={"A": 0.5},
        cycle_sigma=0.0,
        cycle_median_days=1.0,
        lanes={"pql": {"win_odds": 3.0}},
    )
    for activity, chance in (("product_usage", 0.75), (None, 0.5)):
        run = Run(config, population)
        code = -1 if activity is None else ACTIVITY_CODE[activity]
        run.floor.schedule_mqls([0.0] * n, list(range(n)), [0] * n, [math.nan] * n, [code] * n)
        log = run.until(30.0)
        log.horizon = 30.0
        won = SalesRecord.from_log(log).outcome == Outcome.WON
        lead = np.array(log.episode_lead)
        np.testing.assert_array_equal(won, population.u_win[lead] < chance)
        assert 0 < won.sum() < n


def test_deal_value_depends_on_company_size() -> None:
    population = buyers(len(COMPANY_SIZES))
    population.fit["company_size"][:] = np.arange(len(COMPANY_SIZES))
    population.fit["company_size"][0] = -1  # unknown: the persona's value as drawn
    config = SalesConfig()
    values = deal_values(population, config)
    expected = [25_000.0] + [
        25_000.0 * config.deal_value_multiplier[size] for size in COMPANY_SIZES[1:]
    ]
    np.testing.assert_allclose(values, expected)


def test_long_sales_cycles_keep_revenue_out_of_the_run() -> None:
    """With cycles far longer than the run, opportunities open but no deal is won."""
    small = ["population.leads_per_day=10", "scenario.horizon_days=200", "scenario.warmup_days=30"]
    metrics = run_replication(
        load_scenario(BASELINE, [*small, "sales.cycle_median_days=100000", "sales.cycle_sigma=0"]),
        0,
    ).metrics
    assert metrics["opportunities"] > 0 and metrics["pipeline_value"] > 0
    assert metrics["deals_won"] == 0 and metrics["revenue_won"] == 0
    assert math.isnan(metrics["days_sql_to_won"]) and math.isnan(metrics["pipeline_velocity"])
