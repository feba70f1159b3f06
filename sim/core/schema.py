"""Shared building blocks of scenario models: the strict base model and constrained numbers.

Scenario sections and the configuration models of policies and cadences (which live beside
their code in ``policies/``) all derive from :class:`StrictModel`.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class StrictModel(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
        strict=True,  # "80" is not a number, true is not a count
        ser_json_inf_nan="strings",  # half-lives may be inf ("never"); JSON has no inf
    )
