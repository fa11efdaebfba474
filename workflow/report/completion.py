"""The completion report (办结率): per permit type, department, district or campaign.

Denominators (docs/reports.md): `required` = permits whose state is not of phase void
(withdrawn, not required); `closed` = phase closed (approved or rejected); `in_progress` =
running or paused (accepted, suspended); `pending` = phase pending (draft, preparing).
`completion_rate` = closed / required, `on_time_rate` = closed with a green final light /
closed, both in percent with two decimals (half up). `red` and `yellow` count open permits by
their light as of the report day. `avg_days_to_close` is the mean of working days elapsed at
closing (`ord(closed_on) - ord(accepted_on) - paused_days`, the clock's own count).

Everything is a GROUP BY in SQL. A past `as_of` reads each permit's state from its last move
on or before that day; permits still open then whose clock changed later (a move after that
day) are the only rows read into Python, to fold their events up to that day. As of the day
of the last sweep, with nothing moved after it, a grouping by type, department or district sums
the kept counts instead (store/tally.py): a few thousand rows instead of every permit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.domain.clock import ClockFacts, Phase, read_clock
from workflow.errors import BadData, NotFound
from workflow.report.i18n import check_lang, t
from workflow.store import tally
from workflow.store.events import event_t, permit_t
from workflow.store.models import Campaign, PermitTally, Project, ProjectCampaign
from workflow.store.queries import cal_t, light_case, limit_of, pause_from

project_t = Project.__table__
campaign_t = Campaign.__table__
link_t = ProjectCampaign.__table__
tally_t = PermitTally.__table__

GROUPINGS = ("type", "department", "district", "campaign")
COUNTS = ("required", "closed", "in_progress", "pending", "on_time", "red", "yellow")
COLUMNS = (
    "required", "closed", "in_progress", "pending", "completion_rate", "on_time",
    "on_time_rate", "red", "yellow", "avg_days_to_close",
)
OPEN = (Phase.RUNNING.value, Phase.PAUSED.value)
FOLD_BATCH = 2000
TOTAL = object()  # the key of the all-groups count in `_fold_moved`


def percent(part: int, whole: int) -> float | None:
    """Return part / whole in percent, two decimals rounded half up (None when whole is 0)."""
    if not whole:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return float(value)


def json_text(conn: Connection, column, key: str):
    """The text value of `key` in a JSON text column, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return sa.func.json_extract_path_text(sa.cast(column, postgresql.JSON), key)
    return sa.func.json_extract(column, f"$.{key}")


def _clock_columns(table, phase, as_of_ordinal: int, fresh):
    """Live light and working days to close computed from a permit row's cached clock.

    `fresh` says the row's cached facts hold as of the report day (no move after it). The
    light is computed, never taken from the row: a row's cached light may have been read under
    a calendar since replaced (a calendar load keeps open lights until the sweep logs a change).
    """
    susp = cal_t.alias("c_susp")
    acc = cal_t.alias("c_acc")
    cls = cal_t.alias("c_cls")
    joined = (
        table.outerjoin(acc, acc.c.day == table.c.accepted_on)
        .outerjoin(susp, susp.c.day == pause_from(table))
        .outerjoin(cls, cls.c.day == table.c.closed_on)
    )
    # the sweep's own expression (store/queries.py): frozen while suspended
    remaining = acc.c.ordinal + limit_of(table) - sa.func.coalesce(susp.c.ordinal, as_of_ordinal)
    is_open = phase.in_(OPEN)
    light = sa.case(
        (sa.and_(is_open, fresh), light_case(remaining, table.c.warn_at)),
        (is_open, sa.null()),  # folded in Python
        (phase == Phase.CLOSED.value, table.c.light),
        else_=sa.literal("none"),
    )
    close_days = sa.case(
        (phase == Phase.CLOSED.value,
         cls.c.ordinal - acc.c.ordinal - table.c.paused_days),
        else_=sa.null(),
    )
    return joined, light, close_days


