"""The materialised calendar table the sweep and reports join on."""

from __future__ import annotations

import hashlib
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.domain.calendar import Calendar, day_number
from workflow.store.models import CalendarDay, Meta

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2060, 12, 31)


def calendar_digest(cal: Calendar) -> str:
    h = hashlib.sha256(cal.name.encode())
    for year, sched in sorted(cal.years.items()):
        h.update(f"|{year}|".encode())
        h.update(",".join(sorted(d.isoformat() for d in sched.holidays)).encode())
        h.update(b"/")
        h.update(",".join(sorted(d.isoformat() for d in sched.workdays)).encode())
    return h.hexdigest()[:16]


def set_meta(conn: Connection, key: str, value: str) -> None:
    table = Meta.__table__
    updated = conn.execute(table.update().where(table.c.key == key).values(value=value)).rowcount
    if not updated:
        conn.execute(table.insert().values(key=key, value=value))


def get_meta(conn: Connection, key: str) -> str | None:
    table = Meta.__table__
    return conn.execute(sa.select(table.c.value).where(table.c.key == key)).scalar_one_or_none()


def is_current(conn: Connection, cal: Calendar) -> bool:
    return get_meta(conn, "calendar_digest") == calendar_digest(cal)


def materialise(conn: Connection, cal: Calendar) -> bool:
    """Write one row per day from 2000 to 2060 unless the table already holds `cal`."""
    digest = calendar_digest(cal)
    if get_meta(conn, "calendar_digest") == digest:
        return False
    table = CalendarDay.__table__
    conn.execute(table.delete())
    rows = [
        {"day": day_number(d), "is_workday": w, "ordinal": n, "covered": c}
        for d, w, n, c in cal.days(FIRST_DAY, LAST_DAY)
    ]
    conn.execute(table.insert(), rows)
    # working days to close changed with the calendar, and open lights keep the old one's
    # until the next sweep logs their change
    from workflow.store import tally

    tally.refill(conn)
    tally.forget_lights(conn)
    set_meta(conn, "calendar_digest", digest)
    set_meta(conn, "calendar_name", cal.name)
    return True
