"""Benchmark harness of issue 6: engine speed, memory, sweep cost and cost per lead.

In one invocation, on one machine, it measures:

1. the baseline scenario, one replication over its 365 days, at each ``--leads`` size (10k,
   100k and 1,000,000 by default): wall seconds, leads per second, SimPy events processed per
   second of wall time, and peak memory (RSS). Each size runs in a fresh child process, so its
   peak RSS is its own;
2. a sweep of ``--points`` values of ``policy.threshold`` on ``--sweep-leads`` leads, one
   replication per point, in one process and without the cache (``mqlsim sweep --workers 1
   --no-cache``): total seconds and the ratio to one run of (1) at that size;
3. raw SimPy speed: 10 processes that only ``yield env.timeout(1)``, 10^6 events in all;
4. cost per lead in SimPy events = seconds of (1) at 100k × raw SimPy events/s ÷ leads: the
   figure that compares across machines;
5. calibration (issue 14): ``mqlsim calibrate`` of the shipped baseline with ``sales.reps=4`` to
   the issue's targets (900 leads per 30 days, 18 % lead→MQL, 30 % MQL→SQL), every core, no
   cache: the replications it simulated (its budget counts them; issue 18 caps them at 300) and
   its wall seconds.

Each figure is measured ``--repeat`` times (3 by default), each time in a fresh process, and
the fastest is kept, with every time beside it: on a shared machine other processes only ever
add time. It prints the figures, writes them to ``benchmarks/results.json`` and adds a row to
the table of runs in ``docs/performance.md``. Every figure is recorded with the 1-minute load
average seen before and after it.

    python benchmarks/perf.py                         # the full set (two to three minutes)
    python benchmarks/perf.py --leads 10000 100000 --no-record   # quick look, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
RESULTS = ROOT / "benchmarks" / "results.json"
DOC = ROOT / "docs" / "performance.md"
#: New rows of the table of runs in ``docs/performance.md`` go just above this line.
MARKER = "<!-- perf.py inserts new rows above this line -->"
RAW_PROCESSES = 10
RAW_EVENTS = 1_000_000
COST_LEADS = 100_000

COLUMNS = [
    "date (UTC)",
    "commit",
    "cores",
    "load",
    "10k s",
    "100k s",
    "1M s",
    "1M/100k",
    "100k leads/s",
    "100k events/s",
    "peak RSS 100k / 1M MB",
    "sweep s (×run)",
    "raw SimPy ev/s",
    "cost/lead",
    "calibrate reps, s",
]
TABLE_HEAD = "| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|"

DOC_INTRO = f"""# Performance

How fast mqlsim runs, measured by `python benchmarks/perf.py` (issue 6). Every figure comes from
one invocation on one machine: the fastest of three measurements, each in a fresh process
(`--repeat`), since other processes on a shared machine only ever add time. The 1-minute load
average is recorded beside it (a load above the core count means the run shared its cores).

- **run s / leads/s**: one replication of `scenarios/baseline.toml` over 365 days, with
  `population.leads_per_day` set for 10k, 100k or 1,000,000 leads, each in a fresh process.
- **events/s**: SimPy events processed by that run per wall second (the engine keeps only the
  sales queue and recycling in SimPy, so this is small next to the raw SimPy speed).
- **peak RSS**: the child process's peak resident memory, imports included.
- **sweep**: a 20-point sweep of `policy.threshold` on 100k leads, one replication per point,
  in one process, no cache (`mqlsim sweep --workers 1 --no-cache`); **×run** is its ratio to one
  100k run.
- **raw SimPy**: events/s of {RAW_PROCESSES} processes that only `yield env.timeout(1)`,
  10^6 events.
- **cost/lead**: seconds at 100k × raw SimPy events/s ÷ leads: what one lead costs, in SimPy
  events this machine could have processed meanwhile. It is the figure that compares across
  machines.
- **calibrate**: `mqlsim calibrate` of the baseline with 4 reps to 900 leads a month, 18 %
  lead→MQL and 30 % MQL→SQL (every core, no cache): replications simulated, and seconds.

## Targets (issue 6)