def _facts_now(conn: Connection, as_of: date, as_of_ordinal: int):
    """One row per permit: its phase, light as of the report day, working days to close."""
    phase = permit_t.c.phase
    joined, light, close_days = _clock_columns(permit_t, phase, as_of_ordinal,
                                               sa.true())
    return sa.select(
        permit_t.c.id.label("permit_id"), permit_t.c.project_id, permit_t.c.type,
        permit_t.c.department, phase.label("phase"), light.label("light"),
        close_days.label("close_days"), sa.literal(0).label("moved_after"),
    ).select_from(joined).subquery("facts")


def _facts_as_of(conn: Connection, app: App, as_of: date, as_of_ordinal: int):
    """The same rows as `_facts_now`, with each permit's state read from the event log."""
    lifecycle = app.policy.lifecycle
    d = day_number(as_of)
    e = event_t
    agg = (
        sa.select(
            e.c.permit_id,
            sa.func.max(sa.case((sa.and_(e.c.kind == "move", e.c.on <= d), e.c.seq))).label(
                "last_seq"
            ),
            sa.func.max(sa.case((sa.and_(e.c.kind == "move", e.c.on > d), 1), else_=0)).label(
                "moved_after"
            ),
        )
        .group_by(e.c.permit_id)
        .having(sa.func.min(e.c.on) <= d)
        .subquery("agg")
    )
    last = e.alias("last_move")
    state = sa.func.coalesce(json_text(conn, last.c.data, "to"), sa.literal(lifecycle.initial))
    # moves record their phase; older ones are mapped with the current policy
    phase = sa.func.coalesce(json_text(conn, last.c.data, "phase"), sa.case(
        *((state == s.name, sa.literal(s.phase.value)) for s in lifecycle.states.values()),
        else_=sa.literal(Phase.PENDING.value),
    ))
    fresh = agg.c.moved_after == 0
    joined, light, close_days = _clock_columns(permit_t, phase, as_of_ordinal, fresh)
    joined = joined.join(agg, agg.c.permit_id == permit_t.c.id).outerjoin(
        last, sa.and_(last.c.permit_id == agg.c.permit_id, last.c.seq == agg.c.last_seq)
    )
    return sa.select(
        permit_t.c.id.label("permit_id"), permit_t.c.project_id, permit_t.c.type,
        permit_t.c.department, phase.label("phase"), light.label("light"),
        close_days.label("close_days"), agg.c.moved_after,
    ).select_from(joined).subquery("facts")


def _keyed(facts, by: str | None, campaign_id: int | None):
    """FROM clause and group key expression for `by` (None: the total, one row)."""
    source = facts
    key = sa.literal(None).label("key") if by is None else None
    if by in ("type", "department"):
        key = facts.c[by].label("key")
    elif by == "district":
        source = facts.join(project_t, project_t.c.id == facts.c.project_id)
        key = project_t.c.district.label("key")
    elif by == "campaign":
        source = facts.outerjoin(link_t, link_t.c.project_id == facts.c.project_id).outerjoin(
            campaign_t, campaign_t.c.id == link_t.c.campaign_id
        )
        key = campaign_t.c.name.label("key")
    where = sa.true()
    if campaign_id is not None:
        where = facts.c.project_id.in_(
            sa.select(link_t.c.project_id).where(link_t.c.campaign_id == campaign_id)
        )
    return source, key, where


def _count(cond):
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _counted(phase, light, count) -> list:
    """The report's counts as labelled columns; `count(cond)` counts the rows where cond holds."""
    is_open, closed = phase.in_(OPEN), phase == Phase.CLOSED.value
    return [
        count(phase != Phase.VOID.value).label("required"),
        count(closed).label("closed"),
        count(is_open).label("in_progress"),
        count(phase == Phase.PENDING.value).label("pending"),
        count(sa.and_(closed, light == "green")).label("on_time"),
        count(sa.and_(is_open, light == "red")).label("red"),
        count(sa.and_(is_open, light == "yellow")).label("yellow"),
    ]


def _groups(conn: Connection, query) -> list[dict]:
    return [
        {**{name: int(r._mapping[name] or 0)
            for name in (*COUNTS, "close_days_sum", "close_days_n")}, "key": r.key}
        for r in conn.execute(query)
    ]


