"""Every `--fail-if` gate the docs show is run against the shipped scenarios, both ways.

Issue 17, point 1: the documented CI workflow failed on a pull request that changed nothing (its
bound sat above the baseline's own MQL→SQL rate). So every gate expression quoted in README.md
and docs/*.md (in backticks or quotes) is found here and must be listed below: a valid one with a
comparison of shipped scenarios it passes (the unchanged baseline, at least) and one it fails;
an invalid one with the words of the line that refuses it. A new gate in the docs without an
entry here fails :func:`test_every_gate_in_the_docs_is_listed`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mqlsim
from mqlsim.core.errors import InputError
from mqlsim.core.metric_catalog import METRIC_BY_NAME
from mqlsim.experiments.cache import ReplicationCache
from mqlsim.experiments.gates import parse_gate
from mqlsim.experiments.runner import run_experiments

ROOT = Path(__file__).resolve().parents[1]
#: docs/replay.md's gates judge two policies on a recorded log, not two scenarios: they are
#: parsed here (test_replay_gates_in_the_docs_parse) and run by tests/test_replay_against.py.
REPLAY_PAGE = ROOT / "docs" / "replay.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMPARE_PAGES = [page for page in PAGES if page != REPLAY_PAGE]
SCENARIOS = ROOT / "scenarios"
#: A gate quoted in a page: METRIC OP VALUE[UNIT] between backticks or quotes.
QUOTED_GATE = re.compile(
    r"""[`'"]\s*([a-z_]+\s*(?:>=|<=|>|<)\s*[+-]?[0-9.eE+-]+\s*(?:%|pp)?)\s*[`'"]"""
)
BASELINE = "baseline.toml"
#: Baseline score OR hand-raise OR PQL: nearly the baseline's funnel.
ANY_OF = "policy_any_of.toml"

#: Each valid gate: (A, B) comparisons of shipped scenarios it passes, then ones it fails. The
#: unchanged baseline against itself must pass every gate.
PASSES_AND_FAILS: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "missed_opportunities > +5%": ([(BASELINE, ANY_OF)], [(BASELINE, "strict.toml")]),
    "wasted_sales_hours > +100": ([(BASELINE, "strict.toml")], [(BASELINE, "loose.toml")]),
    "wasted_sales_hours > +0": ([(BASELINE, "strict.toml")], [(BASELINE, "loose.toml")]),
    "wasted_sales_hours > +5%": ([(BASELINE, "strict.toml")], [(BASELINE, "loose.toml")]),
    "mql_to_sql_rate < 18%": ([(BASELINE, "strict.toml")], [(BASELINE, "loose.toml")]),
    "mql_to_sql_rate < 0.18": ([(BASELINE, "strict.toml")], [(BASELINE, "loose.toml")]),
    "mql_to_sql_rate < -2pp": ([(BASELINE, ANY_OF)], [(BASELINE, "loose.toml")]),
    "mql_to_sql_rate < -0.02": ([(BASELINE, ANY_OF)], [(BASELINE, "loose.toml")]),
    "revenue_won < -10%": ([(BASELINE, ANY_OF)], [(BASELINE, "strict.toml")]),
    "missed_never_mql > +10%": ([(BASELINE, "loose.toml")], [(BASELINE, "strict.toml")]),
}
#: Each gate the docs show being refused, with the words of its error line.
REFUSED: dict[str, str] = {
    "missed_oportunities > +5%": "unknown metric 'missed_oportunities'",
    "missed_opportunities > 5%": "needs a sign",
    "mql_to_sql_rate < 18": "write < 18% (as the table shows it) or < 0.18",
    "mql_to_sql_rate < 20": "write < 20% (as the table shows it) or < 0.2",
    "mql_to_sql_rate < -2": "write < -2pp for percentage points",
    "wasted_sales_hours > +5pp": "pp (percentage points) is for shares",
    "mqls > 1e999": "1e999 is not a finite number",
}


def quoted_gates(pages: list[Path] = COMPARE_PAGES) -> set[str]:
    """Every gate expression quoted in the pages (whose metric is a catalogue name)."""
    found = set()
    for page in pages:
        for match in QUOTED_GATE.finditer(page.read_text(encoding="utf-8")):
            expression = match.group(1).strip()
            metric = re.match(r"[a-z_]+", expression)
            if metric and (metric.group() in METRIC_BY_NAME or metric.group() in REFUSED_NAMES):
                found.add(expression)
    return found


REFUSED_NAMES = {re.match(r"[a-z_]+", gate).group() for gate in REFUSED}  # type: ignore[union-attr]


def test_replay_gates_in_the_docs_parse() -> None:
    gates = quoted_gates([REPLAY_PAGE])
    assert gates, "docs/replay.md shows --against gates"
    for gate in gates:
        parse_gate(gate)


def test_every_gate_in_the_docs_is_listed() -> None:
    quoted = quoted_gates()
    assert "mql_to_sql_rate < 18%" in quoted  # the CI workflow's bound (docs/ci.md)
    unlisted = quoted - set(PASSES_AND_FAILS) - set(REFUSED)
    assert not unlisted, f"gates in the docs without a test case here: {sorted(unlisted)}"


@pytest.mark.parametrize(("expression", "words"), sorted(REFUSED.items()))
def test_refused_gates_say_what_to_write(expression: str, words: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_gate(expression)
    assert len(raised.value.lines) == 1 and words in raised.value.lines[0]


def verdict(a: str, b: str, expression: str, cache: Path) -> bool:
    comparison = mqlsim.compare(
        str(SCENARIOS / a), str(SCENARIOS / b), gates=[expression], cache=cache, workers=1
    )
    return comparison.passed


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One replication cache for the module, filled with every compared scenario file run
    together: each runs once, and the files that differ only in their policy simulate each
    replication's shared stage once. A replication read from the cache is the one a fresh run
    makes (tests/test_cache_trust.py)."""
    folder = tmp_path_factory.mktemp("cache")
    compared = {
        name
        for passes, fails in PASSES_AND_FAILS.values()
        for pair in passes + fails
        for name in pair
    }
    scenarios = [mqlsim.load(SCENARIOS / name) for name in sorted(compared)]
    run_experiments(scenarios, workers=1, cache=ReplicationCache(folder))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("expression", sorted(PASSES_AND_FAILS))
def test_a_documented_gate_passes_and_fails_as_it_should(
    expression: str, shared_cache: Path
) -> None:
    passes, fails = PASSES_AND_FAILS[expression]
    for a, b in [(BASELINE, BASELINE), *passes]:
        assert verdict(a, b, expression, shared_cache), f"{expression} failed on {a} -> {b}"
    for a, b in fails:
        assert not verdict(a, b, expression, shared_cache), f"{expression} passed on {a} -> {b}"
