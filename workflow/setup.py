"""`workflow init`: create or upgrade the schema, materialise the calendar, add the admin."""

from __future__ import annotations

import sqlalchemy as sa

from workflow.actors import ADMIN, actor_t
from workflow.app import App
from workflow.store import schema
from workflow.store.calendar_table import calendar_digest, get_meta, materialise, set_meta
from workflow.store.models import utcnow


def init(app: App) -> dict:
    """Create or upgrade the schema; idempotent. Returns what it did."""
    app.db.create_if_missing = True
    before, after = schema.upgrade(app.db)
    with app.db.connect(write=True) as conn:
        stored = get_meta(conn, "calendar_digest")
        if stored is not None and stored != calendar_digest(app.calendar):
            # the policy's calendar changed under a ledger in use (a corrected or added year
            # after an upgrade): recompute its clocks as `calendar load` does, not only the table
            from workflow.rebuild import apply_calendar

            apply_calendar(app, conn)
            calendar_written = True
        else:
            calendar_written = materialise(conn, app.calendar)
        set_meta(conn, "policy_digest", app.policy.digest)
        admin_added = False
        if not conn.execute(sa.select(actor_t.c.id).where(actor_t.c.name == ADMIN)).first():
            conn.execute(actor_t.insert().values(name=ADMIN, role="admin", created_at=utcnow()))
            admin_added = True
    return {
        "database": app.db.describe(),
        "schema_before": before,
        "schema": after,
        "calendar_written": calendar_written,
        "admin_added": admin_added,
    }
