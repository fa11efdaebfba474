"""Problems (问题清单): what blocks a project and is not a permit, tracked until struck off.

A problem runs on the permit clock (`domain.clock.read_clock`, `domain.projection.apply_move`)
with its own lifecycle from `policies/problems.yaml`: the clock starts the day it is raised (that
day does not count), stops when it is resolved, and a supervisor strikes it off (销号). Every
move is an event in `problem_event`, hash-chained per problem like `permit_event`; the problem
row is a cache that `rebuild_values` recomputes from the log.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.calendar import Calendar, day_number
from workflow.domain.clock import OPEN_PHASES, ClockFacts, Light, Phase, read_clock
from workflow.domain.lifecycle import ClockEffect, MoveRequest
from workflow.domain.projection import Facts, apply_move, move_data
from workflow.errors import BadData, Conflict, NotFound
from workflow.permits import (
    _Replayed,
    cached_fields,
    ensure_calendar_current,
    event_rows,
    events_up_to,
    recorded_effect,
)
from workflow.policy import Policy, ProblemPolicy
from workflow.store.events import make_event, write_item
from workflow.store.models import Problem, ProblemEvent, Project, utcnow

problem_t = Problem.__table__
problem_event_t = ProblemEvent.__table__
project_t = Project.__table__
SUBJECT = "problem_id"
OPEN = sorted(p.value for p in OPEN_PHASES)


def parse_id(ref: str | int) -> int:
    """Accept `17`, `#17` or `Q17` (as problems are printed) and return the id."""
    text = str(ref).strip().lstrip("#").removeprefix("Q").removeprefix("q")
    # decimal digits only ("²" is a digit int() refuses), and within a 64-bit column (SQLite
    # raises OverflowError on a larger one instead of finding nothing)
    if not (text.isascii() and text.isdecimal()):
        raise BadData(f"bad problem id {ref!r}: expected a number such as 17")
    if int(text) >= 2**63:
        raise NotFound(f"unknown problem {text}")
    return int(text)


def _select():
    return sa.select(
        problem_t,
        project_t.c.code.label("project_code"),
        project_t.c.name.label("project_name"),
        project_t.c.district,
    ).join(project_t, project_t.c.id == problem_t.c.project_id)


def load(conn: Connection, ref: str | int) -> sa.Row:
    pid = parse_id(ref)
    row = conn.execute(_select().where(problem_t.c.id == pid)).first()
    if row is None:
        raise NotFound(f"unknown problem {pid}")
    return row


def row_clock(row: Any) -> ClockFacts:
    """The clock facts a cached problem row holds (as `permits.row_clock`; the clock starts on
    `raised_on`)."""
    return ClockFacts(
        phase=Phase(row.phase), accepted_on=row.raised_on, promised_days=row.promised_days,
        extension_days=row.extension_days, paused_days=row.paused_days,
        suspended_since=row.suspended_since, closed_on=row.closed_on, due_base=row.due_on,
    )


def read_log(conn: Connection, problem_id: int) -> list[sa.Row]:
    return list(conn.execute(
        sa.select(problem_event_t).where(problem_event_t.c.problem_id == problem_id)
        .order_by(problem_event_t.c.seq)
    ))


def fold(events: list[Any], policy: Policy, cal: Calendar) -> tuple[Facts, date | None]:
    """Fold a problem's events, oldest first, into its facts and the day its light is read as
    of (as `permits.fold`; the creation event starts the clock on the day it was raised)."""
    lifecycle = policy.problems.lifecycle
    facts: Facts | None = None
    light_on: date | None = None
    for e in events:
        data = json.loads(e.data)
        if e.kind == "create":
            state = data.get("state", lifecycle.initial)
            facts = apply_move(
                Facts(state=state, phase=Phase.PENDING), cal=cal, effect=ClockEffect.START,
                state=state, phase=lifecycle.phase(state), on=e.on,
                promised_days=data["promised_days"],
            )
        elif facts is None:
            raise BadData(f"problem {e.problem_id}: events before its creation")
        elif e.kind == "move":
            new_state = data["to"]
            effect, phase = recorded_effect(lifecycle, e, data, f"problem {e.problem_id}")
            facts = apply_move(
                facts, cal=cal, effect=effect, state=new_state, phase=phase, on=e.on,
                days=data.get("days"),
            )
        light_on = max(light_on, e.on) if light_on else e.on
    if facts is None:
        raise BadData("problem has no creation event")
    return facts, light_on


def _cached(facts: Facts, rules: ProblemPolicy, cal: Calendar, light_on: date | None) -> dict:
    """The problem row's cached columns: the permit's, with `raised_on` for `accepted_on`."""
    values = cached_fields(facts, rules, cal, light_on)
    values["raised_on"] = values.pop("accepted_on")
    return values


def view(
    row: Any, policy: Policy, cal: Calendar, today: date, lang: str = "zh",
    past: Facts | None = None,
) -> dict:
    """A problem as the CLI shows it: identity, state, and its clock as of `today`.

    `past` holds the facts folded from the events up to `today` when `today` lies before the
    problem's last move (a replay of a past day, as for permits).
    """
    rules = policy.problems
    reading = read_clock(past.clock(cal) if past is not None else row_clock(row), cal,
                         rules.warning, today)
    if past is not None:
        row = _Replayed(row, past)
    state = rules.lifecycle.states.get(row.state)
    dept = policy.departments.get(row.department)
    clock = reading.as_dict()
    clock["raised_on"] = clock.pop("accepted_on")
    return {
        "id": row.id,
        "ref": f"Q{row.id}",
        "project": row.project_code,
        "project_name": row.project_name,
        "district": row.district,
        "category": row.category,
        "category_name": rules.category_name(row.category, lang),
        "department": row.department,
        "department_name": (dept.zh if lang == "zh" else dept.en) if dept else row.department,
        "responsible": row.responsible,
        "text": row.description,
        "state": row.state,
        "state_name": (state.zh if lang == "zh" else state.en) if state else row.state,
        "phase": row.phase,
        "solved": bool(state and state.granted),
        "promised_by": row.promised_by.isoformat() if row.promised_by else None,
        "closed_on": row.closed_on.isoformat() if row.closed_on else None,
        "suspended_since": row.suspended_since.isoformat() if row.suspended_since else None,
        "version": row.version,
        "as_of": today.isoformat(),
        **clock,
    }


def promised_limit(cal: Calendar, raised_on: date, days: int | None, by: date | None) -> int:
    """Return the promised limit in working days from `--days N` or `--by DATE`.

    A promised date is converted with the calendar so that the due date is `by` when `by` is a
    working day; a `by` on a weekend or holiday is read as the last working day before it (a
    promise "by Sunday" is due on Friday). It must leave at least one working day after the day
    the problem is raised, which itself does not count.
    """
    if (days is None) == (by is None):
        raise BadData("give exactly one of --days N (working days) or --by DATE")
    if days is not None:
        if days < 1:
            raise BadData("--days must be a positive number of working days")
        return days
    assert by is not None
    limit = cal.ordinal(by) - cal.ordinal(raised_on)
    if limit < 1:
        raise BadData(
            f"--by {by} leaves no working day after {raised_on} (the day raised does not count)"
        )
    return limit


def add(
    app: App,
    project_code: str,
    *,
    category: str,
    owner: str,
    text: str,
    days: int | None = None,
    by: date | None = None,
    responsible: str | None = None,
    on: date | None = None,
) -> dict:
    """Raise a problem on a project, owned by department `owner`; return its view.

    `on` (default today) is the day it was raised, when its clock starts; it may not lie in the
    future. The promised limit is `days` working days, or the working days until `by`.
    """
    policy, cal = app.policy, app.calendar
    rules = policy.problems
    today = app.today()
    on = on or today
    if on > today:
        raise BadData(f"--on {on} is in the future (today is {today})")
    if category not in rules.categories:
        raise BadData(f"unknown category {category!r} (categories: {', '.join(rules.categories)})")
    if owner not in policy.departments:
        raise NotFound(f"unknown department {owner!r} (known: {', '.join(policy.departments)})")
    text = (text or "").strip()
    if not text:
        raise BadData("--text must describe the problem")
    responsible = (responsible or "").strip() or None
    limit = promised_limit(cal, on, days, by)
    lifecycle = rules.lifecycle
    initial = lifecycle.initial
    facts = apply_move(
        Facts(state=initial, phase=Phase.PENDING), cal=cal, effect=ClockEffect.START,
        state=initial, phase=lifecycle.phase(initial), on=on, promised_days=limit,
    )
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        actors.require(actor, rules.add_roles, f"raise a problem for {owner}", owner)
        pid = conn.execute(
            sa.select(project_t.c.id).where(project_t.c.code == project_code)
        ).scalar_one_or_none()
        if pid is None:
            raise NotFound(f"unknown project {project_code!r}")
        problem_id = conn.execute(
            problem_t.insert().values(
                project_id=pid, category=category, department=owner, responsible=responsible,
                description=text, promised_by=by, **_cached(facts, rules, cal, on),
                version=0, head_hash="", created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        event = make_event(
            permit_id=problem_id, seq=1, prev_hash="", kind="create", event="raise", on=on,
            actor=actor.name, subject_column=SUBJECT,
            data={"project": project_code, "category": category, "department": owner,
                  "state": initial, "promised_days": limit,
                  "promised_by": by.isoformat() if by else None, "responsible": responsible,
                  "text": text},
        )
        write_item(conn, problem_t, problem_event_t, problem_id, 0, {}, event,
                   f"problem {problem_id}")
        row = load(conn, problem_id)
    return view(row, policy, cal, today)


def advance(
    app: App,
    ref: str | int,
    event: str,
    *,
    on: date | None = None,
    reason: str | None = None,
    days: int | None = None,
    expect_version: int | None = None,
) -> dict:
    """Fire `event` on a problem as of day `on` (default today); return the new view.

    The same rules as a permit move: `on` neither in the future nor before the previous move,
    roles from policy (a department only on problems it owns), a conflict when `expect_version`
    is stale. Refusals write nothing.
    """
    policy, cal = app.policy, app.calendar
    rules = policy.problems
    lifecycle = rules.lifecycle
    today = app.today()
    on = on or today
    if on > today:
        raise BadData(f"--on {on} is in the future (today is {today})")
    if event not in lifecycle.events:
        raise BadData(f"unknown event {event!r} (events: {', '.join(lifecycle.events)})")
    spec = lifecycle.events[event]
    if days is not None and not spec.days:
        raise BadData(f"{event} takes no --days")
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        row = load(conn, ref)
        name = f"problem Q{row.id}"
        if expect_version is not None and row.version != expect_version:
            raise Conflict(
                f"{name} is at version {row.version}, not {expect_version}: "
                "someone moved it first; look again and retry"
            )
        if row.last_move_on is not None and on < row.last_move_on:
            raise BadData(f"--on {on} is before {name}'s previous move on {row.last_move_on}")
        request = MoveRequest(
            ref=name, department=row.department, actor=actor, reason=reason, days=days,
            extension_days=row.extension_days, max_extension_days=rules.max_extension_days,
        )
        new_state = lifecycle.move(row.state, event, request)
        facts, _ = fold(read_log(conn, row.id), policy, cal)
        facts = apply_move(
            facts, cal=cal, effect=spec.clock, state=new_state,
            phase=lifecycle.phase(new_state), on=on, days=days,
        )
        light_on = max(on, row.light_on) if row.light_on else on
        values = _cached(facts, rules, cal, light_on)
        data = move_data(row.state, new_state, spec.clock, lifecycle.phase(new_state),
                         days=days)
        ev = make_event(
            permit_id=row.id, seq=row.version + 1, prev_hash=row.head_hash, kind="move",
            event=event, on=on, actor=actor.name, reason=(reason or "").strip() or None,
            data=data, subject_column=SUBJECT,
        )
        write_item(conn, problem_t, problem_event_t, row.id, row.version, values, ev, name)
        new_row = load(conn, row.id)
    return view(new_row, policy, cal, today)


def replay(conn: Connection, app: App, rows: list[Any], today: date) -> dict[int, Facts]:
    """Facts as of `today` for the rows whose last move lies after `today`."""
    found = events_up_to(conn, problem_event_t, "problem_id", rows, today)
    return {pid: fold(evs, app.policy, app.calendar)[0] for pid, evs in found.items()}


def show(app: App, ref: str | int) -> dict:
    today = app.today()
    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        row = load(conn, ref)
        past = replay(conn, app, [row], today)
    return view(row, app.policy, app.calendar, today, past=past.get(row.id))


def history(app: App, ref: str | int) -> list[dict]:
    """Every event of a problem, oldest first: who, what, effective date, when recorded, why."""
    with app.db.connect() as conn:
        row = load(conn, ref)
        events = read_log(conn, row.id)
    return event_rows(events)


def list_(
    app: App,
    *,
    light: str | None = None,
    owner: str | None = None,
    project: str | None = None,
    state: str | None = None,
    category: str | None = None,
) -> list[dict]:
    """Problems matching every filter given, with their clocks as of today.

    `light` is the live light as of today (the same SQL as `permit list --light`).
    """
    policy, cal, today = app.policy, app.calendar, app.today()
    rules = policy.problems
    if state is not None and state not in rules.lifecycle.states:
        raise BadData(f"unknown state {state!r} (states: {', '.join(rules.lifecycle.states)})")
    if owner is not None and owner not in policy.departments:
        raise BadData(f"unknown department {owner!r}")
    if category is not None and category not in rules.categories:
        raise BadData(f"unknown category {category!r}")
    if light is not None and light not in {x.value for x in Light}:
        raise BadData(f"unknown light {light!r} (lights: none, green, yellow, red)")
    query = _select()
    if state:
        query = query.where(problem_t.c.state == state)
    if owner:
        query = query.where(problem_t.c.department == owner)
    if project:
        query = query.where(project_t.c.code == project)
    if category:
        query = query.where(problem_t.c.category == category)
    if light:
        from workflow.store.queries import live_light

        query = query.where(live_light(day_number(today), problem_t) == light)
    query = query.order_by(project_t.c.code, problem_t.c.id)
    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        rows = conn.execute(query).all()
        past = replay(conn, app, rows, today)
    return [view(r, policy, cal, today, past=past.get(r.id)) for r in rows]


def open_by_project(app: App, lang: str | None = None) -> dict[str, list[dict]]:
    """Each project's open problems (open, coordinating, suspended), worst light first, keyed by
    project code: what the wall chart shows beside a project's permits."""
    policy, cal, today = app.policy, app.calendar, app.today()
    lang = lang or policy.settings.language
    with app.db.connect() as conn:
        rows = conn.execute(
            _select().where(problem_t.c.phase.in_(OPEN))
            .order_by(project_t.c.code, problem_t.c.id)
        ).all()
    out: dict[str, list[dict]] = {}
    rank = {"red": 0, "yellow": 1, "green": 2, "none": 3}
    for r in rows:
        out.setdefault(r.project_code, []).append(view(r, policy, cal, today, lang))
    for items in out.values():
        items.sort(key=lambda v: (rank.get(v["light"], 9), v["remaining_days"] or 0, v["id"]))
    return out


