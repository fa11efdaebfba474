"""Permits: add one to a project, advance it through its lifecycle, show and list them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App, check_text
from workflow.domain.calendar import Calendar, day_number
from workflow.domain.clock import ClockFacts, ClockReading, Light, Phase, read_clock
from workflow.domain.lifecycle import ClockEffect, MoveRequest, Role
from workflow.domain.projection import Facts, apply_move, move_data
from workflow.errors import BadData, Conflict, NotFound, PolicyError
from workflow.policy import LEVELS, PermitType, Policy
from workflow.store.events import event_t, make_event, permit_t, read_events, write_permit
from workflow.store.models import Project, utcnow

project_t = Project.__table__
ADD_PERMIT = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DEPARTMENT})
MAX_DAYS = 1000  # working days, about four years: a longer promised limit is a typo
CONFLICT_RETRIES = 3  # re-reads of a permit that moved under a move without expect_version


def check_in_calendar(day: date, what: str) -> None:
    """Refuse a day outside the materialised calendar (the sweep could not count it)."""
    from workflow.store.calendar_table import FIRST_DAY, LAST_DAY

    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadData(f"{what} {day} is outside the calendar ({FIRST_DAY} to {LAST_DAY})")


def split_ref(ref: str) -> tuple[str, str]:
    """Split a permit reference `PROJECT-CODE/TYPE`."""
    code, sep, type_ = ref.strip().rpartition("/")
    if not sep or not code or not type_:
        raise BadData(f"bad permit reference {ref!r}: expected PROJECT-CODE/TYPE")
    return code, type_


def _select_permits():
    return sa.select(
        permit_t,
        project_t.c.code.label("project_code"),
        project_t.c.name.label("project_name"),
        project_t.c.district,
    ).join(project_t, project_t.c.id == permit_t.c.project_id)


_LOAD = _select_permits().where(
    project_t.c.code == sa.bindparam("code"), permit_t.c.type == sa.bindparam("type")
)  # built once: building a statement per call cost more than running it


def load(conn: Connection, ref: str) -> sa.Row:
    """Return the permit row for `ref` (with project code and name), or raise NotFound."""
    code, type_ = split_ref(ref)
    row = conn.execute(_LOAD, {"code": code, "type": type_}).first()
    if row is None:
        exists = conn.execute(sa.select(project_t.c.id).where(project_t.c.code == code)).first()
        if exists is None:
            raise NotFound(f"unknown project {code!r}")
        raise NotFound(f"project {code} has no {type_} permit")
    return row


def row_clock(row: Any) -> ClockFacts:
    """The clock facts a cached permit row holds (its `due_on` is the due date before any
    current pause)."""
    return ClockFacts(
        phase=Phase(row.phase), accepted_on=row.accepted_on, promised_days=row.promised_days,
        extension_days=row.extension_days, paused_days=row.paused_days,
        suspended_since=row.suspended_since, closed_on=row.closed_on, due_base=row.due_on,
    )


def cached_fields(facts: Facts, ptype: PermitType, cal: Calendar, light_on: date | None) -> dict:
    """Return the permit row's cached columns for `facts`, light read as of `light_on`."""
    clock = facts.clock(cal)
    light = Light.NONE
    if light_on is not None:
        light = read_clock(clock, cal, ptype.warning, light_on).light
    limit = (facts.promised_days or 0) + facts.extension_days
    return {
        "state": facts.state, "phase": facts.phase.value, "promised_days": facts.promised_days,
        "extension_days": facts.extension_days, "paused_days": facts.paused_days,
        "accepted_on": facts.accepted_on, "suspended_since": facts.suspended_since,
        "closed_on": facts.closed_on, "last_move_on": facts.last_move_on,
        "due_on": clock.due_base,
        "warn_at": ptype.warning.warn_at(limit) if facts.promised_days is not None else None,
        "light": light.value, "light_on": light_on,
    }


def recorded_effect(lifecycle: Any, e: Any, data: dict, what: str) -> tuple[ClockEffect, Phase]:
    """Return the clock effect and phase a logged move had.

    Moves record what they did to the clock, so a later policy edit never reinterprets history;
    older events fall back to the current policy.
    """
    if "clock" in data and "phase" in data:
        return ClockEffect(data["clock"]), Phase(data["phase"])
    new_state = data["to"]
    spec = lifecycle.events.get(e.event)
    if spec is None or new_state not in lifecycle.states:
        raise PolicyError(
            f"{what} event {e.seq}: {e.event} -> {new_state} is not in the lifecycle policy "
            "any more"
        )
    return spec.clock, lifecycle.phase(new_state)


