"""A recorded log's own vocabulary: how its columns and names map onto mqlsim's (`replay --map`).

A mapping file is TOML (docs/replay.md, "Your own vocabulary"); every table is optional:

* ``[columns]``: the log's column names for ``lead_id``, ``timestamp``, ``activity``,
  ``value``, ``source`` and the fit attributes;
* ``[activities]``: the log's activity names, each mapped to a model activity, to an outcome
  stage (``mql``, ``sal``, ``sql``, ``opportunity``, ``customer``: the row records a lead
  reaching it, its ``value`` the deal value) or to ``"ignore"`` (dropped, counted);
  ``unknown_activities = "ignore"`` drops names neither listed nor in the model's vocabulary
  (by default they are problems, counted by name);
* ``[outcomes]``: the lifecycle columns (:class:`~mqlsim.experiments.lifecycle.LifecycleColumns`)
  of an outcomes file, or of the log itself when it carries them;
* ``[snapshot]``: the input is one row per lead without times; ``counts`` and ``values`` name
  the columns holding, per activity, how many times the lead did it and the total value;
* ``leakage``: columns written after the outcome (by sales, say): a policy input mapped to one
  of them, or to an outcome column, is refused.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from mqlsim.core.errors import InputError, did_you_mean
from mqlsim.core.schema import StrictModel
from mqlsim.core.vocabulary import ACTIVITIES, FIT_ATTRIBUTES, Activity
from mqlsim.experiments.lifecycle import STAGES, LifecycleColumns
from mqlsim.experiments.tabular import one_line, open_regular

IGNORE = "ignore"
#: What a log's activity name may map to.
TARGETS: tuple[str, ...] = (*ACTIVITIES, *STAGES, IGNORE)
#: The largest mapping file read (bytes).
MAX_MAPPING_BYTES = 1 << 20


class EventColumns(StrictModel):
    """Column names of an activity log (or of a lead snapshot's id, source and fit)."""

    lead_id: str = Field("lead_id", description="The lead's id.")
    timestamp: str = Field("timestamp", description="When the activity happened.")
    activity: str = Field("activity", description="What the lead did.")
    value: str = Field("value", description="An amount: seconds on a page, a deal value.")
    source: str = Field("source", description="The lead's source or channel.")
    job_level: str = Field("job_level", description="Fit: job level.")
    company_size: str = Field("company_size", description="Fit: company size.")
    industry: str = Field("industry", description="Fit: industry.")
    region: str = Field("region", description="Fit: region.")

    def fit_column(self, attribute: str) -> str:
        """The column of fit ``attribute`` (a key of FIT_ATTRIBUTES)."""
        column: str = getattr(self, attribute)
        return column


class SnapshotColumns(StrictModel):
    """A lead snapshot: one row per lead with engagement totals, no times."""

    counts: dict[Activity, str] = Field(
        default_factory=dict, description="Per activity, the column counting its occurrences."
    )
    values: dict[Activity, str] = Field(
        default_factory=dict, description="Per activity, the column with its total value."
    )
    created_activity: Activity | Literal["none"] = Field(
        "form_fill",
        description="The event that created each lead, as every simulated lead has one "
        '("none": leads have only their counted events).',
    )


class ReplayMapping(StrictModel):
    """How a recorded log names things (docs/replay.md); the defaults read mqlsim's own names."""

    columns: EventColumns = Field(default_factory=EventColumns)
    activities: dict[str, str] = Field(
        default_factory=dict,
        description="The log's activity names: a model activity, an outcome stage or ignore.",
    )
    unknown_activities: Literal["report", "ignore"] = Field(
        "report", description="Names not mapped nor in the vocabulary: problems, or dropped."
    )
    outcomes: LifecycleColumns = Field(default_factory=LifecycleColumns)
    snapshot: SnapshotColumns | None = None
    leakage: list[str] = Field(
        default_factory=list, description="Columns written after the outcome: never inputs."
    )

    @field_validator("activities")
    @classmethod
    def _known_targets(cls, activities: dict[str, str]) -> dict[str, str]:
        wrong = [
            f"{name!r} = {target!r}: expected a model activity, an outcome stage"
            f" ({', '.join(STAGES)}) or {IGNORE!r}{did_you_mean(target, TARGETS)}"
            for name, target in activities.items()
            if target not in TARGETS
        ]
        if wrong:
            raise ValueError("; ".join(wrong))
        return activities

    def policy_inputs(self, header: list[str]) -> dict[str, str]:
        """The columns of ``header`` a policy reads, by their key in the mapping file."""
        inputs = {
            f"columns.{key}": getattr(self.columns, key) for key in ("source", *FIT_ATTRIBUTES)
        }
        if self.snapshot is None:
            inputs |= {
                f"columns.{key}": getattr(self.columns, key) for key in ("activity", "value")
            }
        else:
            inputs |= {f"snapshot.counts.{a}": c for a, c in self.snapshot.counts.items()}
            inputs |= {f"snapshot.values.{a}": c for a, c in self.snapshot.values.items()}
        return {key: column for key, column in inputs.items() if column in header}

    def outcome_columns(self) -> set[str]:
        """The lifecycle columns: outcomes, which no policy input may be."""
        outcomes = self.outcomes
        return {outcomes.stage_column(stage) for stage in STAGES} | {outcomes.deal_value}


def check_leakage(mapping: ReplayMapping, header: list[str], label: str) -> None:
    """:class:`InputError`, one line per policy input mapped to a column written after the
    outcome (listed in ``leakage``) or to an outcome column itself."""
    leaking = set(mapping.leakage)
    outcomes = mapping.outcome_columns()
    problems = []
    for key, column in mapping.policy_inputs(header).items():
        if column in leaking:
            why = "listed in leakage: it is written after the outcome and leaks it"
        elif column in outcomes:
            why = "an outcome column"
        else:
            continue
        problems.append(
            f"{label}: {key} = {column!r} is {why}; a backtest cannot use it as a policy input"
        )
    if problems:
        raise InputError(problems)


def load_mapping(path: str | os.PathLike[str]) -> ReplayMapping:
    """Read and validate a mapping file; :class:`InputError` naming the file and key."""
    label = str(path)
    with open_regular(Path(path), label, "a TOML mapping file") as handle:
        raw = handle.read(MAX_MAPPING_BYTES + 1)
    if len(raw) > MAX_MAPPING_BYTES:
        raise InputError(f"{label}: larger than {MAX_MAPPING_BYTES:,} bytes; not a mapping file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(f"{label}:{line}: not UTF-8 text; save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{label}: TOML syntax error: {error}") from None
    except RecursionError:
        raise InputError(f"{label}: TOML nested too deeply") from None
    try:
        return ReplayMapping.model_validate(data)
    except ValidationError as error:
        raise InputError([one_line(_line(label, problem)) for problem in error.errors()]) from None


def _line(label: str, problem: Any) -> str:
    """One pydantic error as ``FILE: dotted.key: what was expected``."""
    where = ".".join(str(part) for part in problem["loc"])
    kind = problem["type"]
    if kind == "extra_forbidden":
        return f"{label}: {where}: unknown key"
    if kind == "value_error":
        return f"{label}: {where}: {problem['ctx']['error']}"
    message = problem["msg"]
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    found = repr(problem["input"])
    found = found if len(found) <= 60 else found[:57] + "..."
    return f"{label}: {where}: {message}, found {found}"
