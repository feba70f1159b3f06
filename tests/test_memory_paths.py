"""The memory-saving and faster paths give exactly what the plain ones give (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest

import mqlsim.policies.score as score_module
from mqlsim.core.events import EventLog
from mqlsim.policies.base import LeadView
from mqlsim.policies.score import ScorePolicy
from mqlsim.policies.sections import ScorePolicyConfig


def random_log(rng: np.random.Generator, n_leads: int, size: int, grid: float) -> EventLog:
    """A sorted log whose times sit on a coarse grid, so many events tie."""
    lead = rng.integers(0, n_leads, size)
    time = np.round(rng.random(size) * 300 / grid) * grid
    activity = rng.integers(0, 16, size).astype(np.int8)
    return EventLog.from_unsorted(lead, time, activity, n_leads)


def assert_same(got: EventLog, want: EventLog) -> None:
    for name in ("lead", "time", "activity", "starts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("grid", [1.0, 1e-3, 0.0])
def test_sort_of_unsorted_events_is_stable(grid: float) -> None:
    """By lead, then time; ties in input order (grid 0: no ties, 1: many)."""
    rng = np.random.default_rng(4)
    lead = rng.integers(0, 300, 50_000)
    time = rng.random(lead.size) * 300
    if grid:
        time = np.round(time / grid) * grid
    activity = rng.integers(0, 16, lead.size).astype(np.int8)
    log = EventLog.from_unsorted(lead, time, activity, 400)
    order = np.lexsort((time, lead))  # stable: ties keep their input order
    np.testing.assert_array_equal(log.lead, lead[order])
    np.testing.assert_array_equal(log.time, time[order])
    np.testing.assert_array_equal(log.activity, activity[order])
    np.testing.assert_array_equal(log.starts, np.searchsorted(lead[order], np.arange(401)))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("grid", [1.0, 0.5, 1e-3])
def test_merge_of_two_logs_equals_the_full_resort(seed: int, grid: float) -> None:
    rng = np.random.default_rng(seed)
    first = random_log(rng, 50, 2_000, grid)
    second = random_log(rng, 50, 300, grid)
    merged = EventLog.concatenate([first, second])
    resorted = EventLog.from_unsorted(
        np.concatenate((first.lead, second.lead)),
        np.concatenate((first.time, second.time)),
        np.concatenate((first.activity, second.activity)),
        50,
    )
    assert_same(merged, resorted)
    assert merged.lead.dtype == np.int32


def test_merge_with_an_empty_log() -> None:
    rng = np.random.default_rng(1)
    first = random_log(rng, 10, 100, 1.0)
    empty = EventLog.from_unsorted(np.array([], int), np.array([]), np.array([], np.int8), 10)
    assert_same(EventLog.concatenate([first, empty]), first)
    assert_same(EventLog.concatenate([empty, first]), first)


@pytest.mark.parametrize("decay", ["half_life", "linear", "window"])
def test_score_in_chunks_equals_score_at_once(monkeypatch, decay: str) -> None:
    rng = np.random.default_rng(7)
    n_leads = 400
    events = random_log(rng, n_leads, 20_000, 0.25)
    view = LeadView(
        events=events,
        grade=rng.integers(0, 4, n_leads).astype(np.int8),
        fit={},
        since=rng.random(n_leads) * 100,
    )
    policy = ScorePolicy(ScorePolicyConfig(threshold=60, decay=decay))
    whole = policy.qualify(view)
    monkeypatch.setattr(score_module, "_CHUNK_EVENTS", 997)
    chunked = policy.qualify(view)
    for name in ("time", "priority", "event"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)
    assert (whole.event >= 0).sum() > 50  # the comparison saw MQLs


@pytest.mark.parametrize("decay", ["half_life", "linear", "window"])
def test_scores_are_the_same_whatever_the_row_padding(monkeypatch, decay: str) -> None:
    rng = np.random.default_rng(8)
    n_leads = 400
    view = LeadView(
        events=random_log(rng, n_leads, 20_000, 0.25),
        grade=rng.integers(0, 4, n_leads).astype(np.int8),
        fit={},
        since=rng.random(n_leads) * 100,
    )
    policy = ScorePolicy(ScorePolicyConfig(threshold=60, decay=decay))
    monkeypatch.setattr(score_module, "_FINE_WIDTH_EVENTS", 0)
    fine = policy.scores(view)
    monkeypatch.setattr(score_module, "_FINE_WIDTH_EVENTS", 1 << 40)
    np.testing.assert_array_equal(policy.scores(view), fine)
    assert np.count_nonzero(fine >= 60) > 50
