"""`workflow demo`: a fresh database seeded with the demo campaign, swept day by day up to the
demo day, its supervision summary, and the files a supervision office would hand round.

The summary is computed set-based in SQL (counts by light, completion by permit type); only the
few worst red permits are read one by one, to show their clocks.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workflow.app import App, Settings
from workflow.domain.calendar import day_number
from workflow.errors import BadData
from workflow.seed import DEMO_META_KEY, load_description, plan
from workflow.seed import apply as apply_plan
from workflow.store.calendar_table import set_meta

DEFAULT_OUTPUT_DIR = Path("workflow-demo")
WORST = 10
WORST_PROBLEMS = 5


def run(
    *, output_dir: Path = DEFAULT_OUTPUT_DIR, db_url: str | None = None,
    policies: Path | None = None, projects: int | None = None, seed: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Create and seed a fresh demo database, sweep it, write the demo files; return a summary.

    Refuses to touch an existing database that is not a demo database unless `force`.
    """
    started = time.perf_counter()
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{output_dir / 'workflow.db'}"
    desc = load_description()
    app = App(Settings(db_url=db_url, policies=policies, actor="admin", today=desc.demo_day))
    try:
        make_fresh(app, force=force)
        from workflow.setup import init

        init(app)
        with app.db.connect(write=True) as conn:  # a demo from here on, even if seeding fails
            set_meta(conn, DEMO_META_KEY, "seeding")
        the_plan = plan(desc, app.policy, app.calendar, projects=projects, seed=seed)
        # The notices module hooks itself onto the sweep (sweep.AFTER_CHANGES) on import: every
        # light change of the seeded days then issues its notice, as the daily scheduler would.
        import workflow.notices  # noqa: F401
        seeded = apply_plan(app, the_plan)
        day = the_plan.demo_day
        summary = supervision_summary(app, day)
        files = write_outputs(app, day, output_dir, seeded, summary)
        database = app.db.describe()
    finally:
        app.db.dispose()
    return {
        "city": desc.city.zh, "campaign": desc.campaign.name, "day": day.isoformat(),
        "seeded": seeded, **summary, "database": database,
        "files": {name: str(path) for name, path in files},
        "seconds": round(time.perf_counter() - started, 1),
    }


# -- a fresh database ------------------------------------------------------------------------

