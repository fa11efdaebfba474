"""Set-based SQL over the permit table and the materialised calendar.

`remaining` of an open permit as of day T, in one expression (see clock.py for the rules):
ordinal(accepted_on) + paused_days + promised_days + extension_days - ordinal(E), where E is T
for a running permit and, for one suspended since X, the later of X - 1 and the acceptance day
(frozen while the pause lasts). The light follows from `remaining` and the row's `warn_at`.
"""

from __future__ import annotations

import sqlalchemy as sa

from workflow.domain.clock import OPEN_PHASES
from workflow.store.models import CalendarDay, Permit

permit_t = Permit.__table__
cal_t = CalendarDay.__table__
OPEN = sorted(p.value for p in OPEN_PHASES)


def light_case(remaining, warn_at):
    return sa.case(
        (remaining < 0, sa.literal("red")),
        (remaining <= warn_at, sa.literal("yellow")),
        else_=sa.literal("green"),
    )


def ordinal_of(day_number_expr):
    return sa.select(cal_t.c.ordinal).where(cal_t.c.day == day_number_expr).scalar_subquery()


def pause_from(table=permit_t):
    """The day after which a current suspension pauses: max(suspended_since - 1, accepted_on)."""
    return sa.case(
        (table.c.suspended_since - 1 < table.c.accepted_on, table.c.accepted_on),
        else_=table.c.suspended_since - 1,
    )


def limit_of(table=permit_t):
    return table.c.paused_days + table.c.promised_days + table.c.extension_days


def live_light(today: int):
    """The light of each permit as of day number `today` (stored light for closed ones)."""
    remaining = ordinal_of(permit_t.c.accepted_on) + limit_of() - sa.func.coalesce(
        ordinal_of(pause_from()), ordinal_of(sa.literal(today))
    )
    return sa.case(
        (permit_t.c.phase.in_(OPEN), light_case(remaining, permit_t.c.warn_at)),
        else_=permit_t.c.light,
    )


def open_lights(today_ordinal: int):
    """SELECT id, version, light, head_hash, remaining, new_light of every open permit."""
    acc = cal_t.alias("acc")
    susp = cal_t.alias("susp")
    remaining = (
        acc.c.ordinal + limit_of() - sa.func.coalesce(susp.c.ordinal, today_ordinal)
    ).label("remaining")
    inner = (
        sa.select(
            permit_t.c.id, permit_t.c.version, permit_t.c.light, permit_t.c.head_hash,
            permit_t.c.department, permit_t.c.project_id, permit_t.c.type, remaining,
            permit_t.c.warn_at,
        )
        .select_from(
            permit_t.join(acc, acc.c.day == permit_t.c.accepted_on).outerjoin(
                susp, susp.c.day == pause_from()
            )
        )
        .where(permit_t.c.phase.in_(OPEN))
        .subquery("o")
    )
    new_light = light_case(inner.c.remaining, inner.c.warn_at).label("new_light")
    return sa.select(
        inner.c.id, inner.c.version, inner.c.light, inner.c.head_hash, inner.c.department,
        inner.c.project_id, inner.c.type, inner.c.remaining, new_light,
    ), inner, new_light
