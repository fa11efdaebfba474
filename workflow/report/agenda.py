"""The weekly joint meeting's agenda (联席会议议程): per department, its red and yellow permits
and problems, the notices it has not answered, and what it closed since the last meeting.

The meeting day comes from `policies/problems.yaml` (`meeting.weekday`). The agenda written as of
day D is for the first meeting day on or after D; "since the last meeting" is the window from the
previous meeting day (seven days earlier, itself included) through D. Lights are live as of D,
by the same SQL as the sweep and `permit list --light`.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.domain.clock import Phase
from workflow.errors import BadData
from workflow.store.models import Permit, Problem, Project
from workflow.store.queries import OPEN, live_light

permit_t = Permit.__table__
problem_t = Problem.__table__
project_t = Project.__table__
AWAITING = ("issued", "acknowledged")  # notice statuses that still expect a response


def meeting_days(app: App, as_of: date) -> tuple[date, date]:
    """Return (next meeting on or after `as_of`, the meeting before it)."""
    weekday = app.policy.problems.meeting_weekday
    meeting = as_of + timedelta(days=(weekday - as_of.weekday()) % 7)
    return meeting, meeting - timedelta(days=7)


def agenda(app: App, *, as_of: date | None = None, lang: str | None = None) -> dict[str, Any]:
    """The agenda as plain data: one entry per department that has anything to discuss."""
    from workflow import permits, problems

    policy, cal = app.policy, app.calendar
    as_of = as_of or app.today()
    lang = lang or policy.settings.language
    if lang not in ("zh", "en"):
        raise BadData(f"unknown language {lang!r} (zh, en)")
    meeting, last = meeting_days(app, as_of)
    today = day_number(as_of)
    permit_live = live_light(today, permit_t)
    problem_live = live_light(today, problem_t)
    with app.db.connect() as conn:
        hot_permits = conn.execute(
            permits._select_permits()
            .where(permit_t.c.phase.in_(OPEN), permit_live.in_(("red", "yellow")))
            .order_by(permit_t.c.department, project_t.c.code, permit_t.c.type)
        ).all()
        hot_problems = conn.execute(
            problems._select()
            .where(problem_t.c.phase.in_(OPEN), problem_live.in_(("red", "yellow")))
            .order_by(problem_t.c.department, project_t.c.code, problem_t.c.id)
        ).all()
        closed_permits = conn.execute(
            permits._select_permits()
            .where(permit_t.c.phase == Phase.CLOSED.value,
                   permit_t.c.closed_on.between(last, as_of))
            .order_by(permit_t.c.department, permit_t.c.closed_on, project_t.c.code)
        ).all()
        closed_problems = conn.execute(
            problems._select()
            .where(problem_t.c.phase == Phase.CLOSED.value,
                   sa.or_(problem_t.c.closed_on.between(last, as_of),
                          problem_t.c.last_move_on.between(last, as_of)))
            .order_by(problem_t.c.department, problem_t.c.closed_on, problem_t.c.id)
        ).all()
        notices = _awaiting_notices(conn, as_of)
    sections: dict[str, dict[str, list]] = {}

    def dept(code: str) -> dict[str, list]:
        return sections.setdefault(code, {"permits": [], "problems": [], "notices": [],
                                          "closed": []})

    for r in hot_permits:
        v = permits.view(r, policy, cal, as_of)
        dept(r.department)["permits"].append(_permit_item(v, policy, lang))
    for r in hot_problems:
        v = problems.view(r, policy, cal, as_of, lang)
        dept(r.department)["problems"].append(_problem_item(v))
    for r in closed_permits:
        v = permits.view(r, policy, cal, as_of)
        item = _permit_item(v, policy, lang)
        item.update(kind="permit", closed_on=v["closed_on"])
        dept(r.department)["closed"].append(item)
    for r in closed_problems:
        v = problems.view(r, policy, cal, as_of, lang)
        item = _problem_item(v)
        item.update(kind="problem", closed_on=v["closed_on"])
        dept(r.department)["closed"].append(item)
    for n in notices:
        dept(n["department"])["notices"].append(n)
    for s in sections.values():
        for key in ("permits", "problems"):
            s[key].sort(key=lambda i: (i["light"] != "red", -(i["overdue_days"] or 0),
                                       i["remaining_days"] or 0, i["ref"]))
    departments = []
    for code, d in policy.departments.items():
        if code in sections:
            departments.append({"code": code, "name": d.name(lang), **sections[code]})
    items = sum(len(d[k]) for d in departments for k in ("permits", "problems", "notices",
                                                          "closed"))
    return {
        "as_of": as_of.isoformat(), "meeting_on": meeting.isoformat(),
        "last_meeting_on": last.isoformat(), "lang": lang,
        "office": policy.settings.office.zh if lang == "zh" else policy.settings.office.en,
        "departments": departments, "items": items,
    }


def _permit_item(v: dict, policy, lang: str) -> dict:
    ptype = policy.permit_types.get(v["type"])
    return {
        "kind": "permit", "ref": v["ref"], "project": v["project"],
        "project_name": v["project_name"], "what": ptype.name(lang) if ptype else v["type"],
        "responsible": v["responsible"], "state": v["state"], "due_on": v["due_on"],
        "remaining_days": v["remaining_days"], "overdue_days": v["overdue_days"],
        "light": v["light"],
    }


def _problem_item(v: dict) -> dict:
    return {
        "kind": "problem", "ref": v["ref"], "project": v["project"],
        "project_name": v["project_name"], "what": f"{v['category_name']}: {v['text']}",
        "responsible": v["responsible"], "state": v["state"], "due_on": v["due_on"],
        "remaining_days": v["remaining_days"], "overdue_days": v["overdue_days"],
        "light": v["light"],
    }


def _awaiting_notices(conn, as_of: date) -> list[dict]:
    """Notices issued by `as_of` and not yet responded to nor closed, per department of their
    matters (empty when the notice tables are absent)."""
    try:
        from workflow.store.models import Notice, NoticeMatter
    except ImportError:  # a build without notices
        return []
    notice_t, matter_t = Notice.__table__, NoticeMatter.__table__
    rows = conn.execute(
        sa.select(notice_t.c.id, notice_t.c.number, notice_t.c.level, notice_t.c.issued_on,
                  notice_t.c.time_limit, notice_t.c.status, matter_t.c.department,
                  sa.func.count().label("matters"))
        .join(matter_t, matter_t.c.notice_id == notice_t.c.id)
        .where(notice_t.c.status.in_(AWAITING), notice_t.c.issued_on <= as_of)
        .group_by(notice_t.c.id, notice_t.c.number, notice_t.c.level, notice_t.c.issued_on,
                  notice_t.c.time_limit, notice_t.c.status, matter_t.c.department)
        .order_by(matter_t.c.department, notice_t.c.issued_on, notice_t.c.id)
    ).all()
    return [
        {"number": r.number, "level": r.level, "issued_on": r.issued_on.isoformat(),
         "time_limit": r.time_limit.isoformat() if r.time_limit else None,
         "status": r.status, "department": r.department, "matters": r.matters,
         "time_limit_passed": bool(r.time_limit and r.time_limit < as_of)}
        for r in rows
    ]


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "title": ("联席会议议程", "Joint meeting agenda"),
    "meeting": ("会议日期", "Meeting on"),
    "as_of": ("统计截至", "As of"),
    "since": ("上次会议", "Last meeting"),
    "permits": ("红黄灯审批事项", "Red and yellow permits"),
    "problems": ("红黄灯问题", "Red and yellow problems"),
    "notices": ("待反馈督办通知", "Notices awaiting response"),
    "closed": ("上次会议以来办结/销号", "Closed since the last meeting"),
    "none": ("本周无议题。", "Nothing to discuss this week."),
}
ITEM_COLUMNS = {
    "ref": ("编号", "ref"), "project_name": ("项目", "project"), "what": ("事项", "matter"),
    "responsible": ("责任人", "responsible"), "state": ("状态", "state"),
    "due_on": ("到期日", "due"), "remaining_days": ("剩余工作日", "days left"),
    "overdue_days": ("超期工作日", "overdue"), "light": ("亮灯", "light"),
}
NOTICE_COLUMNS = {
    "number": ("文号", "number"), "level": ("层级", "level"), "issued_on": ("下发日期", "issued"),
    "time_limit": ("整改时限", "time limit"), "status": ("状态", "status"),
    "matters": ("事项数", "matters"),
}
CLOSED_COLUMNS = {
    "ref": ("编号", "ref"), "project_name": ("项目", "project"), "what": ("事项", "matter"),
    "state": ("状态", "state"), "closed_on": ("办结日期", "closed on"),
    "light": ("亮灯", "light"),
}
SECTIONS = (("permits", ITEM_COLUMNS), ("problems", ITEM_COLUMNS), ("notices", NOTICE_COLUMNS),
            ("closed", CLOSED_COLUMNS))


def _label(key: str, lang: str) -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def _columns(spec: dict, lang: str) -> list[tuple[str, str]]:
    return [(k, zh if lang == "zh" else en) for k, (zh, en) in spec.items()]


def agenda_markdown(data: dict) -> str:
    from workflow.report.render import to_markdown

    lang = data["lang"]
    lines = [
        f"# {data['office']} {_label('title', lang)}", "",
        f"{_label('meeting', lang)}: {data['meeting_on']}  ",
        f"{_label('as_of', lang)}: {data['as_of']}  ",
        f"{_label('since', lang)}: {data['last_meeting_on']}", "",
    ]
    if not data["departments"]:
        lines.append(_label("none", lang))
    for d in data["departments"]:
        lines += [f"## {d['name']}", ""]
        for key, spec in SECTIONS:
            if d[key]:
                lines += [f"### {_label(key, lang)}", "",
                          to_markdown(_columns(spec, lang), d[key])]
    return "\n".join(lines).rstrip() + "\n"


def agenda_xlsx(data: dict, path: Path) -> None:
    """One sheet per department, its sections one under another (bold titles and headers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from workflow.report.render import safe_text

    lang = data["lang"]
    wb = Workbook()
    ws = wb.active
    ws.title = _label("title", lang)[:31]
    ws.append([safe_text(f"{data['office']} {_label('title', lang)}")])
    ws["A1"].font = Font(bold=True, size=13)
    for key in ("meeting", "as_of", "since"):
        value = {"meeting": "meeting_on", "as_of": "as_of", "since": "last_meeting_on"}[key]
        ws.append([_label(key, lang), data[value]])
    if not data["departments"]:
        ws.append([_label("none", lang)])
    for d in data["departments"]:
        sheet = wb.create_sheet(title=_sheet_title(d, wb))
        sheet.append([safe_text(d["name"])])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
        for key, spec in SECTIONS:
            if not d[key]:
                continue
            sheet.append([])
            sheet.append([_label(key, lang)])
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
            cols = _columns(spec, lang)
            sheet.append([h for _, h in cols])
            for c in range(1, len(cols) + 1):
                sheet.cell(row=sheet.max_row, column=c).font = Font(bold=True)
            for item in d[key]:
                sheet.append([safe_text(item.get(k)) for k, _ in cols])
        for c, width in zip("ABCDEFGHI", (16, 28, 40, 12, 14, 12, 10, 10, 8), strict=False):
            sheet.column_dimensions[c].width = width
    wb.save(path)


def _sheet_title(d: dict, wb) -> str:
    bad = set("[]:*?/\\")
    title = "".join(ch for ch in d["name"] if ch not in bad)[:31] or d["code"]
    return title if title not in wb.sheetnames else d["code"][:31]


def write_agenda(
    app: App, path: Path | str, *, as_of: date | None = None, lang: str | None = None
) -> dict[str, Any]:
    """Write the agenda to FILE.md or FILE.xlsx; return its figures and the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".md", ".xlsx"):
        raise BadData(f"{path}: the agenda is written as .md or .xlsx")
    if not path.parent.is_dir():
        raise BadData(f"{path}: no directory {path.parent}")
    data = agenda(app, as_of=as_of, lang=lang)
    if suffix == ".md":
        path.write_text(agenda_markdown(data), encoding="utf-8")
    else:
        agenda_xlsx(data, path)
    return {**data, "path": str(path)}


def scheduled_agenda(app: App, day: date) -> dict[str, Any]:
    """Weekly scheduler hook: write the agenda for the next meeting into the policy's
    `meeting.agenda_directory` (relative to the scheduler's working directory) as
    `agenda-<meeting day>.md`; nothing when no directory is set."""
    directory = app.policy.problems.agenda_directory
    if not directory:
        return {"agenda": None}
    meeting, _ = meeting_days(app, day)
    Path(directory).mkdir(parents=True, exist_ok=True)
    result = write_agenda(app, Path(directory) / f"agenda-{meeting.isoformat()}.md", as_of=day)
    return {"agenda": result["path"], "meeting_on": result["meeting_on"],
            "items": result["items"]}

