"""Benchmark: `mqlsim replay` on a large recorded activity log.

Exports the observed event stream of one baseline replication (scaled so it has at least the
requested number of events), keeps the first ``--rows`` events in time order (as a CRM export
would list them), writes them as CSV with fit columns into a temporary folder, then times
``mqlsim replay LOG --policy baseline.toml --out DIR`` in a child process and prints rows per
second and the child's peak memory (RSS).

    python benchmarks/replay_speed.py                 # 1,000,000 rows
    python benchmarks/replay_speed.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
#: Observed events per lead in the baseline (about 26); the simulation is scaled with margin.
EVENTS_PER_LEAD = 20


def write_log(path: Path, rows: int) -> None:
    """Write a log of ``rows`` observed baseline events to ``path``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from mqlsim.core.vocabulary import ACTIVITIES, FIT_ATTRIBUTES
    from mqlsim.model.engine import run_replication
    from mqlsim.scenario.loading import load_scenario

    scenario = load_scenario(BASELINE)
    per_day = rows / EVENTS_PER_LEAD / scenario.scenario.horizon_days
    scenario = load_scenario(BASELINE, [f"population.leads_per_day={per_day}"])
    result = run_replication(scenario, 0)
    events = result.observed_events()
    if len(events) < rows:
        raise SystemExit(f"the simulation observed only {len(events):,} events")
    chosen = np.argsort(events.time, kind="stable")[:rows]
    lead = events.lead[chosen]
    epoch = np.datetime64("2025-01-06T00:00:00", "us")
    stamps = epoch + np.round(events.time[chosen] * 86_400e6).astype("timedelta64[us]")
    columns = {
        "lead_id": pa.array(np.char.add("lead-", lead.astype(str))),
        "timestamp": pa.array(np.datetime_as_string(stamps, timezone="UTC")),
        "activity": pa.array(np.array(ACTIVITIES)[events.activity[chosen]]),
    }
    for name, values in FIT_ATTRIBUTES.items():
        codes = result.population.fit[name][lead]
        columns[name] = pa.array(np.where(codes >= 0, np.array(values)[codes], ""))
    pacsv.write_csv(pa.table(columns), path)


def main() -> None:
    """Generate the log (in a child process), time one replay of it, print the numbers.

    Both steps run in child processes, and the peak memory is the replay child's own (from
    ``wait4``): a child's high-water mark includes what its parent held when it was started.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write is not None:
        write_log(args.write, args.rows)
        return
    with tempfile.TemporaryDirectory() as folder:
        log, out = Path(folder) / "events.csv", Path(folder) / "out"
        write = [sys.executable, __file__, "--rows", str(args.rows), "--write", str(log)]
        subprocess.run(write, check=True)
        command = [sys.executable, "-m", "sim", "replay", str(log), "--policy", str(BASELINE)]
        start = time.perf_counter()
        child = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"mqlsim replay failed with exit code {child.returncode}")
        size = log.stat().st_size
        leads = json.loads((out / "replay.json").read_text())["summary"]["leads"]
    peak = usage.ru_maxrss / 1024
    print(f"{'rows':>10} {'MB':>6} {'leads':>8} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}")
    print(
        f"{args.rows:>10,} {size / 1e6:>6.0f} {leads:>8,} {seconds:>8.2f} "
        f"{args.rows / seconds:>10,.0f} {peak:>12,.0f}"
    )


if __name__ == "__main__":
    main()
