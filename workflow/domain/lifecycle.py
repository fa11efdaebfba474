"""The permit lifecycle: a state machine built from policy with `transitions`.

One shared `Machine` per lifecycle; a move binds a small adapter to it (never a stored row, never
one machine per row), fires the event, and unbinds. Guards raise with a message that names the
actor, the permit and the rule, so a refusal can be shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from transitions import Machine, MachineError

from workflow.domain.clock import Phase
from workflow.errors import BadData, InvalidMove, NotAllowed


class ClockEffect(StrEnum):
    NONE = "none"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"
    CLOSE = "close"
    VOID = "void"
    REOPEN = "reopen"  # back from closed to running: the close did not hold (problems)


class Role(StrEnum):
    DEPARTMENT = "department"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True, kw_only=True)
class StateSpec:
    name: str
    zh: str
    en: str
    phase: Phase
    granted: bool = False  # a closed state that satisfies a prerequisite (approved)


@dataclass(frozen=True, kw_only=True)
class EventSpec:
    name: str
    zh: str
    en: str
    sources: tuple[str, ...]
    dest: str | None  # None: stay in the same state
    clock: ClockEffect = ClockEffect.NONE
    roles: frozenset[Role] = frozenset({Role.DEPARTMENT, Role.ADMIN})
    reason: bool = False
    days: bool = False
    prerequisites: bool = False


@dataclass(frozen=True, kw_only=True)
class Actor:
    name: str
    role: Role
    department: str | None = None


@dataclass(frozen=True, kw_only=True)
class MoveRequest:
    """Everything a guard needs to decide on one move."""

    ref: str
    department: str
    actor: Actor
    reason: str | None = None
    days: int | None = None
    unmet_prerequisites: tuple[str, ...] = ()
    extension_days: int = 0
    max_extension_days: int = 0


def check_actor(actor: Actor, roles: frozenset[Role], department: str, what: str) -> None:
    """Raise NotAllowed unless `actor` holds one of `roles` (a department only on its own)."""
    if actor.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise NotAllowed(f"{actor.name} ({actor.role.value}) may not {what}: only {allowed}")
    if actor.role == Role.DEPARTMENT and actor.department != department:
        raise NotAllowed(
            f"{actor.name} (department {actor.department}) may not {what}: "
            f"it belongs to department {department}"
        )


class _Binding:
    """What transitions binds to: a state string and a request, nothing persistent."""

    def __init__(self, state: str, request: MoveRequest, spec: EventSpec):
        self.state = state
        self.request = request
        self.spec = spec

    def guard(self, event) -> bool:
        r, spec = self.request, self.spec
        check_actor(r.actor, spec.roles, r.department, f"{spec.name} {r.ref}")
        if spec.reason and not (r.reason and r.reason.strip()):
            raise BadData(f"{spec.name} {r.ref}: a reason is required (--reason)")
        if spec.days:
            if r.days is None or r.days < 1:
                raise BadData(f"{spec.name} {r.ref}: a positive number of days is required (--days)")
            if spec.clock == ClockEffect.EXTEND and r.extension_days + r.days > r.max_extension_days:
                raise NotAllowed(
                    f"extend {r.ref}: {r.extension_days} + {r.days} working days exceeds the "
                    f"policy's maximum extension of {r.max_extension_days}"
                )
        if spec.prerequisites and r.unmet_prerequisites:
            raise NotAllowed(
                f"{spec.name} {r.ref}: prerequisites not approved: {', '.join(r.unmet_prerequisites)}"
            )
        return True


@dataclass
class Lifecycle:
    """States and events from policy, and the one machine that checks moves between them."""

    initial: str
    states: Mapping[str, StateSpec]
    events: Mapping[str, EventSpec]
    max_extension_days: int = 10
    _machine: Machine | None = field(default=None, init=False, repr=False)

    def phase(self, state: str) -> Phase:
        return self.states[state].phase

    def states_in(self, *phases: Phase) -> list[str]:
        return [s.name for s in self.states.values() if s.phase in phases]

    @property
    def machine(self) -> Machine:
        if self._machine is None:
            self._machine = Machine(
                model=None,
                states=list(self.states),
                transitions=[
                    {
                        "trigger": e.name,
                        "source": list(e.sources),
                        "dest": e.dest if e.dest is not None else "=",
                        "conditions": "guard",
                    }
                    for e in self.events.values()
                ],
                initial=self.initial,
                auto_transitions=False,
                send_event=True,
            )
        return self._machine

    def move(self, state: str, event: str, request: MoveRequest) -> str:
        """Return the state after `event`, or raise InvalidMove / NotAllowed / BadData."""
        spec = self.events.get(event)
        if spec is None:
            known = ", ".join(self.events)
            raise InvalidMove(f"unknown event {event!r} (events: {known})")
        binding = _Binding(state, request, spec)
        machine = self.machine
        machine.add_model(binding, initial=state)
        try:
            trigger: Callable[[], bool] = getattr(binding, event)
            try:
                trigger()
            except MachineError:
                allowed = [e.name for e in self.events.values() if state in e.sources]
                raise InvalidMove(
                    f"{request.ref}: cannot {event} from state {state}"
                    f" (allowed: {', '.join(allowed) or 'none'})"
                ) from None
            return binding.state
        finally:
            machine.remove_model(binding)
