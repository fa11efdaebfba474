"""Notices: issued by the sweep (in its transaction), followed by the supervision office until
closed, and read by everyone.

The sweep hook works set-based on the state after the sweep wrote its lights, not only on the
rows that changed: a permit that turned red through a move (a back-dated acceptance) is called
for by the next sweep, and an escalation needs no light change at all, only a time limit that
passed. The unique key (permit, level, episode) makes every matter happen once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.escalation import (
    Candidate,
    LevelRule,
    NoticeStatus,
    addressee,
    bundle_key,
    bundle_order,
    matters_for,
    notice_move,
    notice_number,
    rules_from_policy,
)
from workflow.errors import BadData, Conflict, NotFound
from workflow.store.db import insert_plain
from workflow.store.models import (
    Delivery,
    Notice,
    NoticeMatter,
    Permit,
    Problem,
    Project,
    utcnow,
)
from workflow.store.queries import (
    OPEN,
    PERMITS,
    TRACKED,
    Clocked,
    open_lights,
    remaining_of,
)
from workflow.sweep import AFTER_CHANGES

MATTER_COLUMNS = ("notice_id", "permit_id", "problem_id", "level", "episode", "basis_id",
                  "department", "light", "due_on", "remaining_days", "overdue_days",
                  "time_limit", "responsible", "issued_on")
notice_t = Notice.__table__
matter_t = NoticeMatter.__table__
delivery_t = Delivery.__table__
permit_t = Permit.__table__
problem_t = Problem.__table__
project_t = Project.__table__


# -- issuing (the sweep hook) ------------------------------------------------------------------

class _Draft:
    """One notice to issue: its level and addressee, and what it lists. A light level's
    matters are written by the database from the items' ids (`ids`, per clocked table); an
    escalation's (few) matters are built here (`matters`)."""

    __slots__ = ("level", "kind", "name", "ids", "matters")

    def __init__(self, level: str, kind: str, name: str) -> None:
        self.level, self.kind, self.name = level, kind, name
        self.ids: dict[str, list[int]] = {}
        self.matters: list = []


