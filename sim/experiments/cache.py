"""Finished replications on disk, so an interrupted run or sweep never redoes finished work.

A replication's metrics depend only on the resolved scenario, its replication index and the
code, so the cache key is a SHA-256 of

- the resolved scenario as canonical JSON (``scenario.model_dump_json()`` with sorted keys),
  leaving out ``scenario.replications``: replication ``r`` is the same whether 5 or 50 are run,
  so adding replications reuses the ones already done;
- the package version, and a fingerprint of the ``sim`` and ``policies`` sources (an editable
  install keeps its version while the model changes; the fingerprint keeps that from serving
  stale numbers);
- for a scenario that names plug-ins, a digest of the source file of each plug-in class's
  module (code that module imports from elsewhere is not covered: see docs/security.md).

An entry is ``DIR/<key>/<replication>.json``, written atomically, holding the metrics, the
metrics per segment, the stationarity check's drifts, the policy's report and a SHA-256 digest
of them tied to the key, the replication and the package
version. An entry is used only if it is a regular file of at most :data:`MAX_ENTRY_BYTES` (never
a link, device or pipe), parses, holds exactly the catalogue's metrics as numbers that are
finite (``nan`` only where a metric may be unmeasured), not negative (but for ``signed`` metrics
such as net revenue), whole where they count and consistent (the rates equal their counts'
ratios, the missed causes sum to the total), and matches its digest; anything else is recomputed
and overwritten, never trusted. The digest is not secret: it catches damaged, edited or
misplaced entries, not a forger who can write the folder and recompute it (docs/security.md says
what remains). The directory is ``$MQLSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/mqlsim``, else
``~/.cache/mqlsim``, created private to the user; deleting it clears the cache.

Why not a caching library: ``joblib.Memory`` and ``diskcache`` store pickles, and unpickling a
file from a shared or planted cache folder runs code; an entry here is plain JSON of numbers,
checked against the catalogue before use. Their keys hash a function's arguments, while this
key must leave ``replications`` out (so adding replications reuses the ones done) and include a
fingerprint of the model's sources. What is left is a few lines of ``hashlib`` and an atomic
write (:mod:`mqlsim.core.atomic`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import stat
import sys
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import mqlsim.policies
from mqlsim.core.atomic import write_atomic
from mqlsim.core.errors import MqlsimWarning
from mqlsim.core.metric_catalog import METRIC_BY_NAME, METRIC_NAMES
from mqlsim.policies.plugins import entry_point_value, plugin_sections
from mqlsim.scenario.models import Scenario

FORMAT_VERSION = 4
#: The largest entry read: an entry is about 2 KB, 5 KB with a predictive policy's report,
#: and up to about 60 KB with every segment of every breakdown.
MAX_ENTRY_BYTES = 1 << 20
_ENTRY_KEYS = {
    "format",
    "key",
    "replication",
    "package_version",
    "metrics",
    "segments",
    "stationarity",
    "policy_report",
}
#: Units of metrics that count (leads, events, deals): whole numbers, always measured.
_COUNT_UNITS = ("leads", "events", "deals")
#: Time averages with a count's unit: not whole.
_NOT_WHOLE = ("queue_length",)
#: Each rate and the counts it divides (the definitions of sim/model/metrics.py).
_RATES = {
    "lead_to_mql_rate": ("mqls", "leads"),
    "mql_to_sal_rate": ("sals", "mqls"),
    "mql_to_sql_rate": ("sqls", "mqls"),
    "sql_to_won_rate": ("deals_won", "sqls"),
}
_MISSED_CAUSES = (
    "missed_never_mql",
    "missed_mql_too_late",
    "missed_waited_in_queue",
    "missed_not_reached",
)


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


def plugin_fingerprints(scenario: Scenario) -> dict[str, str]:
    """Each plug-in kind the scenario names -> SHA-256 of the source files of the module it
    names and of the module that defines its class (``"no source"`` for a module without one).
    The plug-ins are imported already: the scenario was validated with them."""
    found = {}
    for section in plugin_sections(scenario):
        named = section.kind if ":" in section.kind else entry_point_value(section)
        modules = {named.partition(":")[0], section.plugin(section.kind).__module__}
        digest = hashlib.sha256()
        for name in sorted(modules):
            source = getattr(sys.modules.get(name), "__file__", None)
            digest.update(Path(source).read_bytes() if source else b"no source")
        found[section.kind] = digest.hexdigest()
    return found


def scenario_key(scenario: Scenario) -> str:
    """The cache key of every replication of ``scenario`` (see the module docstring)."""
    resolved = json.loads(scenario.model_dump_json())
    del resolved["scenario"]["replications"]
    document = {
        "format": FORMAT_VERSION,
        "package_version": importlib.metadata.version("mqlsim"),
        "code": code_fingerprint(),
        "scenario": resolved,
        "plugins": plugin_fingerprints(scenario),
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
    usable entry), ``rejected`` (entries present but unreadable, malformed or not matching
    their digest, among the misses) and ``stored``. A cache that cannot be written warns once
    (:class:`MqlsimWarning`) and is then only read: the run goes on without it.
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
        try:
            raw = _read_entry(self.path(key, replication))
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError:
            self._reject()
            return None
        try:
            document = json.loads(raw, parse_constant=_only_nan)
        except (ValueError, RecursionError):
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
        document = _entry(key, replication, measured)
        path = self.path(key, replication)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.mkdir(exist_ok=True)
            # nan is written as JSON's common NaN extension and read back; the report's keys
            # keep their order, so a cached replication gives the same bytes as a fresh one.
            write_atomic(path, json.dumps(document).encode())
        except (OSError, ValueError) as error:
            self.writable = False
            reason = error.strerror if isinstance(error, OSError) else None
            warnings.warn(
                f"cannot write the cache in {self.directory} ({reason or error});"
                " finished replications are not kept",
                MqlsimWarning,
                stacklevel=2,
            )
            return
        self.stored += 1

    def _reject(self) -> None:
        self.misses += 1
        self.rejected += 1


def _read_entry(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_ENTRY_BYTES` (``OSError`` for
    anything else: a link, a folder, a device, a pipe, a larger file)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    with open(os.open(path, flags), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            raise OSError(f"{path}: not a cache entry")
        raw = handle.read(MAX_ENTRY_BYTES + 1)
    if len(raw) > MAX_ENTRY_BYTES:
        raise OSError(f"{path}: not a cache entry")
    return raw


def _only_nan(constant: str) -> float:
    """JSON's NaN extension stands for an unmeasured metric; Infinity is never a metric."""
    if constant != "NaN":
        raise ValueError(f"{constant} in a cache entry")
    return math.nan


