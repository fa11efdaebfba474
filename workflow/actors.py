"""Actors (who does what) and the checks on administrative actions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App, check_text
from workflow.domain.lifecycle import Actor, Role, check_actor
from workflow.errors import BadData, NotAllowed, NotFound
from workflow.store.models import Actor as ActorRow
from workflow.store.models import utcnow

actor_t = ActorRow.__table__
ADMIN = "admin"
# Who may do what outside the lifecycle (the lifecycle's events carry their roles in policy).
REGISTER_PROJECT = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DEPARTMENT})
MANAGE_ACTORS = frozenset({Role.ADMIN})
SUPERVISE = frozenset({Role.ADMIN, Role.SUPERVISOR})
# A ledger import records every department's decisions (approvals, rejections) without the
# lifecycle's per-event roles: only an admin, who may fire every event, may import one.
IMPORT_LEDGER = frozenset({Role.ADMIN})
# The system's jobs (sweep, notice delivery, the scheduler) follow from the day and the log
# alone, so any writing role may trigger them; without --as they run as the system. A viewer or
# a name that is not an actor may not: nothing is written under a name that may not write.
RUN_JOBS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DEPARTMENT})


_LOOKUP = sa.select(actor_t).where(actor_t.c.name == sa.bindparam("name"))  # built once


def lookup(conn: Connection, name: str | None) -> Actor:
    """Return the actor called `name`, or refuse: every mutation runs as a known actor."""
    if not name:
        raise NotAllowed("no actor: pass --as NAME or set WORKFLOW_ACTOR")
    row = conn.execute(_LOOKUP, {"name": name}).first()
    if row is None:
        raise NotAllowed(f"unknown actor {name!r}: an admin adds it with `workflow actor add`")
    return Actor(name=row.name, role=Role(row.role), department=row.department)


def require(actor: Actor, roles: frozenset[Role], what: str, department: str | None = None) -> None:
    """Refuse unless `actor` holds one of `roles`; a department actor only for its own."""
    check_actor(actor, roles, department if department is not None else actor.department or "",
                what)


def require_job_runner(app: App, what: str) -> None:
    """Refuse a named actor who may not run the system's jobs; no actor runs as the system."""
    if not app.settings.actor:
        return
    with app.db.connect() as conn:
        require(lookup(conn, app.settings.actor), RUN_JOBS, what)


def add(app: App, name: str, role: str, department: str | None = None) -> dict:
    """Add an actor (admin only). A department actor needs a department from policy."""
    name = name.strip()
    if not name:
        raise BadData("actor name must not be empty")
    check_text(name, 100, "actor name")
    try:
        role_ = Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise BadData(f"unknown role {role!r} (roles: {roles})") from None
    if role_ == Role.DEPARTMENT:
        if not department:
            raise BadData("a department actor needs --department CODE")
        if department not in app.policy.departments:
            raise NotFound(
                f"unknown department {department!r} (known: {', '.join(app.policy.departments)})"
            )
    elif department:
        if department not in app.policy.departments:
            raise NotFound(f"unknown department {department!r}")
    with app.db.connect(write=True) as conn:
        me = lookup(conn, app.settings.actor)
        require(me, MANAGE_ACTORS, f"add actor {name}")
        if conn.execute(sa.select(actor_t.c.id).where(actor_t.c.name == name)).first():
            raise BadData(f"actor {name!r} already exists")
        conn.execute(
            actor_t.insert().values(name=name, role=role_.value, department=department,
                                    created_at=utcnow())
        )
    return {"name": name, "role": role_.value, "department": department}


def list_all(app: App) -> list[dict]:
    with app.db.connect() as conn:
        rows = conn.execute(sa.select(actor_t).order_by(actor_t.c.name))
        return [{"name": r.name, "role": r.role, "department": r.department} for r in rows]
