"""Problem reports, computed in SQL: counts per project, owner or category, and the project
summary leaders quote ("60 projects, 50 with problems, 38 solved, 12 under coordination").

Definitions (also in docs/problems.md), over the problem table as it stands on the report day
(today, or `as_of`):

* raised: every problem except withdrawn ones (phase void: raised by mistake);
* solved: raised problems in a closed-phase state (resolved, or struck off);
* struck off: solved problems in a final state (no event leaves it: `closed`, 销号);
* open (under coordination): raised problems whose clock runs or is paused;
* overdue: open problems whose live light today is red (past their promised limit);
* solved late: solved problems whose final light is red (resolved after the due date);
* solve rate: solved / raised (None when nothing was raised).

A past `as_of` day D counts the problems raised by D. Those not moved since D are counted in
SQL from their rows (lights as of D by the sweep's expression); the few moved after D are
replayed from their event log up to D (`problems.replay`, the replay permits use) and counted
in Python, with their state and light of that day.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.domain.clock import Phase, read_clock
from workflow.report.completion import percent
from workflow.store.models import Problem, Project
from workflow.store.queries import OPEN, live_light

problem_t = Problem.__table__
project_t = Project.__table__
CLOSED = Phase.CLOSED.value
VOID = Phase.VOID.value


def final_states(app: App) -> list[str]:
    """Closed-phase problem states that no event leaves: struck off (销号)."""
    lc = app.policy.problems.lifecycle
    left = {s for e in lc.events.values() for s in e.sources}
    return [s.name for s in lc.states.values() if s.phase == Phase.CLOSED and s.name not in left]


def _count(cond):
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


MEASURES = ("raised", "solved", "struck_off", "open", "overdue", "solved_late")


def _measures(app: App, as_of: date | None = None):
    today = day_number(as_of or app.today())
    raised = problem_t.c.phase != VOID
    solved = problem_t.c.phase == CLOSED
    open_ = problem_t.c.phase.in_(OPEN)
    return [
        _count(raised).label("raised"),
        _count(solved).label("solved"),
        _count(problem_t.c.state.in_(final_states(app))).label("struck_off"),
        _count(open_).label("open"),
        _count(sa.and_(open_, live_light(today, problem_t) == "red")).label("overdue"),
        _count(sa.and_(solved, problem_t.c.light == "red")).label("solved_late"),
    ]


GROUPS = {
    "project": lambda: (project_t.c.code, project_t.c.name),
    "owner": lambda: (problem_t.c.department,),
    "category": lambda: (problem_t.c.category,),
}


def problem_report(
    app: App, *, by: str = "owner", lang: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    """Raised, solved, struck off, open, overdue and solved-late problems and the solve rate per
    project, owner department or category, with a total row, as of `as_of` (default today)."""
    from workflow.errors import BadData
    from workflow.permits import check_in_calendar

    if by not in GROUPS:
        raise BadData(f"unknown grouping {by!r} (by: {', '.join(GROUPS)})")
    policy = app.policy
    lang = lang or policy.settings.language
    as_of = as_of or app.today()
    check_in_calendar(as_of, "--as-of")
    keys = GROUPS[by]()
    measures = _measures(app, as_of)
    # rows raised by the report day and not moved since: their cached facts are that day's
    fresh = sa.and_(problem_t.c.raised_on <= as_of, problem_t.c.last_move_on <= as_of)
    moved = sa.and_(problem_t.c.raised_on <= as_of, problem_t.c.last_move_on > as_of)
    joined = problem_t.join(project_t, project_t.c.id == problem_t.c.project_id)
    stmt = (
        sa.select(*keys, *measures).select_from(joined).where(fresh)
        .group_by(*keys).order_by(*keys)
    )
    total_stmt = sa.select(*measures).select_from(problem_t).where(fresh)
    with app.db.connect() as conn:
        groups = {tuple(r[:len(keys)]): r._asdict() for r in conn.execute(stmt)}
        total = conn.execute(total_stmt).one()._asdict()
        replayed = _replayed(app, conn, as_of, keys, moved)
    for key, counts in replayed:  # the problems moved after the report day, as they were then
        row = groups.setdefault(key, {**dict(zip((k.name for k in keys), key, strict=True)),
                                      **dict.fromkeys(MEASURES, 0)})
        for k, n in counts.items():
            row[k] = (row[k] or 0) + n
            total[k] = (total[k] or 0) + n
    out = []
    for _, d in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        if by == "project":
            d = {"key": d.pop("code"), "name": d.pop("name"), **d}
        elif by == "owner":
            code = d.pop("department")
            dept = policy.departments.get(code)
            d = {"key": code, "name": dept.name(lang) if dept else code, **d}
        else:
            code = d.pop("category")
            d = {"key": code, "name": policy.problems.category_name(code, lang), **d}
        out.append(_finish(d))
    return {
        "by": by, "as_of": as_of.isoformat(), "lang": lang, "rows": out,
        "total": _finish({"key": "total", "name": "合计" if lang == "zh" else "Total",
                          **total}),
    }


def _replayed(app: App, conn, as_of: date, keys, where) -> list[tuple[tuple, dict[str, int]]]:
    """(group key, measures) of each problem moved after `as_of`, from its log up to that day."""
    from workflow.problems import _select, replay

    rows = conn.execute(_select().where(where)).all()
    if not rows:
        return []
    past = replay(conn, app, rows, as_of)
    rules, cal = app.policy.problems, app.calendar
    final = set(final_states(app))
    names = {"code": "project_code", "name": "project_name"}  # _select's labels
    out = []
    for r in rows:
        facts = past[r.id]
        light = read_clock(facts.clock(cal), cal, rules.warning, as_of).light.value
        phase = facts.phase.value
        open_, solved = phase in OPEN, phase == CLOSED
        counts = {
            "raised": int(phase != VOID), "solved": int(solved),
            "struck_off": int(solved and facts.state in final), "open": int(open_),
            "overdue": int(open_ and light == "red"),
            "solved_late": int(solved and light == "red"),
        }
        out.append((tuple(getattr(r, names.get(k.name, k.name)) for k in keys), counts))
    return out


def _finish(d: dict) -> dict:
    d = {k: (int(v) if k not in ("key", "name") else v) for k, v in d.items()}
    d["solve_rate"] = percent(d["solved"], d["raised"])
    return d


def problem_table(report: dict) -> tuple[list[tuple[str, str]], list[dict]]:
    zh = report["lang"] == "zh"
    columns = [
        ("key", {"project": "项目代码", "owner": "责任单位", "category": "类别"}[report["by"]]
         if zh else report["by"]),
        ("name", "名称" if zh else "name"),
        ("raised", "问题数" if zh else "raised"),
        ("solved", "已解决" if zh else "solved"),
        ("struck_off", "已销号" if zh else "struck off"),
        ("open", "协调中" if zh else "open"),
        ("overdue", "超期" if zh else "overdue"),
        ("solved_late", "超期解决" if zh else "solved late"),
        ("solve_rate", "解决率%" if zh else "solve rate %"),
    ]
    return columns, [*report["rows"], report["total"]]


def summary(app: App) -> dict[str, Any]:
    """The project summary, every count from one SQL pass (definitions in docs/problems.md).

    Projects: `projects` registered; `with_problems` with at least one raised problem;
    `solved` of those, projects with no open problem left; `under_coordination` projects with at
    least one open problem (so solved + under_coordination = with_problems). Problems: raised,
    solved, open, overdue as in `problem_report`.
    """
    raised = problem_t.c.phase != VOID
    per_project = (
        sa.select(problem_t.c.project_id,
                  _count(problem_t.c.phase.in_(OPEN)).label("n_open"))
        .where(raised).group_by(problem_t.c.project_id).subquery("pp")
    )
    with app.db.connect() as conn:
        projects = conn.execute(sa.select(sa.func.count()).select_from(project_t)).scalar_one()
        pp = conn.execute(
            sa.select(sa.func.count().label("with_problems"),
                      _count(per_project.c.n_open == 0).label("solved"),
                      _count(per_project.c.n_open > 0).label("under_coordination"))
        ).one()
        problems = conn.execute(sa.select(*_measures(app)).select_from(problem_t)).one()
    p = {k: int(v) for k, v in problems._asdict().items()}
    n, m, k, l_ = projects, int(pp.with_problems), int(pp.solved), int(pp.under_coordination)
    zh = (f"{n}个项目，{m}个存在问题，{k}个已解决，{l_}个正在协调；"
          f"共梳理问题{p['raised']}个，已解决{p['solved']}个（已销号{p['struck_off']}个），"
          f"正在协调{p['open']}个，其中超期{p['overdue']}个")
    en = f"{n} projects, {m} with problems, {k} solved, {l_} under coordination"
    en_problems = (f"{p['raised']} problems raised, {p['solved']} solved "
                   f"({p['struck_off']} struck off), {p['open']} under coordination, "
                   f"{p['overdue']} overdue")
    lang = app.policy.settings.language
    return {
        "as_of": app.today().isoformat(),
        "projects": n, "with_problems": m, "solved": k, "under_coordination": l_,
        "problems": {**p, "solve_rate": percent(p["solved"], p["raised"])},
        "sentence": en, "sentence_problems": en_problems, "sentence_zh": zh,
        "lang": lang,
    }
