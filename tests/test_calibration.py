"""The shipped baseline: inside the published funnel bands, and equal to the model defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mqlsim.model.engine import run_replication
from mqlsim.scenario.loading import load_scenario
from mqlsim.scenario.models import Scenario, ScenarioMeta

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.toml"

#: Published B2B SaaS funnel benchmarks the baseline is calibrated to (see docs/model.md).
BANDS = {
    "lead_to_mql_rate": (0.10, 0.35),
    "mql_to_sal_rate": (0.40, 0.60),
    "mql_to_sql_rate": (0.13, 0.26),
    "sql_to_won_rate": (0.15, 0.30),
}


@pytest.fixture(scope="module")
def baseline_means() -> dict[str, float]:
    scenario = load_scenario(BASELINE, [])
    rows = [run_replication(scenario, r).metrics for r in range(scenario.scenario.replications)]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}


#: Bands the baseline leaves since the sales floor of issue 13, whose default response curves
#: reproduce the lead-response studies: an MQL first attempted more than a few minutes after it
#: rarely becomes an SQL, and on the uniform 24-hour clock of the leads' activity 76 % of MQLs
#: come when no rep works. Measured: MQL->SAL 26 %, MQL->SQL 4.6 % (with
#: sales.response_strength = 0: 53 % and 19 %). The baseline is recalibrated once the lead-side
#: clock (business hours) is in; strict, so these marks go then.
LEFT_SINCE_THE_RESPONSE_CURVES = {"mql_to_sal_rate", "mql_to_sql_rate"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "metric",
    [
        pytest.param(
            metric,
            marks=pytest.mark.xfail(
                strict=True, reason="response curves of the studies; recalibration pending"
            ),
        )
        if metric in LEFT_SINCE_THE_RESPONSE_CURVES
        else metric
        for metric in sorted(BANDS)
    ],
)
def test_baseline_lands_in_published_band(baseline_means: dict[str, float], metric: str) -> None:
    low, high = BANDS[metric]
    assert low <= baseline_means[metric] <= high, f"{metric} = {baseline_means[metric]:.3f}"


@pytest.mark.slow
def test_shipped_baseline_equals_model_defaults() -> None:
    """Only the name and description differ from ``Scenario()``."""
    shipped = load_scenario(BASELINE, []).model_dump()
    assert shipped["scenario"]["name"] == "baseline"
    defaults = ScenarioMeta()
    shipped["scenario"]["name"] = defaults.name
    shipped["scenario"]["description"] = defaults.description
    expected = Scenario().model_dump()
    for section in expected:
        assert shipped[section] == expected[section], section
    assert shipped == expected
