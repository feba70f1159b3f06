"""Fit × engagement matrix: the lead's ICP fit grade (A–D) against its engagement score.

The engagement score is the points score of :mod:`mqlsim.policies.score` (points per activity,
frequency caps, decay) without grade points, since the grade is the matrix's other axis.
``cells`` gives, per grade, the score at or above which a lead of that grade becomes MQL; a
grade that is not listed never qualifies. So ``cells = { A = 50, B = 50, C = 90 }`` qualifies
grade A or B with a score of at least 50, grade C with at least 90, and grade D never. A lead
whose grade is unknown (its known fit does not decide it) has no cell and never qualifies.

As with the score, the lead becomes MQL at the first event where its score reaches its grade's
cell (scores only decay between events). The priority is the score at that event.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from mqlsim.core.schema import ScoreOrNever
from mqlsim.core.vocabulary import GRADES, Grade
from mqlsim.policies.base import (
    LeadView,
    PolicyConfigBase,
    Qualification,
    first_hits,
    register_policy,
)
from mqlsim.policies.score import ScorePolicy, ScorePolicyConfig


def _default_cells() -> dict[Grade, float]:
    return {"A": 50.0, "B": 50.0, "C": 90.0}


class MatrixPolicyConfig(PolicyConfigBase):
    """`[policy]` with `kind = "matrix"`: MQL when the engagement score reaches the cell of the
    lead's fit grade."""

    kind: Literal["matrix"] = Field("matrix", description="Policy family.")
    cells: dict[Grade, ScoreOrNever] = Field(
        default_factory=_default_cells,
        description="Per fit grade, the engagement score at or above which the lead becomes "
        "MQL; a grade not listed, or set to `inf`, never qualifies. Like every table this one "
        "merges over its defaults, so a file turns a default grade off with `C = inf`.",
    )
    engagement: ScorePolicyConfig = Field(
        default_factory=lambda: ScorePolicyConfig(grade_points={}),
        description="The engagement score: a score policy's points, caps and decay. It has no "
        "grade_points (the grade is the other axis) and its threshold is unused (the cells are "
        "the thresholds).",
    )

    @field_validator("engagement", mode="before")
    @classmethod
    def _without_grade_points(cls, engagement: Any) -> Any:
        """An engagement table starts from no grade points (a score's default has some)."""
        if isinstance(engagement, dict):
            return {"grade_points": {}, **engagement}
        return engagement

    @field_validator("engagement")
    @classmethod
    def _no_grade_points(cls, engagement: ScorePolicyConfig) -> ScorePolicyConfig:
        if engagement.grade_points:
            raise ValueError("grade_points must be empty: the matrix's other axis is the grade")
        return engagement

    def check_horizon(self, horizon_days: float) -> None:
        """The engagement score's decay must fit the horizon."""
        self.engagement.check_horizon(horizon_days)

    def sources_named(self) -> set[str]:
        """The sources the engagement score gives points."""
        return self.engagement.sources_named()

    def untimed_parts(self) -> list[str]:
        """The engagement score's decay."""
        return [f"engagement {part}" for part in self.engagement.untimed_parts()]


@register_policy("matrix", MatrixPolicyConfig)
class MatrixPolicy:
    """MQL when the engagement score reaches the cell of the lead's grade."""

    def __init__(self, config: MatrixPolicyConfig) -> None:
        self.config = config
        self.engagement = ScorePolicy(config.engagement)
        # An unknown grade (UNKNOWN_GRADE, after the four) has no cell: it never qualifies.
        self.cells = np.array([*(config.cells.get(grade, np.inf) for grade in GRADES), np.inf])

    def qualify(self, view: LeadView) -> Qualification:
        """First event per lead whose engagement score reaches its grade's cell."""
        score = self.engagement.scores(view)
        cell = self.cells[view.grade[view.events.lead]]
        hits = np.flatnonzero(score >= cell)  # nan (before since) never hits
        return first_hits(view, hits, score[hits])

    def explain(self, view: LeadView, lead: int) -> str:
        """``matrix: grade B with score 62 >= 50``."""
        alone = view.subset(np.array([lead]))
        qualification = self.qualify(alone)
        if qualification.event[0] < 0:
            return "not MQL"
        grade = GRADES[int(alone.grade[0])]
        score = qualification.priority[0]
        return f"matrix: grade {grade} with score {score:.4g} >= {self.config.cells[grade]:g}"
