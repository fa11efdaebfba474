"""The daily sweep: recompute every open permit's and problem's light as of a day, set-based,
and log changes.

One statement per clocked table (`queries.TRACKED`) reads its open rows joined to the
materialised calendar and returns only the rows whose light changed; Python then writes one
light event per change (bulk) and the new lights. Running it again for the same day changes
nothing; running it after a gap gives the same lights as running it every day, because a light
is a function of the day, not of the last run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.errors import BadData
from workflow.store.calendar_table import is_current
from workflow.store.events import make_event
from workflow.store.models import SweepRun, utcnow
from workflow.store.queries import OPEN, PERMITS, PROBLEMS, TRACKED, Clocked, cal_t, open_lights

SWEEP_ACTOR = "sweep"
# A person who runs the sweep must be a known actor who may write (not a viewer): its events
# carry that name. The sweep's writes follow from the day and the log alone, so any writing role
# may trigger it. Without --as it runs as the scheduler ("sweep").
SWEEP_ROLES = frozenset({actors.Role.ADMIN, actors.Role.SUPERVISOR, actors.Role.DEPARTMENT})
sweep_t = SweepRun.__table__

# Hooks run inside the sweep's transaction with (app, conn, day, changes), on every sweep that
# writes (also when no light changed: a supervision time limit passes without any light change).
# Notices use this so that a light change and the notice it calls for commit together or not at
# all; `workflow.notices` registers its hook, and `sweep()` imports it so every caller gets it.
AFTER_CHANGES: list[Callable[[App, Connection, date, list[dict[str, Any]]], dict]] = []


def lock_for_sweep(app: App, conn: Connection) -> None:
    """Keep moves out while the sweep writes (SQLite: BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE permit, problem IN SHARE ROW EXCLUSIVE MODE")


def sweep(
    app: App, *, day: date | None = None, dry_run: bool = False, actor: str | None = None,
    once: bool = False,
) -> dict[str, Any]:
    """Recompute lights as of `day` (default today); return counts by light and the changes.

    With `once`, a day that already has a sweep row is left alone (`skipped` in the result):
    the check runs under the sweep's lock, so of several schedulers exactly one sweeps a day.
    """
    import workflow.notices  # noqa: F401  (registers the notice hook)

    day = day or app.today()
    person = None if actor else app.settings.actor
    actor = actor or app.settings.actor or SWEEP_ACTOR
    with app.db.connect(write=not dry_run) as conn:
        if person and not dry_run:
            actors.require(actors.lookup(conn, person), SWEEP_ROLES, "run the sweep")
        if not is_current(conn, app.calendar):
            from workflow.rebuild import apply_calendar

            if dry_run:
                raise BadData("the calendar changed since the last sweep: run without --dry-run")
            apply_calendar(app, conn)
        if not dry_run:
            lock_for_sweep(app, conn)
            if once and conn.execute(
                sa.select(sweep_t.c.id).where(sweep_t.c.day == day)
            ).first():
                return {"day": day.isoformat(), "dry_run": False, "skipped": True}
        ordinal = conn.execute(
            sa.select(cal_t.c.ordinal).where(cal_t.c.day == day_number(day))
        ).scalar_one_or_none()
        if ordinal is None:
            raise BadData(f"{day} is outside the calendar table: run `workflow init`")
        # one pass per clocked table (permits, problems) with the same light SQL
        parts: dict[str, dict[str, Any]] = {}
        changes: dict[str, list[dict[str, Any]]] = {}
        for item in TRACKED:
            query, inner, new_light = open_lights(ordinal, item.table)
            rows = [
                {**r._asdict(), "kind": item.kind}
                for r in conn.execute(query.where(new_light != inner.c.light))
            ]
            transitions = Counter(f"{c['light']}->{c['new_light']}" for c in rows)
            changes[item.kind] = rows
            parts[item.kind] = {
                "changed": len(rows), "transitions": dict(sorted(transitions.items())),
            }
            if not dry_run and rows:
                _write_changes(conn, day, actor, rows, item)
        # permits keep their keys at the top level; problems report under "problems"
        summary: dict[str, Any] = {"day": day.isoformat(), "dry_run": dry_run,
                                   **parts[PERMITS.kind]}
        if not dry_run:
            changed = [c for item in TRACKED for c in changes[item.kind]]
            for hook in AFTER_CHANGES:
                summary.update(hook(app, conn, day, changed) or {})
        for item in TRACKED:
            part = summary if item is PERMITS else parts[item.kind]
            part["lights"] = _counts(conn, item, changes[item.kind] if dry_run else None)
            part["open"] = sum(part["lights"].values())
        summary["problems"] = parts[PROBLEMS.kind]
        if not dry_run:
            _record_run(conn, day, actor, summary)
    return summary


def _write_changes(
    conn: Connection, day: date, actor: str, changed: list[dict], item: Clocked = PERMITS
) -> None:
    recorded_at = utcnow()
    events = []
    updates = []
    for c in changed:
        ev = make_event(
            permit_id=c["id"], seq=c["version"] + 1, prev_hash=c["head_hash"], kind="light",
            event="light", on=day, actor=actor,
            data={"from": c["light"], "to": c["new_light"], "remaining_days": c["remaining"]},
            recorded_at=recorded_at, subject_column=item.subject,
        )
        events.append(ev)
        updates.append({
            "b_id": c["id"], "b_version": c["version"], "b_light": c["new_light"],
            "b_light_on": day_number(day), "b_new_version": ev["seq"], "b_hash": ev["hash"],
        })
    conn.execute(item.events.insert(), events)
    conn.execute(
        sa.text(
            f"UPDATE {item.table.name} SET light = :b_light, light_on = :b_light_on, "
            "version = :b_new_version, head_hash = :b_hash "
            "WHERE id = :b_id AND version = :b_version"
        ),
        updates,
    )


def _counts(
    conn: Connection, item: Clocked, pending_changes: list[dict] | None
) -> dict[str, int]:
    table = item.table
    rows = conn.execute(
        sa.select(table.c.light, sa.func.count())
        .where(table.c.phase.in_(OPEN))
        .group_by(table.c.light)
    ).all()
    counts = Counter({light: n for light, n in rows})
    for c in pending_changes or ():  # a dry run reports the lights it would set
        counts[c["light"]] -= 1
        counts[c["new_light"]] += 1
    return {k: counts.get(k, 0) for k in ("green", "yellow", "red")}


def _record_run(conn: Connection, day: date, actor: str, summary: dict) -> None:
    now = utcnow()
    text = json.dumps(summary, ensure_ascii=False)
    updated = conn.execute(
        sweep_t.update().where(sweep_t.c.day == day).values(
            finished_at=now, summary=text, actor=actor
        )
    ).rowcount
    if not updated:
        conn.execute(
            sweep_t.insert().values(
                day=day, started_at=now, finished_at=now, actor=actor, summary=text
            )
        )