| figure | target |
|---|---|
| cost per lead at 100k | ≤ 5 SimPy events |
| 1M run time | ≤ 12 × the 100k time |
| peak memory at 1M | ≤ 1.5 GB |
| 20-point threshold sweep | ≤ 8 × one run |

## Runs

One row per `perf.py` run (newest last). Load is the 1-minute load average before → after the
whole benchmark, on the machine's core count.

{TABLE_HEAD}
{MARKER}
"""


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_with(leads: int, *extra: str) -> Any:
    """The baseline scenario with ``leads_per_day`` set for about ``leads`` leads a horizon."""
    from mqlsim.scenario.loading import load_scenario

    horizon = load_scenario(BASELINE).scenario.horizon_days
    return load_scenario(BASELINE, [f"population.leads_per_day={leads / horizon}", *extra])


def measure_run(leads: int) -> dict[str, Any]:
    """One replication of the baseline at about ``leads`` leads: time, events, memory.

    SimPy events are counted without touching the engine or slowing it: ``simpy.Environment``
    is replaced by a subclass that only remembers its instances, and after the run each one's
    events scheduled (the counter ``_eid``) minus those still pending at the horizon were processed.
    """
    import simpy

    environments: list[simpy.Environment] = []

    class CountingEnvironment(simpy.Environment):
        """A SimPy environment that registers itself, so its events can be counted."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            environments.append(self)

    from mqlsim.model import engine

    scenario = baseline_with(leads)
    simpy.Environment = CountingEnvironment  # type: ignore[misc]
    before = load()
    start = time.perf_counter()
    result = engine.run_replication(scenario, 0)
    seconds = time.perf_counter() - start
    # ``_eid`` counts the events scheduled: its next value is how many there were.
    events = sum(next(env._eid) - len(env._queue) for env in environments)
    created = result.population.size
    return {
        "leads": created,
        "seconds": seconds,
        "leads_per_second": created / seconds,
        "simpy_events": events,
        "simpy_events_per_second": events / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "load": [before, load()],
    }


def measure_sweep(leads: int, points: int) -> dict[str, Any]:
    """A ``points``-value sweep of ``policy.threshold`` (50, 55, …) on about ``leads`` leads,
    one replication a point, in this process, without the cache."""
    from mqlsim.experiments.sweep import parse_param, run_sweep, sweep_scenarios
    from mqlsim.scenario.loading import load_scenario

    horizon = load_scenario(BASELINE).scenario.horizon_days
    overrides = [f"population.leads_per_day={leads / horizon}", "scenario.replications=1"]
    param = parse_param(f"policy.threshold=50:{50 + 5 * (points - 1)}:5")
    before = load()
    start = time.perf_counter()
    base, grid = sweep_scenarios(str(BASELINE), overrides, [param])
    run_sweep(base, [param], grid, workers=1, cache=None)
    seconds = time.perf_counter() - start
    return {
        "leads": leads,
        "points": len(grid),
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "load": [before, load()],
    }


#: The issue-14 example's targets, as its targets file.
CALIBRATION_TARGETS = (
    "[targets]\nperiod_days = 30\nleads = 900\nlead_to_mql_rate = 0.18\nmql_to_sql_rate = 0.30\n"
)


def measure_calibrate() -> dict[str, Any]:
    """The issue-14 example calibrated from the baseline with 4 reps, on every core, with no
    cache: replications simulated (the check run included), scenarios evaluated, seconds."""
    import tempfile

    from mqlsim import api

    with tempfile.TemporaryDirectory() as folder:
        targets = Path(folder) / "targets.toml"
        targets.write_text(CALIBRATION_TARGETS)
        before = load()
        start = time.perf_counter()
        calibration = api.calibrate(
            BASELINE, targets, overrides=["sales.reps=4"], cache=False, out=Path(folder) / "f.toml"
        )
        seconds = time.perf_counter() - start
    return {
        "replications": calibration.replications,
        "evaluations": calibration.evaluations,
        "within": calibration.within,
        "stop": calibration.stop,
        "seconds": seconds,
        "load": [before, load()],
    }