def event_rows(events: list[Any]) -> list[dict]:
    """Events as `history --json` prints them."""
    return [
        {
            "seq": e.seq, "kind": e.kind, "event": e.event, "on": e.on.isoformat(),
            "actor": e.actor, "reason": e.reason, "data": json.loads(e.data),
            "recorded_at": e.recorded_at.isoformat(timespec="seconds"),
        }
        for e in events
    ]


def fold(events: list[Any], policy: Policy, cal: Calendar) -> tuple[Facts, date | None]:
    """Fold a permit's events, oldest first, into its facts and the day its light is read as of.

    The light is read as of the later of the last move's date and the last light event's day.
    """
    lifecycle = policy.lifecycle
    facts: Facts | None = None
    light_on: date | None = None
    for e in events:
        data = json.loads(e.data)
        if e.kind == "create":
            state = data.get("state", lifecycle.initial)
            facts = Facts(state=state, phase=lifecycle.phase(state))
            continue
        if facts is None:
            raise BadData(f"permit {e.permit_id}: events before its creation")
        if e.kind == "move":
            new_state = data["to"]
            effect, phase = recorded_effect(lifecycle, e, data, f"permit {e.permit_id}")
            facts = apply_move(
                facts, cal=cal, effect=effect, state=new_state, phase=phase, on=e.on,
                days=data.get("days"), promised_days=data.get("promised_days"),
            )
        light_on = max(light_on, e.on) if light_on else e.on
    if facts is None:
        raise BadData("permit has no creation event")
    return facts, light_on


def view(
    row: Any, policy: Policy, cal: Calendar, today: date, past: Facts | None = None
) -> dict[str, Any]:
    """Return a permit as the CLI shows it: identity, state, and its clock as of `today`.

    `past` holds the facts folded from the events up to `today` when `today` lies before the
    permit's last move (a replay of a past day).
    """
    ptype = policy.permit_types.get(row.type)
    reading: ClockReading | None = None
    clock = past.clock(cal) if past is not None else row_clock(row)
    if ptype is not None:
        reading = read_clock(clock, cal, ptype.warning, today)
    if past is not None:
        row = _Replayed(row, past)
    state = policy.lifecycle.states.get(row.state)
    out = {
        "ref": f"{row.project_code}/{row.type}",
        "project": row.project_code,
        "project_name": row.project_name,
        "district": row.district,
        "type": row.type,
        "type_name": ptype.zh if ptype else row.type,
        "department": row.department,
        "level": row.level,
        "state": row.state,
        "state_name": state.zh if state else row.state,
        "phase": row.phase,
        "responsible": row.responsible,
        "version": row.version,
        "closed_on": row.closed_on.isoformat() if row.closed_on else None,
        "suspended_since": row.suspended_since.isoformat() if row.suspended_since else None,
        "as_of": today.isoformat(),
    }
    if reading is not None:
        out.update(reading.as_dict())
    return out


