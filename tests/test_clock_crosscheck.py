"""Cross-check of the clock against an independent, naive day-by-day simulator.

The simulator below was written from DESIGN.md ("The clock (exact semantics)") alone, before
reading the project's calendar, clock or projection code. It walks calendar days one by one and
asks `chinese_calendar.is_workday` (Mon-Fri outside the years that package covers); it never
uses the project's ordinal table. Hypothesis then drives the project's projection and clock
with random histories and asserts every field of the reading equals the simulator's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

ONE = timedelta(days=1)


def sim_is_workday(d: date) -> tuple[bool, bool]:
    """Return (working, provisional): Mon-Fri, provisionally, outside the package's years."""
    try:
        return chinese_calendar.is_workday(d), False
    except NotImplementedError:
        return d.weekday() < 5, True


@dataclass
class SimHistory:
    """Plain facts of one permit, straight from its events."""

    promised_days: int
    accepted_on: date
    # (suspended_on, resumed_on or None while still suspended)
    pauses: list[tuple[date, date | None]] = field(default_factory=list)
    extensions: list[tuple[date, int]] = field(default_factory=list)
    closed_on: date | None = None  # approved or rejected
    withdrawn_on: date | None = None


@dataclass
class SimReading:
    elapsed_days: int | None
    remaining_days: int | None
    due_on: date | None
    overdue_days: int | None
    light: str
    paused_days: int | None
    provisional: bool


def _suspended_at_end_of(h: SimHistory, d: date) -> bool:
    for start, end in h.pauses:
        # Suspended on X, resumed on Y: suspended at the end of X .. Y-1.
        if start <= d and (end is None or d < end):
            return True
    return False


def simulate(h: SimHistory, as_of: date, warn_days: int, warn_percent: int | None) -> SimReading:
    """Read the clock as of the end of `as_of`, walking one day at a time from acceptance."""
    if h.withdrawn_on is not None and h.withdrawn_on <= as_of:
        return SimReading(None, None, None, None, "none", None, False)
    if as_of < h.accepted_on:
        return SimReading(None, None, None, None, "none", None, False)
    closed = h.closed_on is not None and h.closed_on <= as_of
    end = h.closed_on if closed else as_of  # the clock stops on the closing day
    limit = h.promised_days + sum(days for on, days in h.extensions if on <= end)

    elapsed = paused = 0
    provisional = False
    due_on = None
    d = h.accepted_on + ONE  # the acceptance day never counts
    while d <= end:
        working, prov = sim_is_workday(d)
        if working:
            provisional |= prov
            if _suspended_at_end_of(h, d):
                paused += 1
            else:
                elapsed += 1
                if elapsed == limit and due_on is None:
                    due_on = d
        d += ONE
    # With no further pause: keep walking until the limit runs out.
    count = elapsed
    if due_on is None and limit == 0:
        due_on = h.accepted_on  # degenerate: nothing to count (not generated below)
    while due_on is None:
        working, prov = sim_is_workday(d)
        if working:
            provisional |= prov
            count += 1
            if count == limit:
                due_on = d
        d += ONE
    remaining = limit - elapsed
    overdue = max(0, -remaining)
    if closed:
        light = "green" if overdue == 0 else "red"
    elif remaining < 0:
        light = "red"
    elif as_of == due_on:
        light = "yellow"
    elif remaining <= warn_days or (
        warn_percent is not None and elapsed * 100 >= warn_percent * limit
    ):
        light = "yellow"
    else:
        light = "green"
    return SimReading(elapsed, remaining, due_on, overdue, light, paused, provisional)