def _entry(key: str, replication: int, measured: Measured) -> dict[str, Any]:
    """An entry's document: the content and its digest."""
    content = {
        "format": FORMAT_VERSION,
        "key": key,
        "replication": replication,
        "package_version": importlib.metadata.version("mqlsim"),
        "metrics": {name: float(measured.metrics[name]) for name in METRIC_NAMES},
        "segments": measured.segments,
        "stationarity": measured.stationarity,
        "policy_report": measured.policy_report,
    }
    return {**content, "digest": _digest(content)}


def _digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _valid_row(document: object, key: str, replication: int) -> Measured | None:
    """The replication of a parsed entry if it is exactly what :meth:`store` writes."""
    if not isinstance(document, dict) or set(document) != {*_ENTRY_KEYS, "digest"}:
        return None
    content = {name: document[name] for name in _ENTRY_KEYS}
    if document["digest"] != _digest(content):
        return None
    expected = (FORMAT_VERSION, key, replication, importlib.metadata.version("mqlsim"))
    found = (content["format"], content["key"], content["replication"])
    if (*found, content["package_version"]) != expected:
        return None
    metrics, report = content["metrics"], content["policy_report"]
    if not isinstance(metrics, dict) or set(metrics) != set(METRIC_NAMES):
        return None
    if not all(type(metrics[name]) is float for name in METRIC_NAMES):
        return None
    segments, stationarity = content["segments"], content["stationarity"]
    if not _nested_floats(segments, depth=3) or not _nested_floats(stationarity, depth=2):
        return None
    if not _plausible(metrics) or not (report is None or _finite_json(report, dict)):
        return None
    return Measured({name: metrics[name] for name in METRIC_NAMES}, segments, stationarity, report)


def _nested_floats(value: object, depth: int) -> bool:
    """Whether ``value`` is ``depth`` levels of dicts keyed by text with floats (finite, or
    ``nan`` for a segment's unmeasured rate) at the bottom."""
    if depth == 0:
        return type(value) is float and not math.isinf(value)
    return isinstance(value, dict) and all(
        isinstance(name, str) and _nested_floats(item, depth - 1) for name, item in value.items()
    )


def _plausible(metrics: dict[str, float]) -> bool:
    """Whether a metric row could come from a run: see the module docstring."""
    for name, value in metrics.items():
        counts = METRIC_BY_NAME[name].unit in _COUNT_UNITS
        if math.isnan(value):
            if counts:
                return False
            continue
        if math.isinf(value) or (value < 0 and not METRIC_BY_NAME[name].signed):
            return False
        if counts and name not in _NOT_WHOLE and not value.is_integer():
            return False
    for rate, (numerator, denominator) in _RATES.items():
        count, total = metrics[numerator], metrics[denominator]
        expected = count / total if total > 0 else math.nan
        both_unmeasured = math.isnan(metrics[rate]) and math.isnan(expected)
        if metrics[rate] != expected and not both_unmeasured:
            return False
    return sum(metrics[cause] for cause in _MISSED_CAUSES) == metrics["missed_opportunities"]


def _finite_json(value: object, kind: type = object) -> bool:
    """Whether ``value`` is JSON data of ``kind`` whose numbers are all finite."""
    if not isinstance(value, kind):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_json(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite_json(item) for item in value)
    return value is None or isinstance(value, str | int)
