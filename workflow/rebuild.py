"""Rebuild permit rows from the event log alone (also how calendar corrections are applied)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.errors import Conflict
from workflow.permits import load, rebuild_values
from workflow.store.calendar_table import materialise
from workflow.store.events import event_t, permit_t
from workflow.store.queries import OPEN
from workflow.sweep import lock_for_sweep

COMPARED = (
    "state", "phase", "promised_days", "extension_days", "paused_days", "accepted_on",
    "suspended_since", "closed_on", "last_move_on", "due_on", "warn_at", "light", "light_on",
    "version", "head_hash",
)
BATCH = 2000
REBUILD_ROLES = frozenset({actors.Role.ADMIN})  # --check only reads: anyone


def _rebuild_where(
    app: App, conn: Connection, where, check_only: bool = False, keep_open_lights: bool = False
) -> dict[str, Any]:
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
            if keep_open_lights and row.phase in OPEN:
                # the sweep that follows logs the light change (and issues its notices)
                values["light"], values["light_on"] = row.light, row.light_on
            if any(getattr(row, k) != values[k] for k in COMPARED):
                fixed.append(permit_id)
                if not check_only:
                    done = conn.execute(
                        permit_t.update()
                        .where(permit_t.c.id == permit_id, permit_t.c.version == row.version)
                        .values(**values)
                    ).rowcount
                    if done != 1:
                        raise Conflict(f"permit {permit_id} moved during the rebuild; run it again")
    return {"checked": len(ids), "differing" if check_only else "rebuilt": len(fixed),
            "ids": fixed}


def rebuild(
    app: App, ref: str | None = None, *, check_only: bool = False, problems: bool = False
) -> dict[str, Any]:
    """Recompute permit rows (one, or all) from their events; return how many differed.

    With `problems` (and no `ref`), problem rows too, counted under `problems`.
    """
    # a check reads the kept counts and the rows they count in one snapshot
    with app.db.connect(write=not check_only, snapshot=check_only) as conn:
        if not check_only:
            me = actors.lookup(conn, app.settings.actor)
            actors.require(me, REBUILD_ROLES, "rebuild permit rows")
            lock_for_sweep(app, conn)
            materialise(conn, app.calendar)
        where = sa.true()
        if ref:
            where = permit_t.c.id == load(conn, ref).id
        result = _rebuild_where(app, conn, where, check_only=check_only)
        if problems and not ref:  # problems run on the same clock, from their own log
            from workflow.problems import rebuild_where

            result["problems"] = rebuild_where(app, conn, sa.true(), check_only=check_only)
        if not ref:
            # the report's kept counts, as the triggers keep them, against a count of the rows
            from workflow.store import tally

            if check_only:
                result["tally_differing"] = len(tally.differences(conn))
            else:
                tally.refill(conn)
        if not check_only:
            from workflow.notices import forget_watermark

            forget_watermark(conn)  # rows may have changed without events: notices look again
    result.pop("ids")
    return result


def apply_calendar(app: App, conn: Connection) -> dict[str, Any]:
    """Materialise the current calendar and recompute every accepted permit and every problem
    from its events.

    Closed items get their final light recomputed; open ones keep the light last logged, so the
    sweep that follows records each change as a light event and issues its notices.
    """
    from workflow.problems import rebuild_where as rebuild_problems

    lock_for_sweep(app, conn)
    materialise(conn, app.calendar)
    result = _rebuild_where(
        app, conn, permit_t.c.accepted_on.is_not(None), keep_open_lights=True
    )
    result.pop("ids")
    result["problems"] = rebuild_problems(app, conn, sa.true(), keep_open_lights=True)
    from workflow.notices import forget_watermark

    forget_watermark(conn)
    return result
