"""Fold an item's events into its current facts (what the cached row holds).

The same function serves a live move (apply one event to the current facts) and a rebuild
(apply every event from the first), which is what keeps a row equal to its rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from workflow.domain.calendar import Calendar
from workflow.domain.clock import ClockFacts, Phase, due_ordinal, pause_length
from workflow.domain.lifecycle import ClockEffect


@dataclass(frozen=True, kw_only=True)
class Facts:
    """An item's state and clock facts after its moves."""

    state: str
    phase: Phase
    promised_days: int | None = None
    extension_days: int = 0
    paused_days: int = 0
    accepted_on: date | None = None
    suspended_since: date | None = None
    closed_on: date | None = None
    last_move_on: date | None = None
    pauses: tuple[tuple[date, date], ...] = ()  # finished (suspended_on, resumed_on)

    def due_base(self, cal: Calendar) -> date | None:
        """The due date given the finished pauses only (the cached row's `due_on`)."""
        if self.accepted_on is None or self.promised_days is None:
            return None
        limit = self.promised_days + self.extension_days
        return cal.workday_at(due_ordinal(cal, self.accepted_on, limit, self.pauses))

    def clock(self, cal: Calendar) -> ClockFacts:
        return ClockFacts(
            phase=self.phase, accepted_on=self.accepted_on, promised_days=self.promised_days,
            extension_days=self.extension_days, paused_days=self.paused_days,
            suspended_since=self.suspended_since, closed_on=self.closed_on,
            due_base=self.due_base(cal),
        )


def move_data(before: str, after: str, effect: ClockEffect, phase: Phase, *,
              days: int | None = None, promised_days: int | None = None) -> dict[str, Any]:
    """The data a move event records: the states, and what it did to the clock (its effect
    and the phase it left), so that a later policy edit never reinterprets history."""
    data: dict[str, Any] = {"from": before, "to": after, "clock": effect.value,
                            "phase": phase.value}
    if days is not None:
        data["days"] = days
    if promised_days is not None:
        data["promised_days"] = promised_days
    return data


def apply_move(
    facts: Facts,
    *,
    cal: Calendar,
    effect: ClockEffect,
    state: str,
    phase: Phase,
    on: date,
    days: int | None = None,
    promised_days: int | None = None,
) -> Facts:
    """Return the facts after one move into `state` on day `on`.

    `promised_days` is the limit snapshotted by a `start` (acceptance); `days` the working days an
    `extend` adds. Leaving a suspension (resume, close, void) adds the pause to `paused_days`.
    A `reopen` (a resolution that did not hold) runs the clock again as if it had never stopped.
    """
    new = replace(facts, state=state, phase=phase, last_move_on=on)
    if facts.suspended_since is not None and phase != Phase.PAUSED:
        assert facts.accepted_on is not None
        new = replace(
            new,
            paused_days=facts.paused_days
            + pause_length(cal, facts.accepted_on, facts.suspended_since, on),
            pauses=facts.pauses + ((facts.suspended_since, on),),
            suspended_since=None,
        )
    if effect == ClockEffect.START:
        new = replace(
            new, accepted_on=on, promised_days=promised_days, extension_days=0, paused_days=0,
            suspended_since=None, closed_on=None, pauses=(),
        )
    elif effect == ClockEffect.PAUSE:
        new = replace(new, suspended_since=on)
    elif effect == ClockEffect.EXTEND:
        new = replace(new, extension_days=facts.extension_days + (days or 0))
    elif effect in (ClockEffect.CLOSE, ClockEffect.VOID):
        new = replace(new, closed_on=on)
    elif effect == ClockEffect.REOPEN:
        # the clock never stopped: the days since the close count as elapsed
        new = replace(new, closed_on=None)
    return new