def measure_raw_simpy() -> dict[str, Any]:
    """Events per second of :data:`RAW_PROCESSES` processes that only wait, 10^6 events."""
    import simpy

    env = simpy.Environment()
    per_process = RAW_EVENTS // RAW_PROCESSES

    def waiter(env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        for _ in range(per_process):
            yield env.timeout(1)

    for _ in range(RAW_PROCESSES):
        env.process(waiter(env))
    before = load()
    start = time.perf_counter()
    env.run()
    seconds = time.perf_counter() - start
    events = next(env._eid)  # events scheduled, all processed: the queue is empty
    return {
        "processes": RAW_PROCESSES,
        "events": events,
        "seconds": seconds,
        "events_per_second": events / seconds,
        "load": [before, load()],
    }


def child(*args: str) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its figures."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.splitlines()[-1])


def commit() -> str:
    """The checked-out commit (short), with ``+`` when the tree has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}+" if dirty else head or "unknown"


def best_of(repeat: int, *args: str) -> dict[str, Any]:
    """The fastest of ``repeat`` measurements, each in a fresh process, with every time kept
    (``all_seconds``) and the highest peak memory: other processes on a shared machine only
    ever add time, so the fastest is the least disturbed (the reasoning of ``timeit``)."""
    rows = [child(*args) for _ in range(repeat)]
    best = dict(min(rows, key=lambda row: row["seconds"]))
    best["all_seconds"] = [row["seconds"] for row in rows]
    if "peak_rss_mb" in best:
        best["peak_rss_mb"] = max(row["peak_rss_mb"] for row in rows)
    return best


def collect(
    sizes: list[int], sweep_leads: int, points: int, sweep: bool, calibrate: bool, repeat: int
) -> dict[str, Any]:
    """Every measurement, each printed as it finishes."""
    figures: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": repeat,
        "load_start": list(os.getloadavg()),
        "runs": [],
    }
    print(f"load average at start: {figures['load_start'][0]:.2f} on {figures['cores']} cores")
    print(
        f"{'leads':>10} {'seconds':>8} {'leads/s':>9} {'events':>9} {'events/s':>9} "
        f"{'peak MB':>8}  load"
    )
    for leads in sizes:
        row = best_of(repeat, "run", str(leads))
        figures["runs"].append(row)
        print(
            f"{row['leads']:>10,} {row['seconds']:>8.2f} {row['leads_per_second']:>9,.0f} "
            f"{row['simpy_events']:>9,} {row['simpy_events_per_second']:>9,.0f} "
            f"{row['peak_rss_mb']:>8,.0f}  {row['load'][0]:.2f}→{row['load'][1]:.2f}"
        )
    raw = figures["raw_simpy"] = best_of(repeat, "raw")
    print(
        f"raw SimPy: {raw['events_per_second']:,.0f} events/s "
        f"({raw['events']:,} events, {raw['processes']} processes)  "
        f"load {raw['load'][0]:.2f}→{raw['load'][1]:.2f}"
    )
    by_size = {_nominal(row["leads"], sizes): row for row in figures["runs"]}
    if COST_LEADS in by_size:
        run = by_size[COST_LEADS]
        figures["cost_per_lead_simpy_events"] = (
            run["seconds"] * raw["events_per_second"] / run["leads"]
        )
        print(
            f"cost per lead at {COST_LEADS:,}: "
            f"{figures['cost_per_lead_simpy_events']:.1f} SimPy events (target ≤ 5)"
        )
    if 1_000_000 in by_size and COST_LEADS in by_size:
        figures["scaling_1m_over_100k"] = (
            by_size[1_000_000]["seconds"] / by_size[COST_LEADS]["seconds"]
        )
        print(f"1M / 100k time: {figures['scaling_1m_over_100k']:.1f}× (target ≤ 12×)")
    if sweep:
        swept = figures["sweep"] = best_of(repeat, "sweep", str(sweep_leads), str(points))
        one = by_size.get(sweep_leads)
        if one is not None:
            swept["ratio_to_one_run"] = swept["seconds"] / one["seconds"]
        ratio = f" = {swept['ratio_to_one_run']:.1f}× one run" if one else ""
        print(
            f"sweep of {swept['points']} thresholds at {sweep_leads:,} leads: "
            f"{swept['seconds']:.1f} s{ratio} (target ≤ 8×)  "
            f"load {swept['load'][0]:.2f}→{swept['load'][1]:.2f}"
        )
    if calibrate:
        fit = figures["calibrate"] = best_of(repeat, "calibrate")
        print(
            f"calibrate (issue 14 example): {fit['replications']} replications"
            f" ({fit['evaluations']} scenarios), {fit['seconds']:.1f} s, every target within:"
            f" {fit['within']} (target ≤ 300 replications)  "
            f"load {fit['load'][0]:.2f}→{fit['load'][1]:.2f}"
        )
    figures["load_end"] = list(os.getloadavg())
    return figures


def _nominal(leads: int, sizes: list[int]) -> int:
    """The requested size nearest to a created population ``leads`` (arrivals are random)."""
    return min(sizes, key=lambda size: abs(size - leads))


def doc_row(figures: dict[str, Any], sizes: list[int]) -> str:
    """The row of the table of runs in ``docs/performance.md`` for ``figures``."""
    by_size = {_nominal(row["leads"], sizes): row for row in figures["runs"]}

    def seconds(size: int) -> str:
        return f"{by_size[size]['seconds']:.2f}" if size in by_size else "–"

    def rss(size: int) -> str:
        return f"{by_size[size]['peak_rss_mb']:,.0f}" if size in by_size else "–"

    mid = by_size.get(COST_LEADS)
    sweep = figures.get("sweep")
    scaling = figures.get("scaling_1m_over_100k")
    cost = figures.get("cost_per_lead_simpy_events")
    fit = figures.get("calibrate")
    cells = [
        figures["date"],
        f"`{figures['commit']}`",
        str(figures["cores"]),
        f"{figures['load_start'][0]:.2f} → {figures['load_end'][0]:.2f}",
        seconds(10_000),
        seconds(COST_LEADS),
        seconds(1_000_000),
        f"{scaling:.1f}×" if scaling is not None else "–",
        f"{mid['leads_per_second']:,.0f}" if mid else "–",
        f"{mid['simpy_events_per_second']:,.0f}" if mid else "–",
        f"{rss(COST_LEADS)} / {rss(1_000_000)}",
        (
            f"{sweep['seconds']:.1f} ({sweep['ratio_to_one_run']:.1f}×)"
            if sweep and "ratio_to_one_run" in sweep
            else "–"
        ),
        f"{figures['raw_simpy']['events_per_second']:,.0f}",
        f"{cost:.1f}" if cost is not None else "–",
        f"{fit['replications']}, {fit['seconds']:.1f}" if fit else "–",
    ]
    return "| " + " | ".join(cells) + " |"


def record(figures: dict[str, Any], sizes: list[int]) -> None:
    """Write ``benchmarks/results.json`` and add a row to ``docs/performance.md``."""
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    text = DOC.read_text() if DOC.exists() else DOC_INTRO
    if MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + DOC_INTRO.split("## Runs", 1)[1].lstrip("\n")
    text = text.replace(MARKER, doc_row(figures, sizes) + "\n" + MARKER, 1)
    DOC.write_text(text)
    print(f"wrote {RESULTS.relative_to(ROOT)} and a row in {DOC.relative_to(ROOT)}")


def main() -> None:
    """Measure, print, and record unless ``--no-record``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[10_000, COST_LEADS, 1_000_000])
    parser.add_argument("--sweep-leads", type=int, default=COST_LEADS)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    parser.add_argument("--no-calibrate", action="store_true", help="skip the calibration")
    parser.add_argument(
        "--repeat", type=int, default=3, help="measure each figure this many times, keep the best"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only; write no results.json or doc row"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "run":
            figures = measure_run(int(rest[0]))
        elif kind == "sweep":
            figures = measure_sweep(int(rest[0]), int(rest[1]))
        elif kind == "calibrate":
            figures = measure_calibrate()
        else:
            figures = measure_raw_simpy()
        print(json.dumps(figures))
        return
    figures = collect(
        args.leads,
        args.sweep_leads,
        args.points,
        not args.no_sweep,
        not args.no_calibrate,
        args.repeat,
    )
    if not args.no_record:
        record(figures, args.leads)


if __name__ == "__main__":
    main()
