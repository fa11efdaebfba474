"""The promised-limit clock and the traffic light of one item (a permit or a problem).

The exact rules (see docs/concepts.md):

* The acceptance day does not count: working days elapsed by the end of day T are
  ``ord(T) - ord(accepted_on) - paused(T)``. Acceptance on a holiday starts the count with the
  next working day.
* A day is paused when the item is suspended at the end of that day: suspended on X, resumed on Y
  pauses ``ord(Y-1) - ord(X-1)`` working days; suspend and resume on the same day pause nothing.
* ``remaining = promised_days + extension_days - elapsed``; ``due_on`` is the working day on which
  ``remaining`` reaches 0 if nothing is paused from now on.
* Open item: red when ``remaining < 0``; yellow when the warning rule says so (on the due date
  itself the light is yellow, never red); otherwise green.
* Closed item (approved or rejected on C): read as of C; green when not overdue, red when late.
  Void items (withdrawn, not required) and items not yet accepted have no light.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from workflow.domain.calendar import Calendar


class Light(StrEnum):
    NONE = "none"
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


LIGHT_RANK = {Light.NONE: 0, Light.GREEN: 1, Light.YELLOW: 2, Light.RED: 3}


class Phase(StrEnum):
    """What a lifecycle state means for the clock (every state, built-in or added, has one)."""

    PENDING = "pending"  # not yet accepted: draft, preparing
    RUNNING = "running"  # accepted, the clock runs
    PAUSED = "paused"  # suspended, the clock stops
    CLOSED = "closed"  # approved or rejected: a final light
    VOID = "void"  # withdrawn or not required: no light, not counted as required


OPEN_PHASES = frozenset({Phase.RUNNING, Phase.PAUSED})


@dataclass(frozen=True, kw_only=True)
class WarningRule:
    """When an open item turns yellow: `remaining_days` left, or `elapsed_percent` used."""

    remaining_days: int | None = None
    elapsed_percent: int | None = None

    def warn_at(self, limit: int) -> int:
        """Return the remaining working days at or below which the light is yellow."""
        if self.remaining_days is not None:
            return self.remaining_days
        if self.elapsed_percent is not None:
            # elapsed*100 >= P*limit  <=>  remaining <= limit - ceil(P*limit/100)
            return limit - (self.elapsed_percent * limit + 99) // 100
        return 0


@dataclass(frozen=True, kw_only=True)
class ClockFacts:
    """What the event log says about an item's clock.

    `paused_days` counts the working days of finished pauses; `suspended_since` is the day the
    current pause began (None when not suspended); `due_base` is the due date given the finished
    pauses only (see `due_base`), which the cached row stores as `due_on`.
    """

    phase: Phase
    accepted_on: date | None = None
    promised_days: int | None = None
    extension_days: int = 0
    paused_days: int = 0
    suspended_since: date | None = None
    closed_on: date | None = None
    due_base: date | None = None


def pause_start(cal: Calendar, accepted_on: date, suspended_on: date) -> int:
    """Return the ordinal after which a suspension from `suspended_on` pauses working days.

    The acceptance day never counts as elapsed, so it never counts as paused either: a permit
    suspended on the day it was accepted pauses from the next working day on.
    """
    return cal.ordinal(max(suspended_on - timedelta(1), accepted_on))


def pause_length(cal: Calendar, accepted_on: date, suspended_on: date, resumed_on: date) -> int:
    """Return the working days paused by a suspension from `suspended_on` to `resumed_on`.

    A day is paused when the item is suspended at the end of it, so the resume day itself is not
    paused, and a suspension resumed the same day pauses nothing.
    """
    start = pause_start(cal, accepted_on, suspended_on)
    return max(0, cal.ordinal(resumed_on - timedelta(1)) - start)


def due_ordinal(
    cal: Calendar, accepted_on: date, limit: int, pauses: tuple[tuple[date, date], ...]
) -> int:
    """Return the ordinal of the first working day on which `remaining` reaches 0.

    Only pauses that begin before that day move it: a permit suspended after its limit ran out
    keeps the due date it missed. `pauses` are (suspended_on, resumed_on) pairs in order.
    """
    due = cal.ordinal(accepted_on) + limit
    for suspended_on, resumed_on in pauses:
        start = pause_start(cal, accepted_on, suspended_on)
        if start < due:
            due += max(0, cal.ordinal(resumed_on - timedelta(1)) - start)
    return due


@dataclass(frozen=True, kw_only=True)
class ClockReading:
    """The clock of one item as of a day. Fields are named as in `permit show --json`."""

    as_of: date
    accepted_on: date | None
    promised_days: int | None
    extension_days: int
    paused_days: int
    due_on: date | None
    remaining_days: int | None
    elapsed_days: int | None
    overdue_days: int
    light: Light
    provisional: bool
    warn_at: int | None

    def as_dict(self) -> dict:
        return {
            "accepted_on": _iso(self.accepted_on),
            "promised_days": self.promised_days,
            "extension_days": self.extension_days,
            "paused_days": self.paused_days,
            "due_on": _iso(self.due_on),
            "remaining_days": self.remaining_days,
            "elapsed_days": self.elapsed_days,
            "overdue_days": self.overdue_days,
            "light": self.light.value,
            "provisional": self.provisional,
        }


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def read_clock(facts: ClockFacts, cal: Calendar, rule: WarningRule, as_of: date) -> ClockReading:
    """Return the clock and light of an item as of the end of day `as_of`.

    A closed item is read as of its closing day, whatever `as_of` is, so it keeps its final
    light. An item not yet accepted (or accepted after `as_of`) reads as light `none`.
    """
    if facts.accepted_on is None or facts.promised_days is None or facts.accepted_on > as_of:
        return ClockReading(
            as_of=as_of, accepted_on=None, promised_days=facts.promised_days,
            extension_days=facts.extension_days, paused_days=0, due_on=None,
            remaining_days=None, elapsed_days=None, overdue_days=0, light=Light.NONE,
            provisional=False, warn_at=None,
        )
    end = facts.closed_on if facts.phase in (Phase.CLOSED, Phase.VOID) and facts.closed_on else as_of
    limit = facts.promised_days + facts.extension_days
    base = cal.ordinal(facts.accepted_on)
    due = cal.ordinal(facts.due_base) if facts.due_base else base + facts.paused_days + limit
    paused = facts.paused_days
    if facts.suspended_since is not None and facts.suspended_since <= end:
        start = pause_start(cal, facts.accepted_on, facts.suspended_since)
        ongoing = max(0, cal.ordinal(end) - start)
        paused += ongoing
        if start < due:  # the pause began before the limit ran out: it moves the due date
            due += ongoing
    elapsed = cal.ordinal(end) - base - paused
    remaining = limit - elapsed
    due_on = cal.workday_at(due)
    overdue = max(0, -remaining)
    warn_at = rule.warn_at(limit)
    if facts.phase == Phase.VOID:
        light = Light.NONE
    elif facts.phase == Phase.CLOSED:
        light = Light.RED if overdue else Light.GREEN
    elif remaining < 0:
        light = Light.RED
    elif remaining <= warn_at:
        light = Light.YELLOW
    else:
        light = Light.GREEN
    return ClockReading(
        as_of=as_of, accepted_on=facts.accepted_on, promised_days=facts.promised_days,
        extension_days=facts.extension_days, paused_days=paused, due_on=due_on,
        remaining_days=remaining, elapsed_days=elapsed, overdue_days=overdue, light=light,
        provisional=cal.provisional(facts.accepted_on, max(end, due_on)), warn_at=warn_at,
    )


def light_from_remaining(remaining: int, warn_at: int) -> Light:
    """Return the light of an open item with `remaining` working days (what the sweep computes)."""
    if remaining < 0:
        return Light.RED
    if remaining <= warn_at:
        return Light.YELLOW
    return Light.GREEN