def make_fresh(app: App, *, force: bool = False) -> None:
    """Empty `app`'s database if it is a demo database (or `force`); refuse otherwise."""
    db = app.db
    if db.path is not None and not db.path.exists():
        return  # a new SQLite file: `init` creates it
    with db.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        is_demo = False
        if "meta" in tables:
            is_demo = conn.execute(
                sa.text("SELECT value FROM meta WHERE key = :k"), {"k": DEMO_META_KEY}
            ).first() is not None
    if not tables:
        return
    if not (is_demo or force):
        raise BadData(
            f"{db.describe()} holds a database that is not a demo database: "
            "give another --db or --output-dir, or pass --force to overwrite it"
        )
    if db.is_sqlite:
        path = Path(db.url.split("///", 1)[-1])
        db.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlmodel import SQLModel

    from workflow.store.models import load_all

    load_all()  # registers every table of the schema

    ours = {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version"}
    with db.connect(write=True) as conn:  # only workflow's tables: others in the database stay
        for name in sorted(ours & set(tables)):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')


# -- the supervision summary -----------------------------------------------------------------

def supervision_summary(app: App, day: date) -> dict[str, Any]:
    """Counts of open permits by light, the worst red permits and completion by permit type
    (the completion report's figures, `workflow report completion --by type`)."""
    from workflow.permits import _select_permits, view
    from workflow.report.completion import completion
    from workflow.store.models import Notice
    from workflow.store.queries import OPEN, live_light, permit_t

    policy, cal = app.policy, app.calendar
    light = live_light(day_number(day))
    with app.db.connect() as conn:
        inner = sa.select(light.label("light")).where(permit_t.c.phase.in_(OPEN)).subquery()
        counts = dict(conn.execute(
            sa.select(inner.c.light, sa.func.count()).group_by(inner.c.light)
        ).all())
        reds = conn.execute(
            _select_permits().where(permit_t.c.phase.in_(OPEN), light == "red")
        ).all()
        notice_t = Notice.__table__
        notices = dict(conn.execute(
            sa.select(notice_t.c.level, sa.func.count()).group_by(notice_t.c.level)
        ).all())
    report = completion(app, by="type", as_of=day)
    views = sorted((view(r, policy, cal, day) for r in reds),
                   key=lambda v: (-(v["overdue_days"] or 0), v["ref"]))
    lights = {k: counts.get(k, 0) for k in ("red", "yellow", "green")}
    keys = ("name", "required", "closed", "completion_rate", "on_time", "on_time_rate",
            "in_progress", "pending", "red", "yellow")
    by_type = [
        {"type": r["key"], "department": policy.permit_types[r["key"]].department,
         **{k: r[k] for k in keys}}
        for r in report["rows"]
    ]
    return {
        "lights": lights, "open": sum(lights.values()),
        "problems": problem_summary(app, day),
        "worst_red": [
            {k: v[k] for k in ("ref", "project_name", "district", "type_name", "department",
                                "responsible", "state", "accepted_on", "due_on",
                                "overdue_days")}
            for v in views[:WORST]
        ],
        "red_total": len(views),
        "completion": by_type,
        "completion_total": {k: report["total"][k] for k in keys},
        "notices": {level: notices.get(level, 0) for level in app.policy.escalation.levels},
    }


def problem_summary(app: App, day: date) -> dict[str, Any]:
    """Open problems by light as of `day`, the worst red ones, the problem counts and the
    projects' sentence of `workflow report summary`."""
    from workflow.problems import _select, problem_t, view
    from workflow.report.problems import summary
    from workflow.store.queries import OPEN, live_light

    policy, cal = app.policy, app.calendar
    light = live_light(day_number(day), problem_t)
    with app.db.connect() as conn:
        inner = sa.select(light.label("light")).where(problem_t.c.phase.in_(OPEN)).subquery()
        counts = dict(conn.execute(
            sa.select(inner.c.light, sa.func.count()).group_by(inner.c.light)
        ).all())
        reds = conn.execute(_select().where(problem_t.c.phase.in_(OPEN), light == "red")).all()
    views = sorted((view(r, policy, cal, day) for r in reds),
                   key=lambda v: (-(v["overdue_days"] or 0), v["id"]))
    lights = {k: counts.get(k, 0) for k in ("red", "yellow", "green")}
    leaders = summary(app)
    return {
        "lights": lights, "open": sum(lights.values()),
        "counts": leaders["problems"],
        "projects": {k: leaders[k] for k in ("projects", "with_problems", "solved",
                                             "under_coordination")},
        "sentence": leaders["sentence"], "sentence_zh": leaders["sentence_zh"],
        "worst_red": [
            {k: v[k] for k in ("ref", "project", "project_name", "category_name", "department",
                               "responsible", "text", "raised_on", "due_on", "overdue_days")}
            for v in views[:WORST_PROBLEMS]
        ],
        "red_total": len(views),
    }


# -- the files ---------------------------------------------------------------------------------

def write_outputs(
    app: App, day: date, output_dir: Path, seeded: dict, summary: dict
) -> list[tuple[str, Path]]:
    """Write the demo's files; return (what, path) pairs. One line per output."""
    from workflow.report.agenda import write_agenda
    from workflow.report.board import write_board
    from workflow.report.ledger import export as export_ledger
    from workflow.report.weekly import write_weekly

    files = [("summary", write_summary_markdown(output_dir / "summary.md", day, seeded, summary))]
    files.append(("wall chart", Path(write_board(app, output_dir / "board.html")["path"])))
    files.append(("weekly report",
                  Path(write_weekly(app, output_dir / "weekly-report.md", as_of=day)["path"])))
    files.append(("meeting agenda",
                  Path(write_agenda(app, output_dir / "agenda.md", as_of=day)["path"])))
    files.append(("ledger", Path(export_ledger(app, output_dir / "ledger.xlsx")["path"])))
    files.append(("notices", deliver_notices(app, output_dir / "notices")))
    return files


def deliver_notices(app: App, directory: Path) -> Path:
    """Deliver the notices the seeded sweeps issued through the file channel into `directory`.

    The file channel writes where WORKFLOW_NOTICE_DIR points; it is set for this call only.
    """
    import os

    from workflow.notify.outbox import deliver

    directory.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("WORKFLOW_NOTICE_DIR")
    os.environ["WORKFLOW_NOTICE_DIR"] = str(directory)
    try:
        deliver(app)
    finally:
        if saved is None:
            os.environ.pop("WORKFLOW_NOTICE_DIR", None)
        else:
            os.environ["WORKFLOW_NOTICE_DIR"] = saved
    return directory


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"


def write_summary_markdown(path: Path, day: date, seeded: dict, summary: dict) -> Path:
    """The supervision summary as a Markdown page (what the demo printed)."""
    lights = summary["lights"]
    lines = [
        f"# {seeded['campaign']}: supervision summary as of {day.isoformat()}",
        "",
        f"{seeded['projects']} projects, {seeded['permits']} permits, {seeded['moves']} moves, "
        f"{seeded['sweeps']} daily sweeps (seed {seeded['seed']}).",
        "",
        "## Open permits by light",
        "",
        "| red | yellow | green | open |",
        "| ---: | ---: | ---: | ---: |",
        f"| {lights['red']} | {lights['yellow']} | {lights['green']} | {summary['open']} |",
        "",
        f"## The worst red permits ({len(summary['worst_red'])} of {summary['red_total']})",
        "",
        "| permit | project | district | department | responsible | accepted | due | "
        "overdue (working days) |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    for r in summary["worst_red"]:
        lines.append(
            f"| {r['ref']} {r['type_name']} | {r['project_name']} | {r['district']} | "
            f"{r['department']} | {r['responsible'] or ''} | {r['accepted_on']} | "
            f"{r['due_on']} | {r['overdue_days']} |"
        )
    q = summary["problems"]
    c = q["counts"]
    lines += [
        "",
        "## Problems (问题清单)",
        "",
        f"{q['sentence']}: {c['raised']} problems raised, {c['solved']} solved "
        f"({c['struck_off']} struck off, {c['solved_late']} solved late), {c['open']} open.",
        "",
        "| red | yellow | green | open |",
        "| ---: | ---: | ---: | ---: |",
        f"| {q['lights']['red']} | {q['lights']['yellow']} | {q['lights']['green']} "
        f"| {q['open']} |",
        "",
        f"### The worst red problems ({len(q['worst_red'])} of {q['red_total']})",
        "",
        "| problem | project | category | owner | responsible | raised | due | "
        "overdue (working days) |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    for r in q["worst_red"]:
        lines.append(
            f"| {r['ref']} {r['text']} | {r['project_name']} | {r['category_name']} | "
            f"{r['department']} | {r['responsible'] or ''} | {r['raised_on']} | {r['due_on']} "
            f"| {r['overdue_days']} |"
        )
    lines += [
        "",
        "## Notices issued during the push",
        "",
        ", ".join(f"{level} {n}" for level, n in summary["notices"].items()) + ".",
        "",
        "## Completion by permit type",
        "",
        "Completion rate = closed ÷ required (waived and withdrawn permits are not required); "
        "on-time rate = closed on time ÷ closed.",
        "",
        "| permit type | department | required | closed | completion | on time | on-time rate "
        "| in progress | not accepted |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary["completion"]:
        lines.append(
            f"| {r['name']} ({r['type']}) | {r['department']} | {r['required']} | {r['closed']} "
            f"| {_pct(r['completion_rate'])} | {r['on_time']} | {_pct(r['on_time_rate'])} "
            f"| {r['in_progress']} | {r['pending']} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
