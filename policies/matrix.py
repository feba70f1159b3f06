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

import numpy as np

from mqlsim.core.vocabulary import GRADES
from mqlsim.policies.base import (
    LeadView,
    Qualification,
    first_hits,
)
from mqlsim.policies.score import ScorePolicy
from mqlsim.policies.sections import MatrixPolicyConfig


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
