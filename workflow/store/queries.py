"""Set-based SQL over a clocked table (permits, problems) and the materialised calendar.

`remaining` of an open item as of day T, in one expression (see clock.py for the rules):
ordinal(start) + paused_days + promised_days + extension_days - ordinal(E), where start is the
day the clock started (a permit's `accepted_on`, a problem's `raised_on`), E is T for a running
item and, for one suspended since X, the later of X - 1 and the start (frozen while the pause
lasts). The light follows from `remaining` and the row's `warn_at`.

Every function takes the table it reads (default: permit); a clocked table has the columns
phase, the start day, paused/promised/extension days, suspended_since, warn_at, light, version,
head_hash, department and project_id, and its own event table. `TRACKED` lists them for the
sweep: one clock implementation for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from workflow.domain.clock import OPEN_PHASES
from workflow.store.models import CalendarDay, Permit, PermitEvent, Problem, ProblemEvent

permit_t = Permit.__table__
problem_t = Problem.__table__
cal_t = CalendarDay.__table__
OPEN = sorted(p.value for p in OPEN_PHASES)


@dataclass(frozen=True)
class Clocked:
    """A table whose rows run on the clock: its event log, the log's key column and the column
    that says what kind of item a row is (a permit's type, a problem's category)."""

    kind: str
    table: sa.Table
    events: sa.Table
    subject: str
    detail: str


PERMITS = Clocked("permit", permit_t, PermitEvent.__table__, "permit_id", "type")
PROBLEMS = Clocked("problem", problem_t, ProblemEvent.__table__, "problem_id", "category")
TRACKED = (PERMITS, PROBLEMS)


def light_case(remaining, warn_at):
    return sa.case(
        (remaining < 0, sa.literal("red")),
        (remaining <= warn_at, sa.literal("yellow")),
        else_=sa.literal("green"),
    )


def ordinal_of(day_number_expr):
    return sa.select(cal_t.c.ordinal).where(cal_t.c.day == day_number_expr).scalar_subquery()


def started_on(table=permit_t):
    """The day the clock started: a permit's acceptance, a problem's raising."""
    return table.c.accepted_on if "accepted_on" in table.c else table.c.raised_on


def pause_from(table=permit_t):
    """The day after which a current suspension pauses: max(suspended_since - 1, start)."""
    start = started_on(table)
    return sa.case(
        (table.c.suspended_since - 1 < start, start),
        else_=table.c.suspended_since - 1,
    )


def limit_of(table=permit_t):
    return table.c.paused_days + table.c.promised_days + table.c.extension_days


def remaining_of(table: sa.Table, today_ordinal):
    """`remaining` of each open row as of the day of ordinal `today_ordinal` (a value or an
    expression), through calendar lookups: for a few rows, not a scan."""
    return ordinal_of(started_on(table)) + limit_of(table) - sa.func.coalesce(
        ordinal_of(pause_from(table)), today_ordinal
    )


def live_light(today: int, table: sa.Table = permit_t):
    """The light of each row as of day number `today` (stored light for closed ones)."""
    remaining = remaining_of(table, ordinal_of(sa.literal(today)))
    return sa.case(
        (table.c.phase.in_(OPEN), light_case(remaining, table.c.warn_at)),
        else_=table.c.light,
    )


def open_lights(today_ordinal: int, table: sa.Table = permit_t):
    """SELECT id, version, light, head_hash, department, project_id, type (a problem:
    category), remaining, new_light of every open row of `table`."""
    detail = table.c.type if "type" in table.c else table.c.category
    acc = cal_t.alias("acc")
    susp = cal_t.alias("susp")
    remaining = (
        acc.c.ordinal + limit_of(table) - sa.func.coalesce(susp.c.ordinal, today_ordinal)
    ).label("remaining")
    inner = (
        sa.select(
            table.c.id, table.c.version, table.c.light, table.c.head_hash,
            table.c.department, table.c.project_id, detail, remaining, table.c.warn_at,
        )
        .select_from(
            table.join(acc, acc.c.day == started_on(table)).outerjoin(
                susp, susp.c.day == pause_from(table)
            )
        )
        .where(table.c.phase.in_(OPEN))
        .subquery("o")
    )
    new_light = light_case(inner.c.remaining, inner.c.warn_at).label("new_light")
    return sa.select(
        inner.c.id, inner.c.version, inner.c.light, inner.c.head_hash, inner.c.department,
        inner.c.project_id, inner.c[detail.name], inner.c.remaining, new_light,
    ), inner, new_light


def _light_of_open(today_ordinal: int, table: sa.Table):
    """(FROM clause, remaining, new light) of the open rows of `table` as of `today_ordinal`."""
    acc = cal_t.alias("acc")
    susp = cal_t.alias("susp")
    remaining = acc.c.ordinal + limit_of(table) - sa.func.coalesce(susp.c.ordinal, today_ordinal)
    source = table.join(acc, acc.c.day == started_on(table)).outerjoin(
        susp, susp.c.day == pause_from(table)
    )
    return source, remaining, light_case(remaining, table.c.warn_at)


def light_scan(today_ordinal: int, table: sa.Table = permit_t):
    """SELECT one row: open rows per stored light, and the ids whose light changes as of the day.

    One pass over the open rows (on SQLite over the covering index `ix_permit_sweep` only, for
    permits), with no sort: the counts are filtered counts of the stored light (the caller
    applies the changes to them) and the changed ids come back as one comma-separated string, so
    a day with nothing to change costs a single scan (docs/performance.md).
    """
    source, _, new_light = _light_of_open(today_ordinal, table)

    def count(light: str):  # FILTER: the cheapest conditional count on both databases
        return sa.func.count().filter(table.c.light == light).label(light)

    changed_id = sa.case((new_light != table.c.light, sa.cast(table.c.id, sa.String)))
    return (
        sa.select(
            count("green"), count("yellow"), count("red"),
            sa.func.aggregate_strings(changed_id, ",").label("ids"),
        )
        .select_from(source)
        .where(table.c.phase.in_(OPEN))
    )


def changed_lights(today_ordinal: int, dialect: str, table: sa.Table = permit_t, *,
                   day: int):
    """SELECT id, version, light, head_hash, department, project_id, type (a problem:
    category), remaining, new_light of the rows in :ids (a comma-separated string, as
    `light_scan` returns it) whose light as of the day differs from the row, in id order.

    Rows whose light is already as of a later day than `day` (a day number) are left out: a
    move recorded after the swept day set it, and a light as of an earlier day logged after it
    would make the row disagree with its log (`rebuild --check`). The test is here, on the few
    changed rows fetched by id, not in `light_scan`, whose covering index lacks `light_on`.

    The ids go in as one text parameter, unpacked by the database (json_each on SQLite, an array
    on PostgreSQL): with thousands of bound parameters SQLite planned the join as a walk of the
    open rows and took twenty times longer at 1M (docs/performance.md).
    """
    detail = table.c.type if "type" in table.c else table.c.category
    source, remaining, new_light = _light_of_open(today_ordinal, table)
    if dialect == "sqlite":
        # No phase test here: SQLite would then walk the phase index instead of the primary
        # key, and the ids come from `light_scan` in the same transaction's snapshot anyway.
        where = [sa.text(f"{table.name}.id IN (SELECT value FROM json_each('[' || :ids || ']'))")]
    else:
        where = [sa.text(f"{table.name}.id = ANY(CAST(string_to_array(:ids, ',') AS integer[]))"),
                 table.c.phase.in_(OPEN)]
    not_later = sa.or_(table.c.light_on.is_(None), table.c.light_on <= day)
    return (
        sa.select(
            table.c.id, table.c.version, table.c.light, table.c.head_hash, table.c.department,
            table.c.project_id, detail, remaining.label("remaining"),
            new_light.label("new_light"),
        )
        .select_from(source)
        .where(*where, not_later, new_light != table.c.light)
        .order_by(table.c.id)
    )
