"""Small builders shared by tests: a department actor, a project, permits moved to a state."""

from __future__ import annotations

from datetime import date

from workflow import actors, permits, projects
from workflow.app import App, Settings


def as_actor(app: App, name: str, today: date | None = None) -> App:
    s = app.settings
    return App(Settings(db_url=s.db_url, policies=s.policies, actor=name,
                        today=today or s.today))


def setup_departments(app: App) -> None:
    for code in app.policy.departments:
        actors.add(app, f"clerk.{code}", "department", code)
    actors.add(app, "office", "supervisor")
    actors.add(app, "reader", "viewer")


def project(app: App, code: str = "P1", **kw) -> dict:
    kw.setdefault("name", f"Project {code}")
    return projects.add(app, code, **kw)


def permit(app: App, code: str, type_: str, *moves: tuple, **kw) -> dict:
    """Add a permit and apply moves given as (event, on[, extra kwargs])."""
    result = permits.add(app, code, type_, **kw)
    for move in moves:
        event, on, *rest = move
        extra = rest[0] if rest else {}
        result = permits.advance(app, f"{code}/{type_}", event, on=on, **extra)
    return result


def make_daily_job_due(conn, when) -> None:
    """Set the stored APScheduler daily job's next run to `when` (a scheduler that was down)."""
    import pickle

    import sqlalchemy as sa

    state = pickle.loads(conn.execute(sa.text(
        "SELECT job_state FROM scheduler_job WHERE id = 'daily'")).scalar())
    state["next_run_time"] = when
    conn.execute(sa.text("UPDATE scheduler_job SET job_state = :s, next_run_time = :t "
                         "WHERE id = 'daily'"),
                 {"s": pickle.dumps(state), "t": when.timestamp()})