def issue_notices(app: App, conn: Connection, day: date, changed: list[dict]) -> dict:
    """Sweep hook: end finished episodes, call for new matters, bundle them into numbered
    notices and queue their deliveries, all in the sweep's transaction.

    A light level's matters go from the items' rows to the matter table in one INSERT ...
    SELECT per notice: at a province's worst day (100k permits turning yellow or red) building
    them in Python cost more than the rest of the sweep (docs/performance.md)."""
    esc = app.policy.escalation
    rules = rules_from_policy(esc.levels)
    by_name = {r.name: r for r in rules}
    ordinal = conn.execute(
        sa.text("SELECT ordinal FROM calendar_day WHERE day = :d"), {"d": _dn(day)}
    ).scalar_one()
    since = _watermark(conn, app.policy.digest)
    changed = {item.kind: _changed_since(conn, item, since) for item in TRACKED}
    for item in TRACKED:
        _end_episodes(conn, rules, day, item, changed[item.kind])
    drafts: dict[tuple, _Draft] = {}

    def draft(rule: LevelRule, kind: str, name: str, item_key: tuple) -> _Draft:
        key = bundle_key(rule, kind, name, item_key)
        found = drafts.get(key)
        if found is None:
            found = drafts[key] = _Draft(rule.name, kind, name)
        return found

    limits: dict[str, date | None] = {}
    for rule in rules:
        limits[rule.name] = (app.calendar.add_workdays(day, rule.rectify_within)
                             if rule.rectify_within else None)
        for item in TRACKED:  # permits and problems alike: one notice lists both
            if rule.light is not None:
                order = 0 if item is PERMITS else 1
                for id_, department, leader in _light_candidates(conn, rule, item,
                                                                 changed[item.kind]):
                    kind, name = addressee(rule, department, leader)
                    draft(rule, kind, name, (order, id_)).ids.setdefault(item.kind, []).append(
                        id_)
            else:
                remaining = remaining_of(item.table, ordinal).label("remaining")
                candidates = _escalation_candidates(conn, rule, remaining, day, item)
                for m in matters_for(candidates, by_name, limits[rule.name]):
                    draft(rule, m.addressee_kind, m.addressee, m.item).matters.append(m)
    notices = 0
    per_level: Counter = Counter()
    queued = 0
    seqs: dict[str, int] = {}
    issued_dn = _dn(day)
    for key in sorted(drafts, key=bundle_order):
        d = drafts[key]
        rule = by_name[d.level]
        limit = limits[d.level]
        if d.level not in seqs:
            seqs[d.level] = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(notice_t.c.seq), 0)).where(
                    notice_t.c.series == d.level, notice_t.c.year == day.year
                )
            ).scalar_one()
        seqs[d.level] += 1
        seq = seqs[d.level]
        number = notice_number(esc.levels[d.level].number, day.year, seq)
        notice_id = conn.execute(
            notice_t.insert().values(
                number=number, series=d.level, year=day.year, seq=seq, level=d.level,
                addressee_kind=d.kind, addressee=d.name,
                department=d.name if d.kind == "department" else None, issued_on=day,
                time_limit=limit, bulletin=rule.bulletin,
                status=NoticeStatus.ISSUED.value, created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        limit_dn = _dn(limit) if limit else None
        for item in TRACKED:  # a notice is read in overdue order (`show`), not id order
            if d.ids.get(item.kind):
                per_level[d.level] += _insert_light_matters(
                    conn, rule, item, notice_id, d.ids[item.kind], ordinal, issued_dn, limit_dn)
        insert_plain(conn, matter_t, MATTER_COLUMNS, [
            (notice_id, m.permit_id, m.problem_id, m.level, m.episode, m.basis_id,
             m.department, m.light, _dn(m.due_on) if m.due_on else None, m.remaining_days,
             m.overdue_days, limit_dn if m.time_limit else None, m.responsible, issued_dn)
            for m in sorted(d.matters, key=lambda m: (-m.overdue_days, m.item))
        ])
        per_level[d.level] += len(d.matters)
        queued += _queue(app, conn, rule, notice_id, number, d.level, day.year, seq, d.kind,
                         d.name)
        notices += 1
    _set_watermark(conn, app.policy.digest)
    return {"notices": notices, "matters": dict(sorted(per_level.items())), "queued": queued}


# Whether an item enters or leaves a light level depends on its phase and light, which change
# only with an event in its log (a move, or the sweep's light event). So the hook looks only at
# items with an event after the last one it saw: the watermark, kept with the policy's digest
# (a new level or light rule looks at everything once). `rebuild` and a calendar load rewrite
# rows without events and forget the watermark. Escalations depend on time limits passing, not
# on changes: their query always looks at every open matter of the level below. This holds
# because the sweep runs alone: SQLite's BEGIN IMMEDIATE, and on PostgreSQL a lock on the items
# and their logs (sweep.lock_for_sweep), so no event below the watermark commits after it.
WATERMARK = "notices_watermark"


def _watermark(conn: Connection, digest: str) -> dict[str, int] | None:
    from workflow.store.calendar_table import get_meta

    stored = get_meta(conn, WATERMARK)
    if not stored:
        return None
    mark = json.loads(stored)
    return mark["events"] if mark.get("policy") == digest else None


def _set_watermark(conn: Connection, digest: str) -> None:
    from workflow.store.calendar_table import set_meta

    last = {item.kind: conn.execute(sa.select(sa.func.coalesce(sa.func.max(item.events.c.id), 0)))
            .scalar_one() for item in TRACKED}
    set_meta(conn, WATERMARK, json.dumps({"policy": digest, "events": last}))


def forget_watermark(conn: Connection) -> None:
    """Make the next sweep's notices look at every item (rows were rewritten without events)."""
    from workflow.store.models import Meta

    conn.execute(sa.delete(Meta.__table__).where(Meta.__table__.c.key == WATERMARK))


def _changed_since(conn: Connection, item: Clocked, since: dict[str, int] | None):
    """The ids of the items with an event after the watermark, as one comma-separated text;
    None: look at every item; False: no item changed."""
    if since is None:
        return None
    e = item.events
    # a range of the primary key, deduplicated here: DISTINCT made SQLite walk the whole log
    ids = set(conn.execute(
        sa.select(e.c[item.subject]).where(e.c.id > since.get(item.kind, 0))
    ).scalars())
    return ",".join(map(str, sorted(ids))) if ids else False


def _one_of(column, ids: str, dialect: str):
    """`column` is one of `ids`, given to the database as one text parameter: a list the
    planner sees as small drives the statement by index probes, where a subquery over the log's
    newest rows (written by this very sweep, so absent from the statistics) made PostgreSQL
    walk every open matter."""
    name = f"{column.table.name}.{column.name}"
    if dialect == "postgresql":
        clause = f"{name} = ANY(CAST(string_to_array(:changed_ids, ',') AS integer[]))"
    else:
        clause = f"{name} IN (SELECT value FROM json_each('[' || :changed_ids || ']'))"
    return sa.text(clause).bindparams(sa.bindparam("changed_ids", value=ids))


def _dn(d: date) -> int:
    from workflow.domain.calendar import day_number

    return day_number(d)


def _end_episodes(conn: Connection, rules: list[LevelRule], day: date,
                  item: Clocked = PERMITS, changed=None) -> None:
    """Close the episode of every open matter whose item (a permit or a problem) closed or, at
    a light level, left the level's light (of the items in `changed`, when given): one
    statement for every level, so the open matters are read once."""
    if changed is False:
        return
    table = item.table
    key = matter_t.c[item.subject]
    # the light a level's matter needs its item to keep; none for an escalation (open is enough)
    wanted = sa.case({r.name: r.light for r in rules if r.light is not None},
                     value=matter_t.c.level, else_=sa.null())
    still = sa.and_(table.c.id == key, table.c.phase.in_(OPEN),
                    sa.or_(wanted.is_(None), table.c.light == wanted))
    where = [matter_t.c.level.in_([r.name for r in rules]), matter_t.c.ended_on.is_(None),
             key.is_not(None), ~sa.exists().where(still)]
    if changed is not None:
        where.append(_one_of(key, changed, conn.dialect.name))
    conn.execute(matter_t.update().where(*where).values(ended_on=day))


def _light_candidates(conn: Connection, rule: LevelRule, item: Clocked, changed):
    """(id, department, project leader) of each open item at the level's light with no open
    matter of the level (of the items in `changed`, when given)."""
    if changed is False:
        return []
    m = matter_t
    table = item.table
    stmt = (
        sa.select(table.c.id, table.c.department, project_t.c.leader)
        .select_from(table.join(project_t, project_t.c.id == table.c.project_id))
        .where(
            table.c.phase.in_(OPEN), table.c.light == rule.light,
            ~sa.exists().where(m.c[item.subject] == table.c.id, m.c.level == rule.name,
                               m.c.ended_on.is_(None)),
        )
    )
    if changed is not None:
        stmt = stmt.where(_one_of(table.c.id, changed, conn.dialect.name))
    return conn.execute(stmt)


def _insert_light_matters(conn: Connection, rule: LevelRule, item: Clocked, notice_id: int,
                          ids: list[int], ordinal: int, issued_dn: int,
                          limit_dn: int | None) -> int:
    """Write the matters of one notice of a light level, one per item in `ids`: the item's
    next episode of the level, its light, due day and remaining days as of the sweep's day.
    Written worst overdue first, then by id; a notice listing permits and problems
    gets the permits' matters first (`show` orders them by overdue days)."""
    table = item.table
    prev = matter_t.alias("prev")
    last = (
        sa.select(sa.func.coalesce(sa.func.max(prev.c.episode), 0))
        .where(prev.c[item.subject] == table.c.id, prev.c.level == rule.name)
        .scalar_subquery()
    )
    rows = (
        sa.select(table.c.id, table.c.department, table.c.light, table.c.due_on,
                  table.c.responsible, remaining_of(table, ordinal).label("remaining"),
                  last.label("last_episode"))
        .where(_one_of(table.c.id, ",".join(map(str, ids)), conn.dialect.name))
        .subquery("m")
    )
    overdue = sa.case((rows.c.remaining < 0, -rows.c.remaining), else_=0)

    def value(v):  # typed, so that PostgreSQL takes a NULL for an integer column
        return sa.cast(sa.literal(v), sa.Integer)

    permit = item is PERMITS
    select = sa.select(
        value(notice_id), rows.c.id if permit else value(None),
        value(None) if permit else rows.c.id, sa.literal(rule.name), rows.c.last_episode + 1,
        value(None), rows.c.department, rows.c.light, rows.c.due_on, rows.c.remaining, overdue,
        value(limit_dn), rows.c.responsible, value(issued_dn),
    ).order_by(overdue.desc(), rows.c.id)
    insert = matter_t.insert().from_select(MATTER_COLUMNS, select)
    # PostgreSQL's driver reports an INSERT's rowcount only when asked to keep it
    return conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount


def _escalation_candidates(conn: Connection, rule: LevelRule, remaining, day: date,
                           item: Clocked = PERMITS) -> list[Candidate]:
    """Open items whose matter at the level below passed its time limit, on a notice not
    closed, with no matter of this level for that episode yet."""
    m = matter_t
    table = item.table

    def ids(r) -> dict:
        if item is PERMITS:
            return {"permit_id": r.id}
        return {"permit_id": None, "problem_id": r.id}

    basis = m.alias("basis")
    esc = m.alias("esc")
    stmt = (
        sa.select(
            basis.c.id.label("basis_id"), basis.c.episode, table.c.id, table.c.department,
            table.c.light, table.c.due_on, table.c.responsible, project_t.c.leader,
            remaining,
        )
        .select_from(
            basis.join(table, table.c.id == basis.c[item.subject])
            .join(project_t, project_t.c.id == table.c.project_id)
            .join(notice_t, notice_t.c.id == basis.c.notice_id)
        )
        .where(
            basis.c.level == rule.after, basis.c.time_limit < day,
            table.c.phase.in_(OPEN), notice_t.c.status != NoticeStatus.CLOSED.value,
            ~sa.exists().where(esc.c[item.subject] == basis.c[item.subject],
                               esc.c.level == rule.name, esc.c.episode == basis.c.episode),
        )
    )
    return [
        Candidate(**ids(r), level=rule.name, department=r.department, leader=r.leader,
                  responsible=r.responsible, light=r.light, due_on=r.due_on,
                  remaining=r.remaining, last_episode=0, basis_id=r.basis_id,
                  basis_episode=r.episode)
        for r in conn.execute(stmt)
    ]


def delivery_targets(app: App, rule: LevelRule, kind: str, name: str) -> list[tuple[str, str]]:
    """Return (channel, target) pairs for a notice: the addressee's addresses on the level's
    channels, plus the bulletin's when the level posts to it; the file channel when none."""
    rec = app.policy.escalation.recipients
    book = (rec.departments if kind == "department" else rec.leaders).get(name)
    books = [b for b in (book, rec.bulletin if rule.bulletin else None) if b is not None]
    out: list[tuple[str, str]] = []
    for channel in rule.channels:
        if channel == "file":
            out.append(("file", "file"))
        for b in books:
            if channel == "smtp":
                out += [("smtp", e) for e in b.email]
            elif channel == "webhook":
                out += [("webhook", r) for r in b.robots]
    seen: set = set()
    out = [t for t in out if not (t in seen or seen.add(t))]
    return out or [("file", "file")]


def message_key(series: str, year: int, seq: int, channel: str, target: str) -> str:
    """A stable key per notice and destination: receivers deduplicate on it."""
    tag = hashlib.sha256(target.encode("utf-8")).hexdigest()[:10]
    return f"{series}-{year}-{seq:05d}-{channel}-{tag}"


def _queue(app: App, conn: Connection, rule: LevelRule, notice_id: int, number: str,
           series: str, year: int, seq: int, kind: str, name: str) -> int:
    now = utcnow()
    rows = [
        {"notice_id": notice_id, "channel": channel, "target": target,
         "message_key": message_key(series, year, seq, channel, target), "status": "pending",
         "attempts": 0, "next_attempt_at": now, "created_at": now}
        for channel, target in delivery_targets(app, rule, kind, name)
    ]
    conn.execute(delivery_t.insert(), rows)
    return len(rows)


if issue_notices not in AFTER_CHANGES:
    AFTER_CHANGES.append(issue_notices)


# -- reading ------------------------------------------------------------------------------------

def _find(conn: Connection, ref: str | int) -> sa.Row:
    text = str(ref).strip()
    # an id is decimal digits that fit a 64-bit column ("²" is a digit int() refuses)
    is_id = text.isdecimal() and int(text) < 2**63
    where = notice_t.c.id == int(text) if is_id else notice_t.c.number == text
    row = conn.execute(sa.select(notice_t).where(where)).first()
    if row is None:
        raise NotFound(f"unknown notice {text!r}")
    return row


def _notice_dict(app: App, n: Any, matters: int | None = None) -> dict[str, Any]:
    pol = app.policy
    level = pol.escalation.levels.get(n.level)
    dept = pol.departments.get(n.addressee) if n.addressee_kind == "department" else None
    out = {
        "id": n.id, "number": n.number, "level": n.level,
        "title": level.title.zh if level else n.level,
        "title_en": level.title.en if level else n.level,
        "addressee_kind": n.addressee_kind, "addressee": n.addressee,
        "addressee_name": dept.zh if dept else n.addressee,
        "addressee_name_en": dept.en if dept else n.addressee,
        "issued_on": n.issued_on.isoformat(),
        "time_limit": n.time_limit.isoformat() if n.time_limit else None,
        "bulletin": n.bulletin, "status": n.status,
        "acknowledged_by": n.acknowledged_by, "responded_by": n.responded_by,
        "response": n.response, "closed_by": n.closed_by, "close_note": n.close_note,
    }
    if matters is not None:
        out["matters"] = matters
    return out


def list_(
    app: App, *, status: str | None = None, level: str | None = None,
    department: str | None = None,
) -> list[dict]:
    """Notices, newest first, filtered by status, level and addressed department."""
    if status is not None and status not in {s.value for s in NoticeStatus}:
        raise BadData(f"unknown status {status!r} (statuses: "
                      f"{', '.join(s.value for s in NoticeStatus)})")
    count = (
        sa.select(sa.func.count()).where(matter_t.c.notice_id == notice_t.c.id).scalar_subquery()
    )
    stmt = sa.select(notice_t, count.label("n_matters")).order_by(notice_t.c.id.desc())
    if status:
        stmt = stmt.where(notice_t.c.status == status)
    if level:
        stmt = stmt.where(notice_t.c.level == level)
    if department:
        stmt = stmt.where(notice_t.c.id.in_(
            sa.select(matter_t.c.notice_id).where(matter_t.c.department == department)
        ))
    with app.db.connect() as conn:
        return [_notice_dict(app, r, r.n_matters) for r in conn.execute(stmt)]


def show(app: App, ref: str | int) -> dict[str, Any]:
    """A notice with its matters (permit, project, due date, overdue days, time limit,
    responsible) and its deliveries."""
    pol = app.policy
    with app.db.connect() as conn:
        n = _find(conn, ref)
        rows = conn.execute(
            sa.select(
                matter_t, permit_t.c.type, project_t.c.code.label("project_code"),
                project_t.c.name.label("project_name"), project_t.c.leader,
                problem_t.c.category, problem_t.c.description,
            )
            .outerjoin(permit_t, permit_t.c.id == matter_t.c.permit_id)
            .outerjoin(problem_t, problem_t.c.id == matter_t.c.problem_id)
            .join(project_t, project_t.c.id == sa.func.coalesce(permit_t.c.project_id,
                                                                 problem_t.c.project_id))
            .where(matter_t.c.notice_id == n.id)
            .order_by(matter_t.c.overdue_days.desc(), matter_t.c.id)
        ).all()
        deliveries = conn.execute(
            sa.select(delivery_t).where(delivery_t.c.notice_id == n.id).order_by(delivery_t.c.id)
        ).all()
    out = _notice_dict(app, n, len(rows))
    out["office"] = pol.settings.office.zh
    out["office_en"] = pol.settings.office.en
    out["matters"] = []
    for r in rows:
        dept = pol.departments.get(r.department)
        if r.problem_id is not None:  # a problem: its category and text stand for the type
            kind, ref = "problem", f"Q{r.problem_id}"
            type_name = f"问题（{pol.problems.category_name(r.category, 'zh')}）：{r.description}"
            type_name_en = (f"Problem ({pol.problems.category_name(r.category, 'en')}): "
                            f"{r.description}")
        else:
            ptype = pol.permit_types.get(r.type)
            kind, ref = "permit", f"{r.project_code}/{r.type}"
            type_name = ptype.zh if ptype else r.type
            type_name_en = ptype.en if ptype else r.type
        out["matters"].append({
            "kind": kind, "permit": ref if kind == "permit" else None,
            "problem": ref if kind == "problem" else None, "ref": ref,
            "project": r.project_code,
            "project_name": r.project_name, "type": r.type or r.category,
            "type_name": type_name, "type_name_en": type_name_en,
            "department": r.department, "department_name": dept.zh if dept else r.department,
            "department_name_en": dept.en if dept else r.department,
            "leader": r.leader, "light": r.light, "episode": r.episode,
            "due_on": r.due_on.isoformat() if r.due_on else None,
            "overdue_days": r.overdue_days, "remaining_days": r.remaining_days,
            "time_limit": r.time_limit.isoformat() if r.time_limit else None,
            "responsible": r.responsible,
            "ended_on": r.ended_on.isoformat() if r.ended_on else None,
        })
    kinds = {m["kind"] for m in out["matters"]}
    both = kinds == {"permit", "problem"}
    out["what_zh"] = "审批事项和问题" if both else ("问题" if kinds == {"problem"} else "审批事项")
    out["what_en"] = ("permits and problems" if both
                      else ("problems" if kinds == {"problem"} else "permits"))
    out["item_header_zh"] = "审批事项" if kinds <= {"permit"} else "事项"
    out["department_header_zh"] = "审批部门" if kinds <= {"permit"} else "责任单位"
    out["n_matters"] = len(rows)
    out["deliveries"] = [delivery_dict(d) for d in deliveries]
    return out


def delivery_dict(d: Any) -> dict[str, Any]:
    return {
        "id": d.id, "notice_id": d.notice_id, "channel": d.channel, "target": d.target,
        "message_key": d.message_key, "status": d.status, "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "sent_at": d.sent_at.isoformat() if d.sent_at else None, "last_error": d.last_error,
    }


# -- the lifecycle: acknowledge, respond, close --------------------------------------------------

def _move(app: App, ref: str | int, action: str, values: dict[str, Any]) -> dict[str, Any]:
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        n = _find(conn, ref)
        dest = notice_move(n.status, action, actor, number=n.number,
                           addressee_kind=n.addressee_kind, department=n.department)
        stamp = {"ack": "acknowledged", "respond": "responded", "close": "closed"}[action]
        updated = conn.execute(
            notice_t.update()
            .where(notice_t.c.id == n.id, notice_t.c.status == n.status)
            .values(status=dest.value, **{f"{stamp}_at": utcnow(), f"{stamp}_by": actor.name},
                    **values)
        ).rowcount
        if updated != 1:
            raise Conflict(f"notice {n.number} changed meanwhile; look again and retry")
        n = _find(conn, n.id)
    return _notice_dict(app, n)


def ack(app: App, ref: str | int) -> dict[str, Any]:
    """Acknowledge (签收) a notice: the addressed department (or an admin)."""
    return _move(app, ref, "ack", {})


def respond(app: App, ref: str | int, text: str) -> dict[str, Any]:
    """Record the department's response (反馈) to an acknowledged notice."""
    if not text or not text.strip():
        raise BadData("--text must not be empty")
    return _move(app, ref, "respond", {"response": text.strip()})


def close(app: App, ref: str | int, note: str | None = None) -> dict[str, Any]:
    """Close (销号) a notice: the supervision office only (or an admin)."""
    return _move(app, ref, "close", {"close_note": (note or "").strip() or None})


# -- the supervision office's view ---------------------------------------------------------------

def supervise(app: App, day: date | None = None) -> list[dict[str, Any]]:
    """Every open red permit and problem, worst first, with its latest notice, days overdue and
    who is responsible (the item's responsible person, else its department)."""
    from workflow.domain.calendar import day_number

    day = day or app.today()
    pol = app.policy
    found = []
    with app.db.connect() as conn:
        ordinal = conn.execute(
            sa.text("SELECT ordinal FROM calendar_day WHERE day = :d"), {"d": day_number(day)}
        ).scalar_one_or_none()
        if ordinal is None:
            raise BadData(f"{day} is outside the calendar table: run `workflow init`")
        for item in TRACKED:
            table = item.table
            key = matter_t.c[item.subject]
            q, inner, new_light = open_lights(ordinal, table)
            live = q.subquery("live")
            latest = (
                sa.select(key.label("item_id"), sa.func.max(matter_t.c.id).label("mid"))
                .where(key.is_not(None)).group_by(key).subquery("latest")
            )
            detail = table.c.type if item is PERMITS else table.c.category
            rows = conn.execute(
                sa.select(
                    live.c.id, live.c.remaining, detail.label("detail"), table.c.department,
                    table.c.responsible, table.c.due_on, project_t.c.code, project_t.c.name,
                    project_t.c.leader, matter_t.c.level, matter_t.c.time_limit,
                    notice_t.c.number, notice_t.c.status.label("notice_status"),
                )
                .select_from(
                    live.join(table, table.c.id == live.c.id)
                    .join(project_t, project_t.c.id == table.c.project_id)
                    .outerjoin(latest, latest.c.item_id == live.c.id)
                    .outerjoin(matter_t, matter_t.c.id == latest.c.mid)
                    .outerjoin(notice_t, notice_t.c.id == matter_t.c.notice_id)
                )
                .where(live.c.new_light == "red")
            ).all()
            found += [(item, r) for r in rows]
    found.sort(key=lambda f: (f[1].remaining, f[1].code, f[0].kind, str(f[1].detail)))
    out = []
    for item, r in found:
        dept = pol.departments.get(r.department)
        ref = f"{r.code}/{r.detail}" if item is PERMITS else f"Q{r.id}"
        out.append({
            "kind": item.kind, "permit": ref if item is PERMITS else None,
            "problem": ref if item is not PERMITS else None, "ref": ref,
            "project_name": r.name, "department": r.department,
            "department_name": dept.zh if dept else r.department,
            "due_on": r.due_on.isoformat() if r.due_on else None,
            "overdue_days": max(0, -r.remaining), "responsible": r.responsible or (
                dept.zh if dept else r.department),
            "leader": r.leader, "level": r.level, "notice": r.number,
            "notice_status": r.notice_status,
            "time_limit": r.time_limit.isoformat() if r.time_limit else None,
            "time_limit_passed": bool(r.time_limit and r.time_limit < day),
        })
    return out


def rendered(app: App, ref: str | int, fmt: str = "md", lang: str = "zh") -> str:
    """A notice rendered with the policy's templates (md, html or text; zh or en)."""
    from workflow.notify.render import render

    return render(app.policy, show(app, ref), fmt, lang)