# -- rebuild from the log -------------------------------------------------------------------------

def rebuild_values(events: list[Any], policy: Policy, cal: Calendar) -> dict:
    """Recompute a problem's cached columns from its events alone."""
    facts, light_on = fold(events, policy, cal)
    values = _cached(facts, policy.problems, cal, light_on)
    values["version"] = events[-1].seq
    values["head_hash"] = events[-1].hash
    return values


COMPARED = (
    "state", "phase", "promised_days", "extension_days", "paused_days", "raised_on",
    "suspended_since", "closed_on", "last_move_on", "due_on", "warn_at", "light", "light_on",
    "version", "head_hash",
)


def rebuild_where(
    app: App, conn: Connection, where, check_only: bool = False, keep_open_lights: bool = False
) -> dict[str, int]:
    """Recompute problem rows matching `where` from their events; count those that differed.

    As `rebuild._rebuild_where`: with `keep_open_lights`, open problems keep the light last
    logged (the next sweep logs the change); a row that moved meanwhile is a conflict.
    """
    from itertools import groupby

    policy, cal = app.policy, app.calendar
    rows = {r.id: r for r in conn.execute(sa.select(problem_t).where(where))}
    events = conn.execute(
        sa.select(problem_event_t).where(problem_event_t.c.problem_id.in_(list(rows)))
        .order_by(problem_event_t.c.problem_id, problem_event_t.c.seq)
    ) if rows else []
    fixed = 0
    for problem_id, group in groupby(events, key=lambda e: e.problem_id):
        row = rows[problem_id]
        values = rebuild_values(list(group), policy, cal)
        if keep_open_lights and row.phase in OPEN:
            values["light"], values["light_on"] = row.light, row.light_on
        if any(getattr(row, k) != values[k] for k in COMPARED):
            fixed += 1
            if not check_only:
                done = conn.execute(
                    problem_t.update()
                    .where(problem_t.c.id == problem_id, problem_t.c.version == row.version)
                    .values(**values)
                ).rowcount
                if done != 1:
                    raise Conflict(f"problem {problem_id} moved during the rebuild; run it again")
    return {"checked": len(rows), "differing" if check_only else "rebuilt": fixed}
