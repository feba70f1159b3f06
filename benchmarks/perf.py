"""Benchmark harness of issue 18: each target a ratio measured inside one run of this script.

Every figure is measured ``--repeat`` times (3 by default), each time in a fresh Python
process, and the fastest is kept with every time beside it (other processes on a shared
machine only ever add time). Each records the 1-minute load average before and after it. A
replication's **size** is the number of leads it simulates: the stationary stock of existing
leads plus the arrivals of its year; ``population.leads_per_day`` is set so that the expected
size (:func:`mqlsim.model.footprint.footprint`) is the one asked for, and both numbers are
reported.

1. **Cost per lead at 100k vs the numpy floor**: one replication of the baseline at 100k leads
   (CPU seconds), against the floor measured here: an instrumented run counts the random
   numbers the replication draws (every Generator its streams hand out is wrapped in a
   counting proxy) and the events it creates (its organic journeys, drawn sorted, and every
   event log it sorts with ``EventLog.from_unsorted``: the answers to touches), then a fresh
   process times drawing that many uniforms in one call and one stable argsort of that many
   random keys.
2. **Parallelism**: ``run_experiment`` of 8 replications with ``workers`` 1 and 2 (no cache,
   wall seconds, imports excluded), on the shipped baseline and at 100k leads.
3. **Sweep**: a 20-point sweep of ``policy.threshold`` at 100k leads, one replication a point,
   no cache, against one run at 100k: with every core (as ``mqlsim sweep`` runs by default,
   and as the issue's "now" figure was taken: 8.1 s with 2 workers against a 1.05 s run) and
   with ``workers=1`` (wall and CPU seconds, both).
4. **Start-up**: ``mqlsim --help`` and ``mqlsim validate scenarios/baseline.toml`` against
   ``python -c "import numpy"`` (wall seconds of the whole process; best of ``5 × repeat``).
5. **Report**: ``mqlsim report loose strict`` against ``mqlsim compare loose strict`` (every
   core, no cache, wall seconds of the whole process).
6. **Scale**: one replication at 100k, 1M and 3M leads: wall and CPU seconds, peak RSS.
7. **The model's weight**: one replication of the shipped baseline here against the same at
   commit :data:`BEFORE_COMMIT` (before the stock of existing leads and the new sales floor),
   exported with ``git archive`` into ``benchmarks/.code/`` and imported from there (CPU
   seconds, in turn).
8. **Calibration** (issue 14): ``mqlsim calibrate`` of the baseline with 4 reps to the
   issue's targets, every core, no cache: replications simulated and wall seconds.

It prints each figure as it is measured and writes them to ``benchmarks/results.json`` (with
``--only``, the targets measured replace theirs; ``runs`` lists each run, its date, commit and
load, and the targets it measured); docs/performance.md holds one table per target.

    python benchmarks/perf.py                          # everything (about 20 minutes)
    python benchmarks/perf.py --only startup report --no-record   # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"
RESULTS = ROOT / "benchmarks" / "results.json"
#: Checkouts of other commits, exported for target 7 (ignored by git).
CODE_CACHE = ROOT / "benchmarks" / ".code"
#: The last commit before issues 12 and 13 made the model heavier (target 7).
BEFORE_COMMIT = "90a2021"
COST_LEADS = 100_000
SCALE_LEADS = (100_000, 1_000_000, 3_000_000)
PARALLEL_REPLICATIONS = 8
SWEEP_POINTS = 20
STARTUP_REPEAT = 5
TARGETS = ("cost", "parallel", "sweep", "startup", "report", "scale", "before", "calibrate")


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_with(leads: int | None, *extra: str, path: Path = BASELINE) -> Any:
    """The baseline at ``path`` with ``leads_per_day`` set so that a replication's expected
    size (stock plus arrivals) is ``leads`` (``None``: as shipped)."""
    from mqlsim.scenario.loading import load_scenario

    scenario = load_scenario(path, list(extra))
    if leads is None:
        return scenario
    from mqlsim.model.footprint import footprint

    per_day = scenario.population.leads_per_day * leads / footprint(scenario).leads
    return load_scenario(path, [f"population.leads_per_day={per_day}", *extra])


def _timed(work: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """``work()`` and its wall and CPU seconds, with the load before and after."""
    before = load()
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    figures = {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "load": [before, load()],
    }
    return value, figures


def measure_run(leads: int) -> dict[str, Any]:
    """One replication of the baseline at ``leads`` leads: seconds, size, peak memory."""
    from mqlsim.model.engine import run_replication

    scenario = baseline_with(leads)
    result, figures = _timed(lambda: run_replication(scenario, 0))
    arrival = result.population.arrival
    return {
        **figures,
        "leads": int(arrival.size),
        "arrivals": int((arrival >= 0).sum()),
        "stock": int((arrival < 0).sum()),
        "leads_per_day": scenario.population.leads_per_day,
        "peak_rss_mb": peak_rss_mb(),
    }


class CountingGenerator:
    """A numpy Generator that counts the numbers it hands out (every method's result size)."""

    drawn = 0

    def __init__(self, bit_generator: Any) -> None:
        import numpy as np

        self._generator = np.random.Generator(bit_generator)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._generator, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            import numpy as np

            value = attribute(*args, **kwargs)
            CountingGenerator.drawn += int(np.size(value))
            return value

        return counted


def measure_counts(leads: int) -> dict[str, Any]:
    """The random numbers one replication at ``leads`` leads draws and the events it creates
    (module docstring, target 1): an instrumented run, not timed."""
    from mqlsim.core import events, rng
    from mqlsim.model import engine, journeys

    sorted_events = [0]

    def counting(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            log = function(*args, **kwargs)
            sorted_events[0] += len(log)
            return log

        return wrapper

    rng.Generator = CountingGenerator  # type: ignore[misc,assignment]
    log_class = events.EventLog
    from_unsorted = log_class.from_unsorted.__func__  # type: ignore[attr-defined]
    log_class.from_unsorted = classmethod(counting(from_unsorted))  # type: ignore[assignment]
    engine.organic_events = counting(journeys.organic_events)  # type: ignore[attr-defined]
    result = engine.run_replication(baseline_with(leads), 0)
    return {
        "leads": int(result.population.size),
        "draws": CountingGenerator.drawn,
        "events": sorted_events[0],
    }


def measure_floor(draws: int, events: int) -> dict[str, Any]:
    """The numpy floor: ``draws`` uniforms in one call, one stable argsort of ``events``
    random keys (CPU seconds of each, the keys drawn beforehand)."""
    import numpy as np

    generator = np.random.Generator(np.random.PCG64(0))
    keys = generator.random(events)
    _, draw = _timed(lambda: generator.random(draws))
    _, sort = _timed(lambda: np.argsort(keys, kind="stable"))
    return {
        "draw_seconds": draw["cpu_seconds"],
        "sort_seconds": sort["cpu_seconds"],
        "seconds": draw["cpu_seconds"] + sort["cpu_seconds"],
        "load": [draw["load"][0], sort["load"][1]],
    }


def measure_parallel(leads: int | None, workers: int) -> dict[str, Any]:
    """``run_experiment`` of :data:`PARALLEL_REPLICATIONS` replications of the baseline (at
    ``leads``, or as shipped) on ``workers`` processes, no cache."""
    from mqlsim.experiments.runner import run_experiment

    replications = f"scenario.replications={PARALLEL_REPLICATIONS}"
    scenario = baseline_with(leads, replications)
    _, figures = _timed(lambda: run_experiment(scenario, workers=workers))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["cpu_seconds"] += children.ru_utime + children.ru_stime
    return {**figures, "workers": workers, "replications": PARALLEL_REPLICATIONS}


def measure_sweep(leads: int, points: int, workers: int | None) -> dict[str, Any]:
    """A ``points``-value sweep of ``policy.threshold`` (50, 55, …) at ``leads`` leads, one
    replication a point, on ``workers`` processes (``None``: every core; 1: in this process),
    without the cache (CPU seconds include the workers')."""
    from mqlsim.experiments.runner import default_workers
    from mqlsim.experiments.sweep import parse_param, run_sweep, sweep_scenarios

    per_day = baseline_with(leads).population.leads_per_day
    overrides = [f"population.leads_per_day={per_day}", "scenario.replications=1"]
    param = parse_param(f"policy.threshold=50:{50 + 5 * (points - 1)}:5")

    def sweep() -> int:
        base, axes, grid = sweep_scenarios(str(BASELINE), overrides, [param])
        run_sweep(base, axes, grid, workers=workers, cache=None)
        return len(grid)

    count, figures = _timed(sweep)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["cpu_seconds"] += children.ru_utime + children.ru_stime
    return {
        **figures,
        "leads": leads,
        "points": count,
        "workers": workers or default_workers(),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_before(code: str) -> dict[str, Any]:
    """One replication of the shipped baseline of the code being measured (this tree, or
    another commit's under ``--code``): replication 0 warms the process up, then the mean of
    replications 1 to 3."""
    from mqlsim.model.engine import run_replication

    folder = Path(code) if code else ROOT
    scenario = baseline_with(None, path=folder / "scenarios" / "baseline.toml")
    run_replication(scenario, 0)
    result, figures = _timed(lambda: [run_replication(scenario, r) for r in (1, 2, 3)])
    figures["seconds"] /= 3
    figures["cpu_seconds"] /= 3
    return {**figures, "leads": int(result[0].population.size)}


#: The issue-14 example's targets, as its targets file.
CALIBRATION_TARGETS = (
    "[targets]\nperiod_days = 30\nleads = 900\nlead_to_mql_rate = 0.18\nmql_to_sql_rate = 0.30\n"
)


def measure_calibrate() -> dict[str, Any]:
    """The issue-14 example calibrated from the baseline with 4 reps, on every core, with no
    cache: replications simulated (the check run included), scenarios evaluated, seconds."""
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


def use_code(folder: Path) -> None:
    """Import ``mqlsim`` from the checkout ``folder`` (its ``sim/`` is ``mqlsim``, its
    ``policies/`` is ``mqlsim.policies``) instead of the installed package."""
    roots = {"mqlsim": folder / "sim", "mqlsim.policies": folder / "policies"}

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(
            self, name: str, path: Sequence[str] | None, target: object = None
        ) -> importlib.machinery.ModuleSpec | None:
            root = roots.get(name)
            if root is None:
                return None
            return importlib.util.spec_from_file_location(
                name, root / "__init__.py", submodule_search_locations=[str(root)]
            )

    sys.meta_path.insert(0, Finder())


def checkout(commit: str) -> Path:
    """``commit``'s ``sim/``, ``policies/`` and ``scenarios/``, exported once with
    ``git archive`` into :data:`CODE_CACHE`."""
    folder = CODE_CACHE / commit
    if not (folder / "sim").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit, "sim", "policies", "scenarios"],
            check=True,
            capture_output=True,
            cwd=ROOT,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def child(*args: str, code: Path | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its figures."""
    extra = ["--code", str(code)] if code is not None else []
    output = subprocess.run(
        [sys.executable, __file__, *extra, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.splitlines()[-1])


def command(argv: list[str]) -> dict[str, Any]:
    """Wall seconds of one whole process ``argv`` (run from the repository root), and its CPU
    seconds (user and system)."""
    before = load()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    return {"seconds": seconds, "cpu_seconds": cpu, "load": [before, load()]}


def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of ``rows``, with every time kept (``all_seconds``) and the highest peak
    memory: other processes only ever add time, so the fastest is the least disturbed."""
    fastest = dict(min(rows, key=lambda row: row["seconds"]))
    fastest["all_seconds"] = [row["seconds"] for row in rows]
    if "cpu_seconds" in fastest:
        fastest["all_cpu_seconds"] = [row["cpu_seconds"] for row in rows]
    if "peak_rss_mb" in fastest:
        fastest["peak_rss_mb"] = max(row["peak_rss_mb"] for row in rows)
    return fastest


def best_of(repeat: int, *args: str, code: Path | None = None) -> dict[str, Any]:
    """The best of ``repeat`` measurements, each in a fresh process."""
    return best([child(*args, code=code) for _ in range(repeat)])


def interleaved(repeat: int, runs: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, Any]:
    """Each of ``runs`` measured ``repeat`` times, in turn (A, B, A, B...: a change of load
    hits both alike), the best of each."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            rows[name].append(run())
    return {name: best(found) for name, found in rows.items()}


def _say(text: str, figures: dict[str, Any]) -> None:
    print(f"{text}  (load {figures['load'][0]:.2f}→{figures['load'][1]:.2f})", flush=True)


def collect(targets: Sequence[str], repeat: int) -> dict[str, Any]:
    """Every measurement of ``targets``, each printed as it finishes."""
    figures: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": repeat,
        "load_start": list(os.getloadavg()),
    }
    print(f"load average at start: {figures['load_start'][0]:.2f} on {figures['cores']} cores")
    runs: dict[int, dict[str, Any]] = {}

    def run_at(leads: int) -> dict[str, Any]:
        if leads not in runs:
            runs[leads] = row = best_of(repeat, "run", str(leads))
            _say(
                f"one replication at {row['leads']:,} leads ({row['stock']:,} existing +"
                f" {row['arrivals']:,} arrivals): {row['seconds']:.2f} s,"
                f" {row['cpu_seconds']:.2f} s CPU, peak {row['peak_rss_mb']:,.0f} MB",
                row,
            )
        return runs[leads]

    if "cost" in targets:
        run = run_at(COST_LEADS)
        counts = child("counts", str(COST_LEADS))
        floor = best_of(repeat, "floor", str(counts["draws"]), str(counts["events"]))
        ratio = run["cpu_seconds"] / floor["seconds"]
        figures["cost"] = {"run": run, "counts": counts, "floor": floor, "ratio": ratio}
        _say(
            f"target 1, cost per lead at {COST_LEADS:,}: {counts['draws']:,} draws and"
            f" {counts['events']:,} events created; floor {floor['seconds']:.3f} s (draws"
            f" {floor['draw_seconds']:.3f} + sort {floor['sort_seconds']:.3f}); the run"
            f" {run['cpu_seconds']:.2f} s CPU = {ratio:.1f}× the floor (target ≤ 1.25×)",
            floor,
        )
    if "parallel" in targets:
        figures["parallel"] = {}
        for label, leads in (("baseline", None), ("100k", COST_LEADS)):
            size = [] if leads is None else [str(leads)]
            pair = interleaved(
                repeat,
                {
                    f"workers_{w}": lambda w=w, size=size: child("parallel", str(w), *size)
                    for w in (1, 2)
                },
            )
            pair["speedup"] = pair["workers_1"]["seconds"] / pair["workers_2"]["seconds"]
            figures["parallel"][label] = pair
            goal = "1.7" if leads is None else "1.8"
            _say(
                f"target 2, {PARALLEL_REPLICATIONS} replications ({label}): workers 1"
                f" {pair['workers_1']['seconds']:.2f} s, workers 2"
                f" {pair['workers_2']['seconds']:.2f} s = {pair['speedup']:.2f}× (target ≥"
                f" {goal}×)",
                pair["workers_2"],
            )
    if "sweep" in targets:
        run = run_at(COST_LEADS)
        figures["sweep"] = {}
        for label, workers in (("all_cores", "all"), ("one_worker", "1")):
            swept = best_of(repeat, "sweep", str(COST_LEADS), str(SWEEP_POINTS), workers)
            swept["ratio_to_one_run"] = swept["seconds"] / run["seconds"]
            swept["cpu_ratio_to_one_run"] = swept["cpu_seconds"] / run["cpu_seconds"]
            figures["sweep"][label] = swept
            goal = "target ≤ 6×" if label == "all_cores" else "for reference"
            _say(
                f"target 3, sweep of {swept['points']} thresholds at {COST_LEADS:,} leads,"
                f" {swept['workers']} worker(s): {swept['seconds']:.1f} s ="
                f" {swept['ratio_to_one_run']:.1f}× one run"
                f" ({swept['cpu_ratio_to_one_run']:.1f}× in CPU seconds; {goal})",
                swept,
            )
    if "startup" in targets:
        mqlsim = [sys.executable, "-m", "mqlsim"]
        startup = interleaved(
            STARTUP_REPEAT * repeat,
            {
                "numpy": lambda: command([sys.executable, "-c", "import numpy"]),
                "help": lambda: command([*mqlsim, "--help"]),
                "validate": lambda: command([*mqlsim, "validate", str(BASELINE)]),
            },
        )
        for name in ("help", "validate"):
            startup[f"{name}_ratio"] = startup[name]["seconds"] / startup["numpy"]["seconds"]
        figures["startup"] = startup
        _say(
            f"target 4, start-up: import numpy {startup['numpy']['seconds']:.3f} s, --help"
            f" {startup['help']['seconds']:.3f} s ({startup['help_ratio']:.1f}×), validate"
            f" {startup['validate']['seconds']:.3f} s ({startup['validate_ratio']:.1f}×)"
            " (target ≤ 3×)",
            startup["validate"],
        )
    if "report" in targets:
        pair = [str(ROOT / "scenarios" / f"{name}.toml") for name in ("loose", "strict")]
        mqlsim = [sys.executable, "-m", "mqlsim"]
        with tempfile.TemporaryDirectory() as folder:
            out = str(Path(folder) / "report.html")
            timed = interleaved(
                repeat,
                {
                    "compare": lambda: command([*mqlsim, "compare", *pair, "--no-cache"]),
                    "report": lambda: command(
                        [*mqlsim, "report", *pair, "--no-cache", "--out", out]
                    ),
                },
            )
        timed["ratio"] = timed["report"]["seconds"] / timed["compare"]["seconds"]
        figures["report"] = timed
        _say(
            f"target 5, report {timed['report']['seconds']:.2f} s, compare"
            f" {timed['compare']['seconds']:.2f} s = {timed['ratio']:.2f}× (target ≤ 1.3×)",
            timed["report"],
        )
    if "scale" in targets:
        scale = {str(leads): run_at(leads) for leads in SCALE_LEADS}
        base = scale[str(COST_LEADS)]
        for leads in SCALE_LEADS[1:]:
            scale[f"ratio_{leads}"] = scale[str(leads)]["seconds"] / base["seconds"]
            scale[f"cpu_ratio_{leads}"] = scale[str(leads)]["cpu_seconds"] / base["cpu_seconds"]
        figures["scale"] = scale
        print(
            f"target 6, 1M / 100k: {scale['ratio_1000000']:.1f}× ({scale['cpu_ratio_1000000']:.1f}×"
            f" in CPU seconds; target ≤ 11×); 3M / 100k: {scale['ratio_3000000']:.1f}×"
            f" ({scale['cpu_ratio_3000000']:.1f}× in CPU seconds; target ≤ 32×), peak"
            f" {scale['3000000']['peak_rss_mb']:,.0f} MB (target ≤ 3,072 MB)",
            flush=True,
        )
    if "before" in targets:
        old = checkout(BEFORE_COMMIT)
        pair = interleaved(
            repeat,
            {
                BEFORE_COMMIT: lambda: child("before", str(old), code=old),
                "now": lambda: child("before", ""),
            },
        )
        pair["ratio"] = pair["now"]["cpu_seconds"] / pair[BEFORE_COMMIT]["cpu_seconds"]
        figures["before"] = pair
        _say(
            f"target 7, one replication of the shipped baseline: {pair['now']['leads']:,} leads"
            f" {pair['now']['cpu_seconds']:.3f} s CPU now, {pair[BEFORE_COMMIT]['leads']:,}"
            f" leads {pair[BEFORE_COMMIT]['cpu_seconds']:.3f} s at {BEFORE_COMMIT}:"
            f" {pair['ratio']:.2f}× (target ≤ 1.5×)",
            pair["now"],
        )
    if "calibrate" in targets:
        fit = figures["calibrate"] = best_of(repeat, "calibrate")
        _say(
            f"target 8, calibrate (issue 14 example): {fit['replications']} replications"
            f" ({fit['evaluations']} scenarios), {fit['seconds']:.1f} s, every target within:"
            f" {fit['within']} (target ≤ 300 replications)",
            fit,
        )
    figures["load_end"] = list(os.getloadavg())
    return figures


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


def run_child(kind: str, rest: list[str]) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    if kind == "run":
        return measure_run(int(rest[0]))
    if kind == "counts":
        return measure_counts(int(rest[0]))
    if kind == "floor":
        return measure_floor(int(rest[0]), int(rest[1]))
    if kind == "parallel":
        return measure_parallel(int(rest[1]) if len(rest) > 1 else None, int(rest[0]))
    if kind == "sweep":
        return measure_sweep(int(rest[0]), int(rest[1]), None if rest[2] == "all" else int(rest[2]))
    if kind == "before":
        return measure_before(rest[0])
    if kind == "calibrate":
        return measure_calibrate()
    raise ValueError(f"unknown measurement {kind!r}")


def main() -> None:
    """Measure, print, and write ``benchmarks/results.json`` unless ``--no-record``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=TARGETS, default=list(TARGETS), help="measure these only"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="measure each figure this many times, keep the best"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.code is not None:
            use_code(args.code)
        kind, *rest = args.child
        print(json.dumps(run_child(kind, rest)))
        return
    figures = collect(args.only, args.repeat)
    if not args.no_record:
        record(figures)


def record(figures: dict[str, Any]) -> None:
    """Write ``figures`` to ``benchmarks/results.json``: each target measured replaces its
    entry, the others stay as an earlier run left them; ``runs`` says which run measured
    which targets (each target's ratio is always measured inside one run)."""
    kept: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not isinstance(kept.get("runs"), list):
        kept = {"runs": []}
    measured = [target for target in TARGETS if target in figures]
    run = {key: value for key, value in figures.items() if key not in TARGETS}
    kept["runs"] = [*kept["runs"], {**run, "targets": measured}]
    kept.update({target: figures[target] for target in measured})
    RESULTS.write_text(json.dumps(kept, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
