"""Finished replications on disk, so an interrupted run or sweep never redoes finished work.

A replication's metrics depend only on the resolved scenario, its replication index and the
code, so the cache key is a SHA-256 of

- the resolved scenario as canonical JSON (``scenario.model_dump_json()`` with sorted keys),
  leaving out ``scenario.replications``: replication ``r`` is the same whether 5 or 50 are run,
  so adding replications reuses the ones already done;
- the package version, and a fingerprint of the ``sim`` and ``policies`` sources (an editable
  install keeps its version while the model changes; the fingerprint keeps that from serving
  stale numbers).

An entry is ``DIR/<key>/<replication>.json``, written atomically. An entry that does not parse
or does not hold exactly the catalogue's metrics is ignored (and later overwritten), never
trusted. The directory is ``$MQLSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/mqlsim``, else
``~/.cache/mqlsim``; deleting it clears the cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import mqlsim.policies
from mqlsim.core.atomic import write_atomic
from mqlsim.core.errors import MqlsimWarning
from mqlsim.core.metric_catalog import METRIC_NAMES
from mqlsim.scenario.models import Scenario

FORMAT_VERSION = 3


def default_cache_dir() -> Path:
    """``$MQLSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/mqlsim``, else ``~/.cache/mqlsim``."""
    if explicit := os.environ.get("MQLSIM_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mqlsim"


@cache
def code_fingerprint() -> str:
    """SHA-256 over the paths and contents of the package's Python sources.

    ``mqlsim.policies`` lives in its own folder in a source checkout and inside ``mqlsim`` once
    installed: each file is named by its place in the package, so both give the same digest.
    """
    sources: dict[Path, str] = {}
    package_root = Path(__file__).resolve().parents[1]
    policies_root = Path(mqlsim.policies.__file__).resolve().parent
    for root, name in ((package_root, "mqlsim"), (policies_root, "mqlsim/policies")):
        for path in root.rglob("*.py"):
            sources[path.resolve()] = f"{name}/{path.relative_to(root).as_posix()}"
    digest = hashlib.sha256()
    for path, name in sorted(sources.items(), key=lambda item: item[1]):
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def scenario_key(scenario: Scenario) -> str:
    """The cache key of every replication of ``scenario`` (see the module docstring)."""
    resolved = json.loads(scenario.model_dump_json())
    del resolved["scenario"]["replications"]
    document = {
        "format": FORMAT_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "code": code_fingerprint(),
        "scenario": resolved,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


#: A replication's metrics per segment: ``{dimension: {segment: {metric: value}}}``.
Segments = dict[str, dict[str, dict[str, float]]]
#: A replication's stationarity check: ``{series: {"drift", "error", "weeks"}}``.
Drifts = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Measured:
    """What one replication yields to an experiment: its metric row, its metrics per segment
    (:func:`mqlsim.model.metrics.segment_metrics`), the drift of its weekly series
    (:func:`mqlsim.model.metrics.stationarity_drifts`), and what its policy learnt (a
    JSON-ready report, e.g. a predictive policy's fitted weights; ``None`` for policies that
    learn nothing)."""

    metrics: dict[str, float]
    segments: Segments
    stationarity: Drifts
    policy_report: dict[str, Any] | None = None


class ReplicationCache:
    """Metric rows of finished replications under ``directory``, keyed by :func:`scenario_key`.

    Counts what happened, for tests and messages: ``hits`` (entries reused), ``misses`` (no
    usable entry), ``rejected`` (entries present but unreadable or malformed, among the misses)
    and ``stored``. A cache that cannot be written warns once (:class:`MqlsimWarning`) and is
    then only read: the run goes on without it.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        self.stored = 0
        self.writable = True

    def path(self, key: str, replication: int) -> Path:
        """Where replication ``replication`` of the scenario with ``key`` is kept."""
        return self.directory / key / f"{replication}.json"

    def load(self, key: str, replication: int) -> Measured | None:
        """The cached replication, or ``None`` when there is no valid entry."""
        path = self.path(key, replication)
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError):
            self._reject()
            return None
        row = _valid_row(document, key, replication)
        if row is None:
            self._reject()
            return None
        self.hits += 1
        return row

    def store(self, key: str, replication: int, measured: Measured) -> None:
        """Keep a finished replication (one value per catalogue metric) for later runs."""
        if not self.writable:
            return
        document = {
            "format": FORMAT_VERSION,
            "key": key,
            "replication": replication,
            "metrics": {name: float(measured.metrics[name]) for name in METRIC_NAMES},
            "segments": measured.segments,
            "stationarity": measured.stationarity,
            "policy_report": measured.policy_report,
        }
        path = self.path(key, replication)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # NaN and infinities are written as JSON's common NaN/Infinity extension, read back.
            # Keys keep their order (segments in the scenario's order), so a cached replication
            # reads back exactly as it was run.
            write_atomic(path, json.dumps(document).encode())
        except OSError as error:
            self.writable = False
            warnings.warn(
                f"cannot write the cache in {self.directory} ({error.strerror or error});"
                " finished replications are not kept",
                MqlsimWarning,
                stacklevel=2,
            )
            return
        self.stored += 1

    def _reject(self) -> None:
        self.misses += 1
        self.rejected += 1


def _valid_row(document: object, key: str, replication: int) -> Measured | None:
    """The replication of a parsed entry if it is exactly what :meth:`store` writes."""
    if not isinstance(document, dict) or set(document) != {
        "format",
        "key",
        "replication",
        "metrics",
        "segments",
        "stationarity",
        "policy_report",
    }:
        return None
    if (document["format"], document["key"], document["replication"]) != (
        FORMAT_VERSION,
        key,
        replication,
    ):
        return None
    metrics = document["metrics"]
    if not isinstance(metrics, dict) or set(metrics) != set(METRIC_NAMES):
        return None
    if not all(type(metrics[name]) is float for name in METRIC_NAMES):
        return None
    segments = document["segments"]
    if not _nested_floats(segments, depth=3):
        return None
    stationarity = document["stationarity"]
    if not _nested_floats(stationarity, depth=2):
        return None
    report = document["policy_report"]
    if report is not None and not isinstance(report, dict):
        return None
    return Measured({name: metrics[name] for name in METRIC_NAMES}, segments, stationarity, report)


def _nested_floats(value: object, depth: int) -> bool:
    """Whether ``value`` is ``depth`` levels of dicts keyed by text with floats at the bottom."""
    if depth == 0:
        return type(value) is float
    return isinstance(value, dict) and all(
        isinstance(name, str) and _nested_floats(item, depth - 1) for name, item in value.items()
    )
