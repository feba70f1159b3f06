"""`mqlsim replay --against` on a log the simulator recorded, where the truth is known: the
leads each policy flags, the leads only one flags and how they converted match the simulation's
own records exactly; bootstrap intervals are reproducible; gates judge as `compare`'s do."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mqlsim.cli import main
from mqlsim.experiments.lifecycle import LifecycleColumns, read_lifecycle
from mqlsim.experiments.record import EPOCH, record
from mqlsim.model.engine import ReplicationResult, run_replication
from mqlsim.model.sales import Outcome
from mqlsim.policies import make_policy
from mqlsim.render.record import write_recording
from mqlsim.scenario.loading import load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
MATRIX = ROOT / "scenarios" / "policy_matrix.toml"
LOOSE = ROOT / "scenarios" / "loose.toml"
STRICT = ROOT / "scenarios" / "strict.toml"
#: A small run that starts empty: a run from the stationary stock settles its existing leads'
#: MQLs before day 0 without sales records (docs/model.md), so the exact correspondence between
#: the recording's replay and the simulation's own MQLs and outcomes is checked without a stock.
SMALL = [
    "scenario.horizon_days=150",
    "scenario.warmup_days=30",
    "population.leads_per_day=25",
    'population.initial_stock="none"',
]
SETS = [arg for key_value in SMALL for arg in ("--set", key_value)]
#: Outcomes of an episode at or beyond each stage (the simulator decides them at the call).
REACHED = {
    "sal": (Outcome.NOT_SQL, Outcome.SQL_NO_OPPORTUNITY, Outcome.LOST, Outcome.WON),
    "sql": (Outcome.SQL_NO_OPPORTUNITY, Outcome.LOST, Outcome.WON),
    "opportunity": (Outcome.LOST, Outcome.WON),
    "customer": (Outcome.WON,),
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplicationResult, Path]:
    """A small baseline run recorded as events.csv and lifecycle.csv."""
    result = run_replication(load_scenario(BASELINE, SMALL), 0)
    folder = tmp_path_factory.mktemp("recorded")
    write_recording(record(result), folder)
    return result, folder


def flags(result: ReplicationResult, scenario: Path) -> np.ndarray:
    """Which leads ``scenario``'s policy makes MQL on the run's observed events, computed in
    memory from the simulation (no CSV involved)."""
    pop = result.population
    view = pop.view(np.arange(pop.size), result.observed_events(), pop.arrival)
    policy = make_policy(load_scenario(scenario, SMALL).policy)
    return np.isfinite(policy.qualify(view).time)


def reached(result: ReplicationResult, stage: str) -> np.ndarray:
    """Which leads sales took to ``stage`` in the simulation."""
    out = np.zeros(result.population.size, dtype=bool)
    sales = result.sales
    out[sales.lead[np.isin(sales.outcome, REACHED[stage])]] = True
    return out


def replay_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["replay", *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_recorded_lifecycle_is_the_simulations_own_record(recorded) -> None:
    result, folder = recorded
    lifecycle = read_lifecycle(folder / "lifecycle.csv")
    pop, sales = result.population, result.sales
    assert lifecycle.lead_ids == [f"lead-{lead}" for lead in range(pop.size)]
    assert lifecycle.source == [pop.channel_names[c] for c in pop.channel]
    epoch_ns = EPOCH.astype("datetime64[ns]").astype(np.int64)
    created = (lifecycle.created_ns - epoch_ns) / 86_400e9
    assert np.max(np.abs(created - pop.arrival)) < 1e-6 / 86_400 * 1.01  # written to the µs
    mql = np.zeros(pop.size, dtype=bool)
    mql[sales.lead] = True
    np.testing.assert_array_equal(lifecycle.reached["mql"], mql)
    for stage in REACHED:
        np.testing.assert_array_equal(lifecycle.reached[stage], reached(result, stage))
    assert lifecycle.reached["customer"].sum() > 5  # the run won deals: the test has teeth
    won = lifecycle.reached["customer"]
    assert np.all(np.isfinite(lifecycle.deal_value[lifecycle.reached["opportunity"]]))
    np.testing.assert_allclose(lifecycle.deal_value[won], pop.deal_value[won], atol=0.005)
    assert [file.count for file in lifecycle.problems] == [0]


@pytest.mark.parametrize(("policy_a", "policy_b"), [(MATRIX, LOOSE), (BASELINE, MATRIX)])
def test_against_counts_and_conversions_match_the_simulation_exactly(
    recorded, capsys, policy_a: Path, policy_b: Path
) -> None:
    """A pair the run did not use (neither was worked as it flags), and the run's own policy
    against another (the leads only A flags were worked, some converted)."""
    result, folder = recorded
    log, outcomes = folder / "events.csv", folder / "lifecycle.csv"
    args = [str(log), "--outcomes", str(outcomes), "--policy", str(policy_a)]
    args += ["--against", str(policy_b)]
    code, document = replay_json(capsys, *args, *SETS, "--resamples", "200")
    assert code == 0
    a, b = flags(result, policy_a), flags(result, policy_b)
    groups = {"both": a & b, "only A": a & ~b, "only B": ~a & b, "neither": ~a & ~b}
    assert min(groups["only A"].sum(), groups["only B"].sum()) > 10  # both groups exist
    worked = np.zeros(a.size, dtype=bool)
    worked[result.sales.lead] = True
    overlap = {group["group"]: group for group in document["against"]["overlap"]}
    for name, members in groups.items():
        assert overlap[name]["leads"] == int(members.sum()), name
        for stage in REACHED:
            expected = int((members & reached(result, stage)).sum())
            assert overlap[name]["converted"][stage] == expected, (name, stage)
        assert overlap[name]["never_worked"] == int((members & ~worked).sum()), name
    if policy_a == BASELINE:  # the run's own policy: it worked some of the leads only A flags
        assert overlap["only A"]["never_worked"] < overlap["only A"]["leads"]
    metrics = document["against"]["metrics"]
    assert metrics["mqls"]["a"] == a.sum() and metrics["mqls"]["b"] == b.sum()
    won = reached(result, "customer")
    assert metrics["deals_won"]["difference"] == (b & won).sum() - (a & won).sum()
    rows = {row["lead_id"]: row for row in document["leads"]}
    assert {lead for lead, row in rows.items() if row["mql"]} == {
        f"lead-{lead}" for lead in np.flatnonzero(a)
    }
    assert {lead for lead, row in rows.items() if row["b_mql"]} == {
        f"lead-{lead}" for lead in np.flatnonzero(b)
    }


def test_the_recorded_policy_replays_to_the_simulations_own_mqls(recorded, capsys) -> None:
    result, folder = recorded
    args = [str(folder / "events.csv"), "--outcomes", str(folder / "lifecycle.csv")]
    code, document = replay_json(capsys, *args, "--policy", str(BASELINE), *SETS)
    assert code == 0
    sales = result.sales
    first = sales.pass_index == 0
    expected = {f"lead-{lead}" for lead in sales.lead[first]}
    assert {row["lead_id"] for row in document["leads"] if row["mql"]} == expected
    # Every lead the run made MQL was worked: the bias line has nothing to subtract.
    worked = document["outcomes"]["worked_by_sales"]
    assert (worked["worked"], worked["never_worked"]) == (len(expected), 0)
    stages = {stage["stage"]: stage for stage in document["outcomes"]["stages"]}
    for stage in REACHED:
        converters = int(reached(result, stage).sum())
        assert stages[stage]["converters"] == stages[stage]["flagged"] == converters
        assert stages[stage]["recall"] == 1.0
        assert stages[stage]["flagged_after_converting"] == 0


def test_bootstrap_intervals_are_reproducible_bytes(recorded, tmp_path, capsys) -> None:
    _, folder = recorded
    args = [
        "replay", str(folder / "events.csv"), "--outcomes", str(folder / "lifecycle.csv"),
        "--policy", str(MATRIX), "--against", str(LOOSE), *SETS, "--resamples", "100",
    ]  # fmt: skip
    outputs = []
    for run in range(3):
        seed = ["--seed", "7"] if run < 2 else ["--seed", "8"]
        assert main([*args, *seed, "--out", str(tmp_path / str(run))]) == 0
        outputs.append((tmp_path / str(run) / "replay.json").read_bytes())
    capsys.readouterr()
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]  # another seed, other resamples
    document = json.loads(outputs[0])
    interval = document["against"]["metrics"]["mqls"]
    assert interval["ci_low"] < interval["difference"] < interval["ci_high"]
    assert document["against"]["seed"] == 7


def test_gates_have_compares_grammar_and_exit_codes(recorded, capsys) -> None:
    _, folder = recorded
    base = [
        "replay", str(folder / "events.csv"), "--outcomes", str(folder / "lifecycle.csv"),
        "--policy", str(LOOSE), "--against", str(STRICT), *SETS, "--resamples", "200",
    ]  # fmt: skip
    # B (strict) flags about half as many leads as A (loose) on this log.
    assert main([*base, "--fail-if", "mqls > +0"]) == 0
    assert main([*base, "--fail-if", "mqls < -5%"]) == 1
    err = capsys.readouterr().err
    assert "mqlsim: gate failed: mqls < -5%: relative change" in err
    assert main([*base, "--fail-if", "mqls >> 3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mqlsim: error: --fail-if 'mqls >> 3': expected METRIC OP VALUE[%|pp]")
    assert main([*base, "--fail-if", "wasted_sales_hours > +1"]) == 2
    err = capsys.readouterr().err
    assert "a replay of this log does not measure wasted_sales_hours" in err
    assert err.count("\n") == 1
    log = ["replay", str(folder / "events.csv"), "--policy", str(MATRIX), *SETS]
    assert main([*log, "--fail-if", "mqls > +1"]) == 2
    assert "gates compare two policies; give --against" in capsys.readouterr().err


def test_run_record_writes_what_replay_reads(tmp_path, capsys) -> None:
    out = tmp_path / "recorded"
    assert main(["run", str(BASELINE), *SETS, "--replications", "1", "--record", str(out)]) == 0
    capsys.readouterr()
    with open(out / "events.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["lead_id", "timestamp", "activity", "source"]
    with open(out / "lifecycle.csv", newline="") as handle:
        assert next(csv.reader(handle)) == list(LifecycleColumns().model_dump().values())
    code, document = replay_json(
        capsys, str(out / "events.csv"), "--outcomes", str(out / "lifecycle.csv"),
        "--policy", str(BASELINE), *SETS,
    )  # fmt: skip
    assert code == 0
    assert document["outcomes"]["worked_by_sales"]["never_worked"] == 0
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", str(BASELINE), *SETS, "--record", str(blocker)]) == 2
    assert "--record" in capsys.readouterr().err


def test_the_comparison_quoted_in_the_docs_is_what_the_commands_print(
    tmp_path, monkeypatch, capsys
) -> None:
    """docs/replay.md, "A log whose truth is known": the same commands, the same output."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    run = ["run", "scenarios/baseline.toml", "--replications", "1"]
    assert main([*run, "--set", "population.leads_per_day=10", "--record", "sim-log"]) == 0
    capsys.readouterr()
    replay = [
        "replay", "sim-log/events.csv", "--outcomes", "sim-log/lifecycle.csv",
        "--policy", "scenarios/baseline.toml", "--against", "scenarios/loose.toml",
        "--fail-if", "deals_won < -1", "--fail-if", "mql_to_sql_rate < -2%",
    ]  # fmt: skip
    assert main(replay) == 1
    out = capsys.readouterr().out
    excerpt = out[out.index("Against B:") : out.index("\nlead_id ")].rstrip("\n") + "\n"
    docs = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")
    assert f"```text\n{excerpt}```" in docs, "refresh the quoted comparison in docs/replay.md"