def add(
    app: App,
    project_code: str,
    type_code: str,
    *,
    level: str | None = None,
    promised_days: int | None = None,
    responsible: str | None = None,
) -> dict:
    """Add a permit of `type_code` to a project; return its view. The reference is CODE/TYPE."""
    policy = app.policy
    ptype = policy.permit_type(type_code)
    level = level or policy.settings.default_level
    if level not in LEVELS:
        raise BadData(f"unknown level {level!r} (levels: {', '.join(LEVELS)})")
    if level not in ptype.promised_days and promised_days is None:
        raise BadData(
            f"permit type {type_code} has no promised limit at level {level} "
            f"(levels: {', '.join(ptype.promised_days)}); pass --promised-days"
        )
    if promised_days is not None and not 1 <= promised_days <= MAX_DAYS:
        raise BadData(f"--promised-days must be a positive integer up to {MAX_DAYS}")
    check_text(responsible, 100, "--responsible")
    today = app.today()
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        ref = f"{project_code}/{type_code}"
        actors.require(actor, ADD_PERMIT, f"add permit {ref}", ptype.department)
        pid = conn.execute(
            sa.select(project_t.c.id).where(project_t.c.code == project_code)
        ).scalar_one_or_none()
        if pid is None:
            raise NotFound(f"unknown project {project_code!r}")
        if conn.execute(
            sa.select(permit_t.c.id).where(
                permit_t.c.project_id == pid, permit_t.c.type == type_code
            )
        ).first():
            raise BadData(f"permit {ref} already exists")
        initial = policy.lifecycle.initial
        permit_id = conn.execute(
            permit_t.insert().values(
                project_id=pid, type=type_code, department=ptype.department, level=level,
                responsible=responsible, state=initial, phase=Phase.PENDING.value,
                promised_override=promised_days, extension_days=0, paused_days=0,
                light=Light.NONE.value, version=0, head_hash="", created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        event = make_event(
            permit_id=permit_id, seq=1, prev_hash="", kind="create", event="create", on=today,
            actor=actor.name, data={"type": type_code, "level": level, "state": initial,
                                    "promised_override": promised_days,
                                    "responsible": responsible},
        )
        write_permit(conn, permit_id, 0, {}, event)
        row = load(conn, ref)
    return view(row, policy, app.calendar, today)


def unmet_prerequisites(conn: Connection, row: Any, ptype: PermitType, policy: Policy) -> list[str]:
    """Prerequisite permits of the same project that are required but not yet granted."""
    if not ptype.prerequisites:
        return []
    others = conn.execute(
        sa.select(permit_t.c.type, permit_t.c.state).where(
            permit_t.c.project_id == row.project_id, permit_t.c.type.in_(ptype.prerequisites)
        )
    ).all()
    return unmet_among(others, policy)


def unmet_among(prerequisites: Iterable[tuple[str, str]], policy: Policy) -> list[str]:
    """Of prerequisite permits given as (type, state), those neither granted nor void."""
    states = policy.lifecycle.states
    unmet = []
    for type_, state in prerequisites:
        spec = states.get(state)
        if spec is None or spec.phase == Phase.VOID or spec.granted:
            continue
        unmet.append(f"{type_} ({state})")
    return sorted(unmet)


def advance(
    app: App,
    ref: str,
    event: str,
    *,
    on: date | None = None,
    reason: str | None = None,
    days: int | None = None,
    expect_version: int | None = None,
) -> dict:
    """Fire `event` on permit `ref` as of day `on` (default today); return the new view.

    `on` may not lie in the future nor before the permit's previous move. With
    `expect_version`, the move is refused as a conflict if the permit moved since it was read.
    Without it, a permit that moved between this move's own read and write (a sweep, another
    writer: PostgreSQL reads do not lock) is read again and the move decided again.
    """
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return _advance_once(app, ref, event, on=on, reason=reason, days=days,
                                 expect_version=expect_version)
        except Conflict:
            if expect_version is not None or attempt == CONFLICT_RETRIES:
                raise
    raise AssertionError("unreachable")


def _advance_once(
    app: App,
    ref: str,
    event: str,
    *,
    on: date | None = None,
    reason: str | None = None,
    days: int | None = None,
    expect_version: int | None = None,
) -> dict:
    """One attempt of `advance` in one transaction."""
    policy, cal = app.policy, app.calendar
    today = app.today()
    on = on or today
    if on > today:
        raise BadData(f"--on {on} is in the future (today is {today})")
    check_in_calendar(on, "--on")
    lifecycle = policy.lifecycle
    if event not in lifecycle.events:
        raise BadData(f"unknown event {event!r} (events: {', '.join(lifecycle.events)})")
    spec = lifecycle.events[event]
    if days is not None and not spec.days:
        raise BadData(f"{event} takes no --days")
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        row = load(conn, ref)
        ref = f"{row.project_code}/{row.type}"
        if expect_version is not None and row.version != expect_version:
            raise Conflict(
                f"{ref} is at version {row.version}, not {expect_version}: "
                "someone moved it first; look again and retry"
            )
        ptype = policy.permit_type(row.type)
        if row.last_move_on is not None and on < row.last_move_on:
            raise BadData(f"--on {on} is before {ref}'s previous move on {row.last_move_on}")
        request = MoveRequest(
            ref=ref, department=row.department, actor=actor, reason=reason, days=days,
            unmet_prerequisites=tuple(unmet_prerequisites(conn, row, ptype, policy))
            if spec.prerequisites else (),
            extension_days=row.extension_days, max_extension_days=ptype.max_extension_days,
        )
        new_state = lifecycle.move(row.state, event, request)
        promised = None
        if spec.clock == ClockEffect.START:
            promised = row.promised_override or ptype.promised_days.get(row.level)
            if promised is None:
                raise BadData(f"{ref}: no promised limit at level {row.level}")
        facts, _ = fold(read_events(conn, row.id), policy, cal)
        facts = apply_move(
            facts, cal=cal, effect=spec.clock, state=new_state,
            phase=lifecycle.phase(new_state), on=on, days=days, promised_days=promised,
        )
        light_on = max(on, row.light_on) if row.light_on else on
        values = cached_fields(facts, ptype, cal, light_on)
        data = move_data(row.state, new_state, spec.clock, facts.phase, days=days,
                         promised_days=promised)
        ev = make_event(
            permit_id=row.id, seq=row.version + 1, prev_hash=row.head_hash, kind="move",
            event=event, on=on, actor=actor.name, reason=reason, data=data,
        )
        write_permit(conn, row.id, row.version, values, ev, ref)
        new_row = load(conn, ref)
    return view(new_row, policy, cal, today)


class _Replayed:
    """A permit row seen as of a past day: state and dates from the events up to that day."""

    def __init__(self, row: Any, facts: Facts):
        self._row, self._facts = row, facts

    def __getattr__(self, name: str) -> Any:
        if name in ("state", "closed_on", "suspended_since"):
            return getattr(self._facts, name)
        if name == "phase":
            return self._facts.phase.value
        return getattr(self._row, name)


def events_up_to(
    conn: Connection, log: sa.Table, subject: str, rows: list[Any], today: date
) -> dict[int, list[Any]]:
    """The events up to `today` of the rows (permits or problems) last moved after `today`."""
    later = [r.id for r in rows if r.last_move_on is not None and r.last_move_on > today]
    out: dict[int, list[Any]] = {}
    if not later:
        return out
    for e in conn.execute(
        sa.select(log).where(log.c[subject].in_(later)).order_by(log.c[subject], log.c.seq)
    ):
        if e.kind == "create" or e.on <= today:
            out.setdefault(getattr(e, subject), []).append(e)
    return out


def replay(conn: Connection, app: App, rows: list[Any], today: date) -> dict[int, Facts]:
    """Facts as of `today` for the rows whose last move lies after `today`."""
    found = events_up_to(conn, event_t, "permit_id", rows, today)
    return {pid: fold(evs, app.policy, app.calendar)[0] for pid, evs in found.items()}


def ensure_calendar_current(app: App, conn: Connection) -> None:
    """Refuse to read clocks cached under another calendar than the one in force."""
    from workflow.store.calendar_table import is_current

    if not is_current(conn, app.calendar):
        raise BadData(
            "the calendar changed since the permits were last computed: "
            "run `workflow sweep` (or `workflow rebuild`) to apply it"
        )


def show(app: App, ref: str) -> dict:
    today = app.today()
    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        row = load(conn, ref)
        past = replay(conn, app, [row], today)
    return view(row, app.policy, app.calendar, today, past.get(row.id))


def history(app: App, ref: str) -> list[dict]:
    """Every event of a permit, oldest first: who, what, effective date, when recorded, why."""
    with app.db.connect() as conn:
        row = load(conn, ref)
        events = read_events(conn, row.id)
    return event_rows(events)


def list_(
    app: App,
    *,
    state: str | None = None,
    department: str | None = None,
    district: str | None = None,
    project: str | None = None,
    type_: str | None = None,
    light: str | None = None,
) -> list[dict]:
    """Permits matching every filter given, with their clocks as of today."""
    policy, cal, today = app.policy, app.calendar, app.today()
    if state is not None and state not in policy.lifecycle.states:
        raise BadData(f"unknown state {state!r} (states: {', '.join(policy.lifecycle.states)})")
    if department is not None and department not in policy.departments:
        raise BadData(f"unknown department {department!r}")
    if light is not None and light not in {x.value for x in Light}:
        raise BadData(f"unknown light {light!r} (lights: none, green, yellow, red)")
    query = _select_permits()
    if state:
        query = query.where(permit_t.c.state == state)
    if department:
        query = query.where(permit_t.c.department == department)
    if district:
        query = query.where(project_t.c.district == district)
    if project:
        query = query.where(project_t.c.code == project)
    if type_:
        query = query.where(permit_t.c.type == type_)
    if light:
        from workflow.store.queries import live_light

        query = query.where(live_light(day_number(today)) == light)
    query = query.order_by(project_t.c.code, permit_t.c.id)
    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        rows = conn.execute(query).all()
        past = replay(conn, app, rows, today)
    return [view(r, policy, cal, today, past.get(r.id)) for r in rows]


def rebuild_values(events: list[Any], ptype: PermitType, policy: Policy, cal: Calendar) -> dict:
    """Recompute a permit's cached columns from its events alone."""
    facts, light_on = fold(events, policy, cal)
    values = cached_fields(facts, ptype, cal, light_on)
    values["version"] = events[-1].seq
    values["head_hash"] = events[-1].hash
    return values