def _aggregate(conn: Connection, facts, by: str | None, campaign_id: int | None) -> list[dict]:
    source, key, where = _keyed(facts, by, campaign_id)
    query = sa.select(
        key, *_counted(facts.c.phase, facts.c.light, _count),
        sa.func.sum(facts.c.close_days).label("close_days_sum"),
        sa.func.count(facts.c.close_days).label("close_days_n"),
    ).select_from(source).where(where)
    if by is not None:
        query = query.group_by(key)
    return _groups(conn, query)


def _kept(conn: Connection, by: str) -> list[dict]:
    """The groups of `by` from the kept counts (store/tally.py), as `_aggregate` gives them."""
    k = tally_t.c

    def summed(cond):  # each kept row stands for `n` permits
        return sa.func.sum(sa.case((cond, k.n), else_=0))

    query = sa.select(
        k[by].label("key"), *_counted(k.phase, k.light, summed),
        sa.func.sum(k.close_days).label("close_days_sum"),
        sa.func.sum(k.close_n).label("close_days_n"),
    ).group_by(k[by]).having(sa.func.sum(k.n) > 0)  # a group of no permits is no group
    return _groups(conn, query)


def _fold_moved(conn: Connection, app: App, facts, by: str | None, campaign_id: int | None,
                as_of: date) -> dict[Any, dict[str, int]]:
    """Lights as of `as_of` of permits open then that moved later: red/yellow per group key.

    The key TOTAL counts each permit once (a project may sit in several campaigns).
    """
    from workflow.permits import rebuild_values

    source, key, where = _keyed(facts, by, campaign_id)
    rows = conn.execute(
        sa.select(facts.c.permit_id, facts.c.type, key).select_from(source).where(
            where, facts.c.phase.in_(OPEN), facts.c.moved_after == 1
        )
    ).all()
    keys: dict[int, list[Any]] = defaultdict(list)
    types: dict[int, str] = {}
    for r in rows:
        keys[r.permit_id].append(r.key)
        types[r.permit_id] = r.type
    policy, cal = app.policy, app.calendar
    adjust: dict[Any, dict[str, int]] = defaultdict(lambda: {"red": 0, "yellow": 0})
    ids = sorted(keys)
    lights: dict[tuple, str] = {}
    for start in range(0, len(ids), FOLD_BATCH):
        chunk = ids[start:start + FOLD_BATCH]
        events = conn.execute(
            sa.select(event_t).where(event_t.c.permit_id.in_(chunk),
                                     sa.or_(event_t.c.on <= as_of, event_t.c.kind == "create"))
            .order_by(event_t.c.permit_id, event_t.c.seq)
        )
        for pid, group in groupby(events, key=lambda ev: ev.permit_id):
            evs = list(group)
            # permits with the same moves on the same days share a light: fold each once
            key = (types[pid], tuple((e.kind, e.event, e.on, e.data) for e in evs
                                     if e.kind != "light"))
            light = lights.get(key)
            if light is None:
                ptype = policy.permit_type(types[pid])
                v = rebuild_values(evs, ptype, policy, cal)
                facts_ = ClockFacts(
                    phase=Phase(v["phase"]), accepted_on=v["accepted_on"],
                    promised_days=v["promised_days"], extension_days=v["extension_days"],
                    paused_days=v["paused_days"], suspended_since=v["suspended_since"],
                    closed_on=v["closed_on"],
                )
                light = lights[key] = read_clock(facts_, cal, ptype.warning, as_of).light.value
            if light in ("red", "yellow"):
                adjust[TOTAL][light] += 1
                for k in keys[pid]:
                    adjust[k][light] += 1
    return adjust


def _finish(row: dict) -> dict:
    row["completion_rate"] = percent(row["closed"], row["required"])
    row["on_time_rate"] = percent(row["on_time"], row["closed"])
    n = row.pop("close_days_n")
    total = row.pop("close_days_sum")
    row["avg_days_to_close"] = (
        float((Decimal(total) / n).quantize(Decimal("0.01"), ROUND_HALF_UP)) if n else None
    )
    return row


