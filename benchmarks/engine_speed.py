"""Benchmark: one replication of the shipped baseline at several population sizes.

Prints, per size, wall seconds, leads per second and peak memory (RSS). Each size runs in a
fresh child process so the peak memory belongs to that size alone. The population size is set
through ``population.leads_per_day`` over the baseline's 365-day horizon.

    python benchmarks/engine_speed.py                 # 10k and 100k leads
    python benchmarks/engine_speed.py --leads 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"


def measure(leads: int) -> dict[str, float]:
    """Run one replication of the baseline with about ``leads`` leads; time and memory it."""
    from sim.engine import run_replication
    from sim.loading import load_scenario

    scenario = load_scenario(BASELINE)
    per_day = leads / scenario.scenario.horizon_days
    scenario = load_scenario(BASELINE, [f"population.leads_per_day={per_day}"])
    start = time.perf_counter()
    result = run_replication(scenario, 0)
    seconds = time.perf_counter() - start
    created = result.population.size
    return {
        "leads": created,
        "seconds": seconds,
        "leads_per_second": created / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Measure each size in its own process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child)))
        return
    print(f"{'leads':>10} {'seconds':>9} {'leads/s':>10} {'peak RSS MB':>12}")
    for leads in args.leads:
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(leads)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(output)
        print(
            f"{row['leads']:>10,} {row['seconds']:>9.2f} {row['leads_per_second']:>10,.0f} "
            f"{row['peak_rss_mb']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
