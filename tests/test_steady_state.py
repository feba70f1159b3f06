"""The funnel reaches a steady state, and a run can start in it (docs/model.md, "Steady state
and the stationary start").

- The shipped baseline (and loose, and strict) measured over days 90-365 and over the same 275
  days of the third year agree within 5 % on every funnel rate and on MQLs per day.
- A run that starts from the stationary stock agrees over its first year, from day 0, with a
  run that started empty, once that one has settled (its sixth year), within 5 %.
- The stationarity check warns on a run that is not in a steady state, and only then.

Windows of equal length are compared: ``mqls`` counts distinct leads, so a longer window counts
fewer per day (a lead qualified twice counts once), which is the counting, not a drift. Each
window's metrics are computed from one long replication with the run's own metric code
(:func:`mqlsim.model.metrics.compute_metrics`), with the outcomes a run ending at the window's
end would have seen: a sales cycle can last months, so a window followed up for two more years
would win more of its SQLs' deals than one that ends at the run's horizon.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mqlsim.cli import main
from mqlsim.experiments.runner import default_workers
from mqlsim.model.engine import ReplicationResult, run_replication, shared_stage
from mqlsim.model.metrics import SalesRecord, compute_metrics
from mqlsim.model.sales import Outcome, WorkingCalendar
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import Scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
RATES = ("lead_to_mql_rate", "mql_to_sal_rate", "mql_to_sql_rate", "sql_to_won_rate")
COMPARED = (*RATES, "mqls_per_day", "mql_events_per_day")
TOLERANCE = 0.05  # relative
YEAR = 365.0
#: Replications per long run: enough that the noise of the rarest rate (SQL→won, about 150
#: deals a window) leaves the 5 % tolerance about three standard errors of the difference.
REPLICATIONS = 12
EARLY = (90.0, 365.0)
LATE = (820.0, 1095.0)  # the same 275 days of the third year
SETTLED = (5 * YEAR, 6 * YEAR)  # the sixth year of a run that started empty


def as_of(sales: SalesRecord, end: float) -> SalesRecord:
    """``sales`` as a run ending at ``end`` records it (as ``SalesRecord.from_log`` does at the
    horizon): an episode decided at ``end`` or later is open, an opportunity closing then is
    still open."""
    outcome, close = sales.outcome.copy(), sales.close.copy()
    finish, sql_time = sales.end.copy(), sales.sql_time.copy()
    undecided = ~(finish < end) & (sales.mql_time < end) & (outcome != Outcome.OPEN)
    outcome[undecided] = Outcome.OPEN
    finish[undecided] = np.nan
    sql_time[undecided] = np.nan
    closing_later = ~(close < end)
    outcome[closing_later & (outcome > Outcome.OPPORTUNITY_OPEN)] = Outcome.OPPORTUNITY_OPEN
    close[closing_later] = np.nan
    return replace(sales, outcome=outcome, close=close, end=finish, sql_time=sql_time)


def window(scenario: Scenario, result: ReplicationResult, begin: float, end: float) -> dict:
    """The metrics of ``result`` measured over ``[begin, end)``, plus MQLs and MQL events per
    day."""
    meta = scenario.scenario.model_copy(update={"warmup_days": begin, "horizon_days": end})
    measured = scenario.model_copy(update={"scenario": meta})
    unsubscribed = np.zeros(result.population.size, dtype=bool)
    unsubscribed[result.touches.lead[result.touches.unsubscribed]] = True
    metrics = compute_metrics(
        measured,
        result.population,
        as_of(result.sales, end),
        result.touches,
        unsubscribed,
        WorkingCalendar(scenario.sales),
    )
    metrics["mqls_per_day"] = metrics["mqls"] / (end - begin)
    metrics["mql_events_per_day"] = metrics["mql_events"] / (end - begin)
    return metrics


def windows_of(
    scenarios: dict[str, Scenario], replication: int, windows: dict[str, list[tuple[float, float]]]
) -> dict[str, list[dict]]:
    """One replication of each of ``scenarios`` (which differ only in their policy, so they
    share its stage, computed once here) measured over each of that scenario's ``windows`` (a
    task of the process pool)."""
    stage = shared_stage(next(iter(scenarios.values())), replication, memo=True)
    measured = {}
    for name, scenario in scenarios.items():
        result = run_replication(scenario, replication, stage)
        measured[name] = [window(scenario, result, begin, end) for begin, end in windows[name]]
    return measured


def long_runs(
    horizon: float, windows: dict[str, list[tuple[float, float]]], *sets: str
) -> dict[str, list[dict]]:
    """The mean of each metric over :data:`REPLICATIONS` replications, per scenario file named
    in ``windows`` (files that differ only in their policy) and per window of it (the
    replications run in a pool over the machine's cores; the results do not depend on it, nor
    on the stage being shared)."""
    scenarios = {
        name: load_scenario(SCENARIOS / f"{name}.toml", [f"scenario.horizon_days={horizon}", *sets])
        for name in windows
    }
    tasks = [(scenarios, replication, windows) for replication in range(REPLICATIONS)]
    with ProcessPoolExecutor(max_workers=min(default_workers(), REPLICATIONS)) as pool:
        runs = list(pool.map(windows_of, *zip(*tasks, strict=True)))
    return {
        name: [
            {key: float(np.mean([run[name][index][key] for run in runs])) for key in COMPARED}
            for index in range(len(spans))
        ]
        for name, spans in windows.items()
    }


def relative_gaps(first: dict, second: dict) -> dict[str, float]:
    return {key: second[key] / first[key] - 1.0 for key in COMPARED}


@pytest.fixture(scope="module")
def three_years() -> dict[str, list[dict]]:
    """Baseline, loose and strict over three years, each replication's stage shared by the
    three: the first and third years, and the baseline's first year from day 0."""
    return long_runs(
        3 * YEAR,
        {"baseline": [EARLY, LATE, (0.0, YEAR)], "loose": [EARLY, LATE], "strict": [EARLY, LATE]},
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", "loose", "strict"])
def test_year_one_and_year_three_agree(name: str, three_years) -> None:
    early, late = three_years[name][:2]
    gaps = relative_gaps(early, late)
    assert all(abs(gap) <= TOLERANCE for gap in gaps.values()), gaps


@pytest.mark.slow
def test_the_stationary_start_is_the_settled_state_of_an_empty_start(three_years) -> None:
    """Days [0, 365) of the stationary start (no warm-up at all) against the sixth year of
    runs that start with an empty database."""
    stationary = three_years["baseline"][2]
    empty_start = long_runs(SETTLED[1], {"baseline": [SETTLED]}, "population.initial_stock=none")
    (settled,) = empty_start["baseline"]
    gaps = relative_gaps(settled, stationary)
    assert all(abs(gap) <= TOLERANCE for gap in gaps.values()), gaps


def test_an_empty_start_warns_and_results_json_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the stock and without a warm-up, the database fills during the run: weekly MQLs
    climb, and the run says so in one line per drifting series."""
    args = [
        "run",
        str(SCENARIOS / "baseline.toml"),
        "--set",
        "population.initial_stock=none",
        "--set",
        "scenario.warmup_days=0",
        "--set",
        "population.leads_per_day=20",
        "--replications",
        "3",
        "--workers",
        "1",
        "--no-cache",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("mqlsim: warning: ")]
    assert any("weekly MQL events drift +" in line for line in warnings), err
    document = json.loads((tmp_path / "results.json").read_text())
    check = document["stationarity"]["mql_events"]
    assert check["drifts"] and check["drift"] > 0.05 and check["ci_low"] > 0
    assert len(check["values"]) == 3 and check["weeks"] == 52
    assert [f"mqlsim: warning: {line}" for line in document["warnings"]] == warnings


def test_the_stationary_start_does_not_warn(tmp_path: Path, capsys) -> None:
    args = ["run", str(SCENARIOS / "baseline.toml"), "--set", "population.leads_per_day=20"]
    assert main([*args, "--workers", "1", "--no-cache", "--out", str(tmp_path)]) == 0
    assert "warning" not in capsys.readouterr().err
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["warnings"] == []
    for check in document["stationarity"].values():
        assert not check["drifts"] and check["ci_low"] <= 0 <= check["ci_high"]
