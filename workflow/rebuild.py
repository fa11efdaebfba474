"""Rebuild permit rows from the event log alone (also how calendar corrections are applied)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App
from workflow.permits import load, rebuild_values
from workflow.store.calendar_table import materialise
from workflow.store.events import event_t, permit_t
from workflow.store.queries import OPEN

COMPARED = (
    "state", "phase", "promised_days", "extension_days", "paused_days", "accepted_on",
    "suspended_since", "closed_on", "last_move_on", "due_on", "warn_at", "light", "light_on",
    "version", "head_hash",
)
BATCH = 2000


def _rebuild_where(app: App, conn: Connection, where, check_only: bool = False) -> dict[str, Any]:
    policy, cal = app.policy, app.calendar
    ids = [r[0] for r in conn.execute(sa.select(permit_t.c.id).where(where).order_by(permit_t.c.id))]
    fixed: list[int] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = {r.id: r for r in conn.execute(sa.select(permit_t).where(permit_t.c.id.in_(chunk)))}
        events = conn.execute(
            sa.select(event_t).where(event_t.c.permit_id.in_(chunk))
            .order_by(event_t.c.permit_id, event_t.c.seq)
        )
        for permit_id, group in groupby(events, key=lambda e: e.permit_id):
            row = rows[permit_id]
            values = rebuild_values(list(group), policy.permit_type(row.type), policy, cal)
            if any(getattr(row, k) != values[k] for k in COMPARED):
                fixed.append(permit_id)
                if not check_only:
                    conn.execute(permit_t.update().where(permit_t.c.id == permit_id).values(**values))
    return {"checked": len(ids), "differing" if check_only else "rebuilt": len(fixed),
            "ids": fixed}


def rebuild(
    app: App, ref: str | None = None, *, check_only: bool = False, problems: bool = False
) -> dict[str, Any]:
    """Recompute permit rows (one, or all) from their events; return how many differed.

    With `problems` (and no `ref`), problem rows too, counted under `problems`.
    """
    with app.db.connect(write=not check_only) as conn:
        if not check_only:
            materialise(conn, app.calendar)
        where = sa.true()
        if ref:
            where = permit_t.c.id == load(conn, ref).id
        result = _rebuild_where(app, conn, where, check_only=check_only)
        if problems and not ref:  # problems run on the same clock, from their own log
            from workflow.problems import rebuild_where

            result["problems"] = rebuild_where(app, conn, sa.true(), check_only=check_only)
    result.pop("ids")
    return result


def apply_calendar(app: App, conn: Connection) -> dict[str, Any]:
    """Materialise the current calendar and recompute every open permit and problem from its
    events."""
    from workflow.problems import rebuild_open

    materialise(conn, app.calendar)
    result = _rebuild_where(app, conn, permit_t.c.phase.in_(OPEN))
    result.pop("ids")
    result["problems"] = rebuild_open(app, conn)
    return result
