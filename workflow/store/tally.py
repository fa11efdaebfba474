"""Kept counts for the completion report: permits per (type, department, district, phase, light).

Triggers (migration 0007) keep `permit_tally` by appending signed rows for every write to a
permit or a project's district, so no writer can forget it; one bucket row per change, never
a counter row updated in place (concurrent moves on PostgreSQL would queue on it, or deadlock
when two moves swap buckets). The sweep folds the rows under its lock (`compact`).

Closed permits count by their final light, open ones by their stored light, which holds as of
the day in `meta` key `lights_as_of`: the sweep sets it, and the triggers delete it when a write
stores an open light as of an earlier day (a move dated back, a ledger import), as does a
calendar load. The report reads the counts only when that day is its own (docs/reports.md).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Connection

from workflow.domain.calendar import day_number

LIGHTS_AS_OF = "lights_as_of"
TALLY = "permit_tally"
COMPACT_CHECK = 20_000  # below this many rows, `compact` first checks there is work to do
BUCKET = ("type", "department", "district", "phase", "light")
COLUMNS = f"{', '.join(BUCKET)}, n, close_n, close_days"

# Every permit's bucket summed: the count the triggers of migration 0007 keep up to date (the
# migration writes its own copy of this SQL, so that later code never changes what it made).
COUNT_PERMITS = (
    "SELECT type, department, district, phase, light, count(*), count(d), coalesce(sum(d), 0) "
    "FROM (SELECT p.type, p.department, pr.district, p.phase, "
    "CASE WHEN p.phase IN ('running', 'paused', 'closed') THEN p.light ELSE 'none' END AS light, "
    # working days to close, as the report counts them (the clock's own count)
    "CASE WHEN p.phase = 'closed' THEN cls.ordinal - acc.ordinal - p.paused_days END AS d "
    "FROM permit p JOIN project pr ON pr.id = p.project_id "
    "LEFT JOIN calendar_day acc ON acc.day = p.accepted_on "
    "LEFT JOIN calendar_day cls ON cls.day = p.closed_on) AS b "
    f"GROUP BY {', '.join(BUCKET)}"
)


def refill(conn: Connection) -> None:
    """Count every permit afresh: after a calendar load (working days to close change with the
    calendar), a rebuild, and when the table is created."""
    insert = f"INSERT INTO {TALLY} ({COLUMNS}) {COUNT_PERMITS}"
    if conn.dialect.name == "postgresql":  # one statement, one snapshot (as `compact`)
        conn.exec_driver_sql(f"WITH gone AS (DELETE FROM {TALLY}) {insert}")
    else:
        conn.exec_driver_sql(f"DELETE FROM {TALLY}")
        conn.exec_driver_sql(insert)


def compact(conn: Connection) -> None:
    """Fold the rows appended so far into one per bucket (run under the sweep's lock)."""
    top, rows = conn.exec_driver_sql(f"SELECT max(id), count(*) FROM {TALLY}").one()
    if not rows:
        return
    if rows <= COMPACT_CHECK and rows == conn.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT 1 FROM {TALLY} GROUP BY {', '.join(BUCKET)}) AS g"
    ).scalar_one():
        return  # one row per bucket already: a re-run writes nothing
    summed = (f"SELECT type, department, district, phase, light, sum(n) AS n, "
              f"sum(close_n) AS close_n, sum(close_days) AS close_days FROM {{rows}} "
              f"GROUP BY {', '.join(BUCKET)} "
              "HAVING sum(n) <> 0 OR sum(close_n) <> 0 OR sum(close_days) <> 0")
    if conn.dialect.name == "postgresql":
        # one statement: the rows deleted are exactly the rows summed, whatever commits meanwhile
        conn.exec_driver_sql(
            f"WITH gone AS (DELETE FROM {TALLY} WHERE id <= %(top)s RETURNING *) "
            f"INSERT INTO {TALLY} ({COLUMNS}) " + summed.format(rows="gone"),
            {"top": top},
        )
    else:  # one writer at a time
        conn.exec_driver_sql(
            f"INSERT INTO {TALLY} ({COLUMNS}) "
            + summed.format(rows=f"(SELECT * FROM {TALLY} WHERE id <= ?) AS t"),
            (top,),
        )
        conn.exec_driver_sql(f"DELETE FROM {TALLY} WHERE id <= ?", (top,))


def mark_lights(conn: Connection, day: date) -> None:
    """Record that every open permit's stored light holds as of `day` (the sweep's last act)."""
    from workflow.store.calendar_table import set_meta

    set_meta(conn, LIGHTS_AS_OF, str(day_number(day)))


def forget_lights(conn: Connection) -> None:
    """Say that open lights may not hold as of any one day (until the next sweep)."""
    conn.exec_driver_sql(f"DELETE FROM meta WHERE key = '{LIGHTS_AS_OF}'")


def lights_as_of(conn: Connection) -> int | None:
    """The day number as of which every open permit's stored light holds, if one does."""
    from workflow.store.calendar_table import get_meta

    value = get_meta(conn, LIGHTS_AS_OF)
    return None if value is None else int(value)


def differences(conn: Connection) -> list[tuple]:
    """Buckets whose kept counts differ from a count of the permits (empty when all agree).

    Read both in one snapshot (`Database.connect(snapshot=True)`), or a move committing
    between the two reads shows as a difference on PostgreSQL.
    """
    kept = {tuple(r[:5]): tuple(int(v) for v in r[5:]) for r in conn.exec_driver_sql(
        f"SELECT {', '.join(BUCKET)}, sum(n), sum(close_n), sum(close_days) FROM {TALLY} "
        f"GROUP BY {', '.join(BUCKET)}") if any(r[5:])}
    live = {tuple(r[:5]): tuple(int(v) for v in r[5:])
            for r in conn.exec_driver_sql(COUNT_PERMITS)}
    return sorted(
        ((*k, kept.get(k), live.get(k)) for k in kept.keys() | live.keys()
         if kept.get(k) != live.get(k)),
        key=repr,
    )
