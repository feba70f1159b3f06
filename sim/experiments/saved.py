"""Saved runs: a `results.json` read back, to compare without simulating again.

`mqlsim run --out DIR` writes `DIR/results.json` (:mod:`mqlsim.render.output`): the scenario as
run, its root seed, every metric's per-replication ``values`` and, for the breakdowns asked for
with ``--by``, every segment metric's. That is all a comparison needs, so `mqlsim compare
A/results.json B/results.json` compares two saved runs as it compares two scenarios
(:mod:`mqlsim.experiments.compare`). The file's scenario is read for its name only and never
validated or built: a saved file cannot name code to import (docs/plugins.md).

A file that is not such a document is an :class:`~mqlsim.core.errors.InputError` line naming the
file, the field and what was expected.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_NAMES, SEGMENT_METRICS
from mqlsim.experiments.runner import ExperimentResult

#: The version of the `results.json` layout (README.md); a reader refuses other versions.
RESULTS_SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
#: A results.json of 20 replications is about 100 kB; anything far larger is not one.
MAX_RESULTS_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SavedRun:
    """A finished run: where it came from, its scenario's name, its root seed and one metric row
    per replication (``nan`` where not measured). ``missing`` lists the catalogue metrics the
    file did not hold (saved by another version of mqlsim): ``nan`` in every row. ``segments``
    holds, per replication, ``{dimension: {segment: {metric: value}}}`` for the breakdowns the
    run kept (every dimension for a run done in this process; those of ``--by`` for a file)."""

    source: str
    name: str
    seed: int
    rows: tuple[dict[str, float], ...]
    package_version: str | None = None
    missing: tuple[str, ...] = ()
    segments: tuple[dict[str, dict[str, dict[str, float]]], ...] = ()

    @property
    def replications(self) -> int:
        """How many replications the run had."""
        return len(self.rows)

    @classmethod
    def from_result(cls, result: ExperimentResult, source: str) -> SavedRun:
        """A run done in this process (the Python API's :class:`ExperimentResult`)."""
        return cls(
            source=source,
            name=result.scenario.scenario.name,
            seed=result.scenario.scenario.seed,
            rows=tuple(dict(row) for row in result.replications),
            segments=tuple(result.segments),
        )

    def check_dimensions(self, dimensions: Sequence[str], label: str) -> None:
        """:class:`InputError` when the run kept no breakdown by one of ``dimensions``."""
        kept = self.segments[0] if self.segments else {}
        absent = [dimension for dimension in dimensions if dimension not in kept]
        if absent:
            raise InputError(
                f"{label}: --by {','.join(absent)}: the saved results hold no such breakdown;"
                f" run it again with --by {','.join(absent)} --out DIR"
            )


def is_saved_results(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names saved results: a ``.json`` file, or a folder holding
    ``results.json`` (the ``--out`` folder of `mqlsim run`)."""
    path = Path(source)
    if path.suffix.lower() == ".json":
        return True
    return path.is_dir() and (path / RESULTS_FILE).is_file()


def read_saved(source: str | os.PathLike[str]) -> SavedRun:
    """Read a `results.json` (or the one in a folder); :class:`InputError` if it is not one."""
    label = os.fspath(source)
    path = Path(source)
    if path.is_dir():
        path = path / RESULTS_FILE
        label = os.path.join(label, RESULTS_FILE)
    if not path.exists():
        raise InputError(f"{label}: file not found")
    if not path.is_file():
        raise InputError(f"{label}: not a regular file; expected a results.json")
    if path.stat().st_size > MAX_RESULTS_BYTES:
        raise InputError(
            f"{label}: {path.stat().st_size:,} bytes; a results.json is far smaller"
            f" (at most {MAX_RESULTS_BYTES:,} bytes read)"
        )
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise InputError(f"{label}: cannot read the file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text; expected a results.json") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{label}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    return _saved_run(document, label)


def _saved_run(document: Any, label: str) -> SavedRun:
    def problem(where: str, expected: str, found: Any) -> InputError:
        text = json.dumps(found)[:60] if found is not None else "nothing"
        return InputError(f"{label}: {where}: expected {expected}, found {text}")

    if not isinstance(document, dict):
        raise problem("the document", "an object as `mqlsim run --out` writes", document)
    version = document.get("schema_version")
    if version != RESULTS_SCHEMA_VERSION:
        raise problem(
            "schema_version", f"{RESULTS_SCHEMA_VERSION} (a results.json of mqlsim run)", version
        )
    seed = document.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise problem("seed", "a whole number >= 0", seed)
    metrics = document.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise problem("metrics", "an object with one entry per metric", metrics)
    count = document.get("replications")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise problem("replications", "a whole number >= 1", count)
    columns: dict[str, list[float]] = {}
    missing = []
    for name in METRIC_NAMES:
        if name not in metrics:
            missing.append(name)
            columns[name] = [math.nan] * count
            continue
        columns[name] = _values(metrics[name], f"metrics.{name}", count, problem)
    scenario = document.get("scenario")
    meta = scenario.get("scenario") if isinstance(scenario, Mapping) else None
    found = meta.get("name") if isinstance(meta, Mapping) else None
    version_text = document.get("package_version")
    segments = _segments(document.get("segments", {}), count, problem)
    return SavedRun(
        source=label,
        name=found if isinstance(found, str) else Path(label).parent.name or label,
        seed=seed,
        rows=tuple({name: columns[name][r] for name in METRIC_NAMES} for r in range(count)),
        package_version=version_text if isinstance(version_text, str) else None,
        missing=tuple(missing),
        segments=segments,
    )


def _segments(
    found: Any, count: int, problem: Any
) -> tuple[dict[str, dict[str, dict[str, float]]], ...]:
    """The per-replication segment metrics of a file's ``segments`` object (empty: none)."""
    if not isinstance(found, dict):
        raise problem("segments", "an object with one entry per breakdown dimension", found)
    rows: list[dict[str, dict[str, dict[str, float]]]] = [{} for _ in range(count)]
    for dimension, labels in found.items():
        where = f"segments.{dimension}"
        if not isinstance(labels, dict):
            raise problem(where, "an object with one entry per segment", labels)
        for row in rows:
            row[dimension] = {}
        for label, metrics in labels.items():
            if not isinstance(metrics, dict):
                raise problem(f"{where}.{label}", "an object with one entry per metric", metrics)
            columns = {
                name: _values(metrics[name], f"{where}.{label}.{name}", count, problem)
                if name in metrics
                else [math.nan] * count
                for name in SEGMENT_METRICS
            }
            for r, row in enumerate(rows):
                row[dimension][label] = {name: columns[name][r] for name in SEGMENT_METRICS}
    return tuple(rows) if found else ()


def _values(entry: Any, where: str, count: int, problem: Any) -> list[float]:
    """A metric's per-replication values (``null`` is ``nan``), exactly ``count`` of them."""
    values = entry.get("values") if isinstance(entry, dict) else None
    if not isinstance(values, list) or len(values) != count:
        expected = f"an array of {count} numbers (one per replication)"
        raise problem(f"{where}.values", expected, values)
    numbers = []
    for index, value in enumerate(values):
        if value is None:
            numbers.append(math.nan)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise problem(f"{where}.values[{index}]", "a finite number or null", value)
            numbers.append(float(value))
        else:
            raise problem(f"{where}.values[{index}]", "a finite number or null", value)
    return numbers
