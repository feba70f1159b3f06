"""Shared building blocks of scenario models: the strict base model and constrained numbers.

Scenario sections and the configuration models of policies and cadences (which live beside
their code in ``policies/``) all derive from :class:`StrictModel`.

**Numbers are finite.** Every number field of a :class:`StrictModel` refuses ``nan``, ``inf``
and ``-inf`` (TOML spells them ``nan`` and ``inf``, and reads ``1e400`` as ``inf``): a ``nan``
threshold or weight would silently qualify no lead at all. The one exception is
:data:`PositiveOrInfinite`, for the durations where infinity has a documented meaning: a
half-life of ``inf`` never halves, a window of ``inf`` has no limit, a refit every ``inf`` days
never comes, an MQL with a queue age limit of ``inf`` never ages out. So is
:data:`ScoreOrNever`, a score threshold where ``inf`` means "never qualifies" (a matrix cell
turned off). ``nan`` is refused there too.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
#: A duration above 0 where ``inf`` means "never" (a half-life, a refit interval) or "no limit"
#: (a window); ``nan`` fails ``> 0``.
PositiveOrInfinite = Annotated[float, Field(gt=0.0, allow_inf_nan=True)]
#: A score threshold where ``inf`` means "never qualifies"; ``nan`` and ``-inf`` fail
#: ``> -inf``.
ScoreOrNever = Annotated[float, Field(gt=float("-inf"), allow_inf_nan=True)]


class StrictModel(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable, numbers
    are finite (see the module docstring)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_default=True,
        strict=True,  # "80" is not a number, true is not a count
        allow_inf_nan=False,  # nan and inf are errors, except in the fields named above
        ser_json_inf_nan="strings",  # half-lives may be inf ("never"); JSON has no inf
    )
