"""The wall chart (挂图作战): one self-contained HTML page of every project's permit chain.

Each project is a row; its permits sit in prerequisite order (`Policy.type_order`), one column
per permit type, coloured by light. The page needs no network: CSS and JS are inline. Every
user string goes through Jinja2's autoescaping, so a project called `<script>` shows as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflow.app import App
from workflow.errors import BadData
from workflow.report.i18n import LABELS, check_lang, light_name, t

TEMPLATES = Path(__file__).resolve().parent / "templates"


def board_data(app: App, lang: str) -> dict[str, Any]:
    """The projects, their permits in prerequisite order and the summary, as plain data."""
    from workflow.permits import view
    from workflow.projects import _load, _summary

    policy, cal, today = app.policy, app.calendar, app.today()
    order = policy.type_order()
    from workflow.permits import ensure_calendar_current

    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        loaded = _load(conn)
    from workflow.problems import open_by_project

    open_problems = open_by_project(app, lang)  # shown beside the permits, worst first
    projects = []
    used_types: set[str] = set()
    districts: set[str] = set()
    for project, permits, camps in loaded:
        summary = _summary(app, project, permits, camps)
        cells = {}
        for p in permits:
            v = view(p, policy, cal, today)
            used_types.add(p.type)
            state = policy.lifecycle.states.get(p.state)
            live = v["light"] if v["phase"] in ("running", "paused") else "none"
            cells[p.type] = {
                "type": p.type, "department": p.department, "phase": v["phase"],
                "state": (state.zh if lang == "zh" else state.en) if state else p.state,
                "light": v["light"], "live": live, "light_name": light_name(v["light"], lang),
                "due_on": v.get("due_on"), "remaining_days": v.get("remaining_days"),
                "overdue_days": v.get("overdue_days"),
            }
        if project.district:
            districts.add(project.district)
        projects.append({**summary, "cells": cells,
                         "problems": open_problems.get(project.code, [])})
    types = [c for c in order if c in used_types]
    return {
        "lang": lang, "today": today.isoformat(),
        "types": [{"code": c, "name": policy.permit_types[c].name(lang),
                   "department": policy.permit_types[c].department} for c in types],
        "departments": [{"code": c, "name": d.name(lang)} for c, d in policy.departments.items()],
        "districts": sorted(districts),
        "projects": projects,
        "summary": summarise(projects),
    }


def summarise(projects: list[dict]) -> dict[str, Any]:
    """Counts over projects as the page's summary strip shows them (its JS does the same).

    Permits: required, closed, in progress, pending and open ones by light. Problems: the open
    ones (the only ones the chart shows) by their live light, `problems_red` and so on.
    """
    from workflow.report.completion import percent

    s = {"projects": len(projects), "required": 0, "closed": 0, "in_progress": 0,
         "pending": 0, "red": 0, "yellow": 0, "green": 0,
         "at_risk": sum(1 for p in projects if p["at_risk"]),
         "problems": 0, "problems_red": 0, "problems_yellow": 0, "problems_green": 0}
    for p in projects:
        for q in p["problems"]:
            s["problems"] += 1
            if q["light"] in ("red", "yellow", "green"):
                s[f"problems_{q['light']}"] += 1
    for p in projects:
        for c in p["cells"].values():
            if c["phase"] == "void":
                continue
            s["required"] += 1
            if c["phase"] == "closed":
                s["closed"] += 1
            elif c["phase"] == "pending":
                s["pending"] += 1
            else:
                s["in_progress"] += 1
                if c["live"] in ("red", "yellow", "green"):
                    s[c["live"]] += 1
    s["completion_rate"] = percent(s["closed"], s["required"])
    return s


def render_board(app: App, lang: str | None = None) -> tuple[str, dict]:
    """Return the wall chart's HTML and its data."""
    import jinja2

    lang = check_lang(lang, app.policy.settings.language)
    data = board_data(app, lang)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    labels = {k: (v[0] if lang == "zh" else v[1]) for k, v in LABELS.items()}
    office = app.policy.settings.office
    html = env.get_template("board.html.j2").render(
        **data, t=labels, office=office.zh if lang == "zh" else office.en,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return html, data


def write_board(app: App, path: Path | str, *, lang: str | None = None) -> dict[str, Any]:
    """Write the wall chart to `path`; return its summary counts."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise BadData(f"{path}: the wall chart is written as .html")
    html, data = render_board(app, lang)
    path.write_text(html, encoding="utf-8")
    s = data["summary"]
    return {"path": str(path), "lang": data["lang"], "projects": s["projects"],
            "permits": sum(len(p["cells"]) for p in data["projects"]),
            "problems": s["problems"], "summary": s,
            "title": t("board_title", data["lang"])}
