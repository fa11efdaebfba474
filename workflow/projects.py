"""Projects: register them, list them, and read their light, countdown and risk."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow import actors
from workflow.app import App, check_text
from workflow.domain.clock import Light, Phase
from workflow.domain.projects import critical_path_days, worst_light
from workflow.errors import BadData, NotFound
from workflow.permits import _select_permits, view
from workflow.store.models import Campaign, Project, ProjectCampaign, utcnow

project_t = Project.__table__
campaign_t = Campaign.__table__
link_t = ProjectCampaign.__table__
FIELDS = ("name", "district", "park", "investment", "planned_start", "leader", "contact")


def add(
    app: App,
    code: str,
    *,
    name: str,
    district: str | None = None,
    park: str | None = None,
    investment: float | None = None,
    planned_start: date | None = None,
    leader: str | None = None,
    contact: str | None = None,
    campaigns: tuple[str, ...] = (),
) -> dict:
    """Register a project under its project code; campaigns are created on first use."""
    code = code.strip()
    if not code or "/" in code:
        raise BadData(f"bad project code {code!r}: must be non-empty and contain no '/'")
    if not name or not name.strip():
        raise BadData("--name must not be empty")
    if investment is not None and not (math.isfinite(investment) and investment >= 0):
        raise BadData("--investment must be a number, not negative")
    check_text(code, 64, "project code")
    check_text(name, 300, "--name")
    for what, value in (("district", district), ("park", park), ("leader", leader),
                        ("contact", contact), *(("campaign", c) for c in campaigns)):
        check_text(value, 200 if what == "campaign" else 100, f"--{what}")
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        actors.require(actor, actors.REGISTER_PROJECT, f"add project {code}", actor.department)
        if conn.execute(sa.select(project_t.c.id).where(project_t.c.code == code)).first():
            raise BadData(f"project {code} already exists")
        pid = conn.execute(
            project_t.insert().values(
                code=code, name=name.strip(), district=district, park=park,
                investment=investment, planned_start=planned_start, leader=leader,
                contact=contact, created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        for cname in campaigns:
            cid = conn.execute(
                sa.select(campaign_t.c.id).where(campaign_t.c.name == cname)
            ).scalar_one_or_none()
            if cid is None:
                cid = conn.execute(campaign_t.insert().values(name=cname)).inserted_primary_key[0]
            conn.execute(link_t.insert().values(project_id=pid, campaign_id=cid))
    return show(app, code)


def _summary(app: App, project: Any, permits: list[Any], campaigns: list[str]) -> dict:
    policy, cal, today = app.policy, app.calendar, app.today()
    views = [view(p, policy, cal, today) for p in permits]
    open_lights = [Light(v["light"]) for v in views if v["phase"] in ("running", "paused")]
    remaining: dict[str, int] = {}
    for v in views:
        if v["phase"] in (Phase.CLOSED.value, Phase.VOID.value):
            continue
        if v["phase"] == Phase.PENDING.value:
            ptype = policy.permit_types.get(v["type"])
            p = next(x for x in permits if x.type == v["type"])
            limit = p.promised_override or (ptype.promised_days.get(p.level) if ptype else None)
            remaining[v["type"]] = limit or 0
        else:
            remaining[v["type"]] = max(v["remaining_days"] or 0, 0)
    prereqs = {c: t.prerequisites for c, t in policy.permit_types.items()}
    critical = critical_path_days(remaining, prereqs)
    countdown = None
    at_risk = False
    if project.planned_start is not None:
        countdown = cal.ordinal(project.planned_start) - cal.ordinal(today)
        at_risk = critical > countdown
    return {
        "code": project.code, "name": project.name, "district": project.district,
        "park": project.park, "investment": project.investment,
        "planned_start": project.planned_start.isoformat() if project.planned_start else None,
        "leader": project.leader, "contact": project.contact, "campaigns": campaigns,
        "light": worst_light(open_lights).value, "countdown_days": countdown,
        "critical_path_days": critical, "at_risk": at_risk,
        "permits": len(views),
        "closed": sum(v["phase"] == "closed" for v in views),
        "as_of": today.isoformat(),
    }


def _load(conn, codes: list[str] | None = None) -> list[tuple[Any, list[Any], list[str]]]:
    q = sa.select(project_t).order_by(project_t.c.code)
    if codes is not None:
        q = q.where(project_t.c.code.in_(codes))
    projects = conn.execute(q).all()
    ids = [p.id for p in projects]
    permits: dict[int, list[Any]] = {i: [] for i in ids}
    camps: dict[int, list[str]] = {i: [] for i in ids}
    from workflow.store.events import permit_t

    for r in conn.execute(_select_permits().where(permit_t.c.project_id.in_(ids))):
        permits[r.project_id].append(r)
    for pid, cname in conn.execute(
        sa.select(link_t.c.project_id, campaign_t.c.name)
        .join(campaign_t, campaign_t.c.id == link_t.c.campaign_id)
        .where(link_t.c.project_id.in_(ids))
    ):
        camps[pid].append(cname)
    return [(p, permits[p.id], sorted(camps[p.id])) for p in projects]


def show(app: App, code: str) -> dict:
    with app.db.connect() as conn:
        found = _load(conn, [code])
    if not found:
        raise NotFound(f"unknown project {code!r}")
    project, permits, camps = found[0]
    out = _summary(app, project, permits, camps)
    policy = app.policy
    order = {c: i for i, c in enumerate(policy.type_order())}
    out["permit_list"] = sorted(
        (view(p, policy, app.calendar, app.today()) for p in permits),
        key=lambda v: order.get(v["type"], 99),
    )
    return out


def list_(app: App, *, district: str | None = None, campaign: str | None = None,
          light: str | None = None, at_risk: bool | None = None) -> list[dict]:
    if light is not None and light not in {x.value for x in Light}:
        raise BadData(f"unknown light {light!r} (lights: none, green, yellow, red)")
    with app.db.connect() as conn:
        rows = _load(conn)
    out = []
    for project, permits, camps in rows:
        if district and project.district != district:
            continue
        if campaign and campaign not in camps:
            continue
        s = _summary(app, project, permits, camps)
        if light and s["light"] != light:
            continue
        if at_risk is not None and s["at_risk"] != at_risk:
            continue
        out.append(s)
    return out