def _names(app: App, by: str, lang: str) -> tuple[dict[Any, str], dict[Any, int]]:
    policy = app.policy
    if by == "type":
        order = policy.type_order()
        return ({c: policy.permit_types[c].name(lang) for c in order},
                {c: i for i, c in enumerate(order)})
    if by == "department":
        return ({c: d.name(lang) for c, d in policy.departments.items()},
                {c: i for i, c in enumerate(policy.departments)})
    return {}, {}


def completion(
    app: App,
    *,
    by: str = "type",
    campaign: str | None = None,
    as_of: date | None = None,
    lang: str | None = None,
    recount: bool = False,
) -> dict[str, Any]:
    """Return the completion report grouped `by` type, department, district or campaign.

    As of the day of the last sweep, with nothing moved after it, a grouping by type,
    department or district reads the kept counts (store/tally.py); `recount` counts the permit
    rows instead, as a past day, a campaign or a day not swept yet always do. Both give the
    same figures.
    """
    if by not in GROUPINGS:
        raise BadData(f"unknown grouping {by!r} (by: {', '.join(GROUPINGS)})")
    lang = check_lang(lang, app.policy.settings.language)
    as_of = as_of or app.today()
    # one snapshot: whether the kept counts hold as of the day, and the counts themselves
    with app.db.connect(snapshot=True) as conn:
        return _completion(app, conn, by=by, campaign=campaign, as_of=as_of, lang=lang,
                           recount=recount)


def _completion(app: App, conn: Connection, *, by: str, campaign: str | None, as_of: date,
                lang: str, recount: bool = False) -> dict[str, Any]:
    from workflow.permits import ensure_calendar_current

    ensure_calendar_current(app, conn)  # cached pause days are counted on the calendar in force
    campaign_id = None
    if campaign is not None:
        campaign_id = conn.execute(
            sa.select(campaign_t.c.id).where(campaign_t.c.name == campaign)
        ).scalar_one_or_none()
        if campaign_id is None:
            raise NotFound(f"unknown campaign {campaign!r}")
    ordinal = conn.execute(
        sa.select(cal_t.c.ordinal).where(cal_t.c.day == day_number(as_of))
    ).scalar_one_or_none()
    if ordinal is None:
        raise BadData(f"{as_of} is outside the calendar table: run `workflow init`")
    later = conn.execute(
        sa.select(event_t.c.id).where(event_t.c.kind != "light", event_t.c.on > as_of).limit(1)
    ).first()
    kept = (later is None and not recount and campaign_id is None and by != "campaign"
            and tally.lights_as_of(conn) == day_number(as_of))
    from_log = later is not None
    facts = None
    if kept:  # the day's sweep left every open light as of the report day
        groups = _kept(conn, by)
    else:
        if from_log:
            facts = _facts_as_of(conn, app, as_of, ordinal)
        else:  # nothing happened after the report day: the rows are the state
            facts = _facts_now(conn, as_of, ordinal)
        groups = _aggregate(conn, facts, by, campaign_id)
    if by == "campaign":  # a project may sit in several campaigns: count the total apart
        total = _aggregate(conn, facts, None, campaign_id)[0]
    else:  # every permit falls in exactly one group: the total is their sum
        total = {k: sum(g[k] for g in groups) for k in (*COUNTS, "close_days_sum", "close_days_n")}
    if from_log:
        adjust = _fold_moved(conn, app, facts, by, campaign_id, as_of)
        for row in [*groups, total]:
            adj = adjust.get(TOTAL if row is total else row["key"])
            if adj:
                row["red"] += adj["red"]
                row["yellow"] += adj["yellow"]
    names, order = _names(app, by, lang)
    none_name = t("none_group", lang)
    rows = []
    for row in groups:
        row = _finish(row)
        row["name"] = names.get(row["key"], row["key"]) if row["key"] is not None else none_name
        rows.append(row)
    rows.sort(key=lambda r: (r["key"] is None, order.get(r["key"], len(order)), str(r["key"])))
    total = _finish(total)
    total["key"] = None
    total["name"] = t("total", lang)
    return {
        "report": "completion", "by": by, "as_of": as_of.isoformat(), "campaign": campaign,
        "lang": lang, "title": t("completion_title", lang), "from_log": from_log,
        "from_kept_counts": kept,
        "columns": list(COLUMNS), "rows": rows, "total": total,
    }
