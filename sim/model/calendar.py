"""The leads' week: when they are active, and the activity clock their journeys run on.

Leads keep business hours, as the sales team does (``WorkingCalendar`` in
``sim/model/sales.py``), and with the same kind of settings: activity runs at its full level
from ``activity_start_hour`` to ``activity_end_hour`` on the first ``activity_weekdays`` days
of each week (day 0 is a Monday), and at ``off_hours_activity`` times that level at every
other hour. The profile ``w(t)`` is that level divided by its mean over the week, so it shapes
the week without changing volume.

A lead's journey runs on the **activity clock** ``W(t) = ∫₀ᵗ w``: a Poisson process of rate
``λ(s)`` in activity time ``s`` is, in calendar time ``t = W⁻¹(s)``, a Poisson process of rate
``λ(W(t)) · w(t)``. So drawing a journey in activity time and mapping each event through
``W⁻¹`` puts every activity in the lead's week exactly. ``W(t + 7) = W(t) + 7``: an activity
week is a calendar week, and the two clocks never differ by more than a few days.
"""

from __future__ import annotations

import numpy as np

from mqlsim.scenario.models import JourneysConfig

HOURS_PER_DAY = 24.0
WEEK_DAYS = 7


class ActivityClock:
    """The weekly activity profile of ``journeys`` and the activity clock built on it."""

    def __init__(self, journeys: JourneysConfig) -> None:
        start = journeys.activity_start_hour / HOURS_PER_DAY
        end = journeys.activity_end_hour / HOURS_PER_DAY
        self.start, self.end = start, end
        self.weekdays = journeys.activity_weekdays
        off = journeys.off_hours_activity
        # Calendar knots of the week and the profile's level on each piece between them.
        knots, levels = [], []
        for day in range(WEEK_DAYS):
            if day < self.weekdays:
                knots += [day, day + start, day + end]
                levels += [off, 1.0, off]
            else:
                knots.append(day)
                levels.append(off)
        knots.append(WEEK_DAYS)
        calendar = np.array(knots, dtype=float)
        level = np.array(levels)
        mass = np.diff(calendar) * level
        self.mean_level = float(mass.sum() / WEEK_DAYS)
        #: W at each knot of the week: the activity clock is piecewise linear between them.
        self._calendar = calendar
        self._activity = np.concatenate(([0.0], np.cumsum(mass / self.mean_level)))
        self._activity[-1] = float(WEEK_DAYS)  # exact, whatever the rounding of the sum
        # For the inverse, the knots that bound a piece with activity: W is flat over quiet
        # pieces, and W⁻¹ jumps over them to the first moment activity resumes (np.interp is
        # right-continuous where a knot value repeats).
        lively = mass > 0
        keep = np.concatenate(([False], lively)) | np.concatenate((lively, [False]))
        self._inverse_activity = self._activity[keep]
        self._inverse_calendar = calendar[keep]
        # The active stretches of a week, for next_active.
        days = np.arange(self.weekdays, dtype=float)
        self._open_starts = days + start
        self._open_ends = days + end

    def activity_time(self, t: np.ndarray) -> np.ndarray:
        """``W(t)``: calendar days to activity days (any real ``t``; inf stays inf)."""
        t = np.asarray(t, dtype=float)
        finite = np.isfinite(t)
        bounded = np.where(finite, t, 0.0)
        week = np.floor(bounded / WEEK_DAYS)
        s = week * WEEK_DAYS + np.interp(bounded - week * WEEK_DAYS, self._calendar, self._activity)
        return np.where(finite, s, t)

    def calendar_time(self, s: np.ndarray) -> np.ndarray:
        """``W⁻¹(s)``: activity days to calendar days, the first moment ``W`` reaches ``s``
        (after a quiet stretch, its end)."""
        s = np.asarray(s, dtype=float)
        # In place where possible: a million leads' journeys map tens of millions of times.
        week_start = np.divide(s, WEEK_DAYS)
        np.floor(week_start, out=week_start)
        week_start *= WEEK_DAYS
        within = np.subtract(s, week_start)
        calendar = np.interp(within, self._inverse_activity, self._inverse_calendar)
        del within
        calendar += week_start
        return calendar

    def active(self, t: np.ndarray) -> np.ndarray:
        """Whether each calendar time ``t`` falls in the active hours (exactly the times
        :meth:`next_active` leaves where they are, its own results included)."""
        t = np.asarray(t, dtype=float)
        return self.next_active(t) == t

    def next_active(self, t: np.ndarray) -> np.ndarray:
        """The first moment at or after each ``t`` inside the active hours: ``t`` itself when it
        is, else the next opening (computed the same way whatever ``t``, so an opening is its
        own next active moment)."""
        t = np.asarray(t, dtype=float)
        # In place where possible: a run maps tens of millions of planned touches.
        week = np.divide(t, WEEK_DAYS)
        np.floor(week, out=week)
        within = t - week * WEEK_DAYS
        # The first active stretch of the week that ends after ``within``, else the next week's
        # first.
        at = np.searchsorted(self._open_ends, within, side="right")
        wrap = at == self.weekdays
        at[wrap] = 0
        opening = self._open_starts[at]
        del at
        inside = within >= opening
        del within
        inside &= ~wrap
        week += wrap
        week *= WEEK_DAYS
        week += opening  # the opening after t: (week + wrap) * WEEK_DAYS + opening
        np.copyto(week, t, where=inside)
        return week

    def day_share(self, day: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The share of each whole ``day``'s activity in its first ``length`` days (``length``
        itself on a day without any activity, where time is uniform)."""
        first = self.activity_time(day)
        mass = self.activity_time(day + 1.0) - first
        part = self.activity_time(day + length) - first
        return np.where(mass > 0, part / np.where(mass > 0, mass, 1.0), length)

    def within_day(self, day: np.ndarray, u: np.ndarray, length: np.ndarray) -> np.ndarray:
        """A calendar time in the first ``length`` of each ``day`` (whole days) with density
        ``w``, from uniforms ``u``: the inverse of the activity clock over that part (uniform
        on a day without any activity)."""
        first = self.activity_time(day)
        part = self.activity_time(day + length) - first
        drawn = self.calendar_time(first + u * part)
        inside = np.clip(drawn, day, np.nextafter(day + length, day))
        return np.where(part > 0, inside, day + u * length)

    def share_active(self) -> float:
        """The share of activity that falls in the active hours."""
        active_days = self.weekdays * (self.end - self.start)
        return active_days / (self.mean_level * WEEK_DAYS)
