"""The weekly report (限时办结周报): what closed, what turned red, who is slowest, what is at risk.

The week is the seven days ending on the report day (`as_of`, default today), both included,
so a report made every Friday covers Saturday to Friday. The scheduler calls `write_weekly`.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.domain.lifecycle import ClockEffect
from workflow.errors import BadData
from workflow.report.completion import _completion, json_text
from workflow.report.i18n import check_lang, light_name, t
from workflow.report.render import md_escape, to_markdown, write_sheet
from workflow.store.events import event_t, permit_t
from workflow.store.models import Project
from workflow.store.queries import cal_t

project_t = Project.__table__
WEEK_DAYS = 7
NOTICE_ISSUED = ("issued_on", "issued_at", "created_on", "created_at")
NOTICE_CLOSED = ("closed_on", "closed_at", "resolved_on", "resolved_at")


def weekly(app: App, *, as_of: date | None = None, lang: str | None = None) -> dict[str, Any]:
    """Return the weekly report's sections as plain data."""
    policy = app.policy
    lang = check_lang(lang, policy.settings.language)
    as_of = as_of or app.today()
    start = as_of - timedelta(days=WEEK_DAYS - 1)
    closing_events = [e.name for e in policy.lifecycle.events.values()
                      if e.clock == ClockEffect.CLOSE]
    with app.db.connect(snapshot=True) as conn:  # every section as of one snapshot
        summary = _completion(app, conn, by="department", campaign=None, as_of=as_of, lang=lang)
        closings = _closings(conn, app, lang, start, as_of, closing_events)
        reds = _new_reds(conn, app, lang, start, as_of)
        notices = notice_counts(conn, start, as_of)
    ranking = sorted(
        (r for r in summary["rows"] if r["closed"]),
        key=lambda r: (r["on_time_rate"], -r["closed"], r["key"] or ""),
    )
    for i, r in enumerate(ranking, 1):
        r["rank"] = i
    slowest = ranking[0] if len(ranking) > 1 else None  # "slowest" of one says nothing
    at_risk = _at_risk(app, as_of)
    return {
        "report": "weekly", "lang": lang, "title": t("weekly_title", lang),
        "office": policy.settings.office.zh if lang == "zh" else policy.settings.office.en,
        "week_start": start.isoformat(), "week_end": as_of.isoformat(),
        "total": summary["total"], "closings": closings, "new_reds": reds,
        "ranking": ranking, "slowest": slowest, "at_risk": at_risk, "notices": notices,
    }


def _names(app: App, lang: str, row) -> dict[str, Any]:
    policy = app.policy
    ptype = policy.permit_types.get(row.type)
    dept = policy.departments.get(row.department)
    return {
        "project": row.code, "project_name": row.name,
        "permit": ptype.name(lang) if ptype else row.type,
        "department": dept.name(lang) if dept else row.department,
        "type": row.type, "department_code": row.department,
    }


def _closings(conn: Connection, app: App, lang: str, start: date, end: date,
              events: list[str]) -> list[dict]:
    acc = cal_t.alias("acc")
    cls = cal_t.alias("cls")
    rows = conn.execute(
        sa.select(
            event_t.c.on, permit_t.c.type, permit_t.c.department, permit_t.c.light,
            permit_t.c.state, project_t.c.code, project_t.c.name,
            (cls.c.ordinal - acc.c.ordinal - permit_t.c.paused_days).label("days"),
        )
        .select_from(
            event_t.join(permit_t, permit_t.c.id == event_t.c.permit_id)
            .join(project_t, project_t.c.id == permit_t.c.project_id)
            .outerjoin(acc, acc.c.day == permit_t.c.accepted_on)
            .outerjoin(cls, cls.c.day == permit_t.c.closed_on)
        )
        .where(event_t.c.kind == "move", event_t.c.event.in_(events),
               event_t.c.on >= day_number(start), event_t.c.on <= day_number(end))
        .order_by(event_t.c.on, project_t.c.code, permit_t.c.type)
    ).all()
    return [
        {**_names(app, lang, r), "closed_on": r.on.isoformat(), "state": r.state,
         "light": r.light, "light_name": light_name(r.light, lang), "days_to_close": r.days}
        for r in rows
    ]


def _new_reds(conn: Connection, app: App, lang: str, start: date, end: date) -> list[dict]:
    to = json_text(conn, event_t.c.data, "to")
    remaining = json_text(conn, event_t.c.data, "remaining_days")
    rows = conn.execute(
        sa.select(
            event_t.c.on, remaining.label("remaining"), permit_t.c.type, permit_t.c.department,
            project_t.c.code, project_t.c.name,
        )
        .select_from(
            event_t.join(permit_t, permit_t.c.id == event_t.c.permit_id)
            .join(project_t, project_t.c.id == permit_t.c.project_id)
        )
        .where(event_t.c.kind == "light", to == "red",
               event_t.c.on >= day_number(start), event_t.c.on <= day_number(end))
        .order_by(event_t.c.on, project_t.c.code, permit_t.c.type)
    ).all()
    out = []
    for r in rows:
        overdue = -int(r.remaining) if r.remaining not in (None, "") else None
        out.append({**_names(app, lang, r), "red_on": r.on.isoformat(),
                    "overdue_days": overdue})
    return out


def _at_risk(app: App, as_of: date) -> list[dict]:
    from workflow import projects

    on_day = App(dataclasses.replace(app.settings, today=as_of))
    on_day.__dict__["policy"] = app.policy  # same snapshot, no second load
    on_day.__dict__["db"] = app.db
    rows = projects.list_(on_day, at_risk=True)
    return [
        {"project": r["code"], "project_name": r["name"], "district": r["district"],
         "planned_start": r["planned_start"], "countdown_days": r["countdown_days"],
         "critical_path_days": r["critical_path_days"], "light": r["light"]}
        for r in rows
    ]


def notice_counts(conn: Connection, start: date, end: date) -> dict[str, Any]:
    """Notices issued and closed in the week, if this database has a notice table.

    Reads whichever issue and close date columns the table has (day numbers, dates or
    timestamps), so it works with the notice tables whatever their final shape.
    """
    inspector = sa.inspect(conn)
    if "notice" not in inspector.get_table_names():
        return {"available": False, "issued": None, "closed": None}
    columns = {c["name"]: c["type"] for c in inspector.get_columns("notice")}
    table = sa.table("notice", *(sa.column(name) for name in columns))
    out: dict[str, Any] = {"available": True, "issued": None, "closed": None}
    for key, candidates in (("issued", NOTICE_ISSUED), ("closed", NOTICE_CLOSED)):
        name = next((c for c in candidates if c in columns), None)
        if name is None:
            continue
        col = table.c[name]
        kind = columns[name]
        if isinstance(kind, sa.Integer):
            lo, hi = day_number(start), day_number(end)
            cond = sa.and_(col >= lo, col <= hi)
        elif isinstance(kind, sa.DateTime):
            lo_t = datetime.combine(start, time.min)
            hi_t = datetime.combine(end + timedelta(days=1), time.min)
            cond = sa.and_(col >= lo_t, col < hi_t)
        else:
            cond = sa.and_(col >= start, col <= end)
        out[key] = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(cond))
                       .scalar() or 0)
    return out


# -- writing -----------------------------------------------------------------------------------

def _sections(report: dict) -> list[tuple[str, list[tuple[str, str]], list[dict]]]:
    lang = report["lang"]
    c = lambda *keys: [(k, t(k, lang)) for k in keys]  # noqa: E731
    permit_cols = [("project", t("project", lang)), ("project_name", ""),
                   ("permit", t("permit", lang)), ("department", t("by.department", lang))]
    return [
        (t("closings", lang), permit_cols + c("closed_on", "days_to_close")
         + [("light_name", t("light", lang))], report["closings"]),
        (t("new_reds", lang), permit_cols + c("red_on", "overdue_days"), report["new_reds"]),
        (t("ranking", lang), [("rank", t("rank", lang)), ("name", t("by.department", lang))]
         + c("closed", "on_time", "on_time_rate", "required", "completion_rate", "red"),
         report["ranking"]),
        (t("at_risk", lang), [("project", t("project", lang)), ("project_name", ""),
                              ("district", t("by.district", lang))]
         + c("planned_start", "countdown_days", "critical_path_days"), report["at_risk"]),
    ]


def _notice_lines(report: dict) -> list[str]:
    lang, n = report["lang"], report["notices"]
    if not n["available"]:
        return [t("no_notices", lang)]
    return [f"{t('notices_issued', lang)}: {'-' if n['issued'] is None else n['issued']}",
            f"{t('notices_closed', lang)}: {'-' if n['closed'] is None else n['closed']}"]


def _summary_lines(report: dict) -> list[str]:
    lang, total = report["lang"], report["total"]
    rate = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    lines = [
        f"{t('required', lang)} {total['required']}, {t('closed', lang)} {total['closed']}, "
        f"{t('in_progress', lang)} {total['in_progress']}, {t('pending', lang)} "
        f"{total['pending']}; {t('completion_rate', lang)} {rate(total['completion_rate'])}, "
        f"{t('on_time_rate', lang)} {rate(total['on_time_rate'])}; {t('red', lang)} "
        f"{total['red']}, {t('yellow', lang)} {total['yellow']}",
    ]
    if report["slowest"]:
        s = report["slowest"]
        lines.append(f"{t('slowest', lang)}: {s['name']} ({rate(s['on_time_rate'])})")
    return lines


def weekly_markdown(report: dict) -> str:
    lang = report["lang"]
    out = [f"# {report['title']}", "",
           f"{md_escape(report['office'])} · {t('week', lang)}: {report['week_start']} – "
           f"{report['week_end']}", "", f"## {t('summary', lang)}", ""]
    out += [f"- {md_escape(x)}" for x in _summary_lines(report)]
    for title, columns, rows in _sections(report):
        out += ["", f"## {title}", ""]
        out.append(to_markdown(columns, rows).rstrip("\n") if rows else t("nothing", lang))
    out += ["", f"## {t('notices', lang)}", ""] + [f"- {x}" for x in _notice_lines(report)]
    return "\n".join(out) + "\n"


def weekly_xlsx(report: dict, path: Path) -> None:
    from openpyxl import Workbook

    lang = report["lang"]
    wb = Workbook()
    ws = wb.active
    ws.title = t("summary", lang)[:31]
    ws.append([report["title"]])
    ws.append([f"{t('week', lang)}: {report['week_start']} – {report['week_end']}"])
    for line in _summary_lines(report) + _notice_lines(report):
        ws.append([line])
    for title, columns, rows in _sections(report):
        sheet = wb.create_sheet(title[:31])
        light = "light" if any("light" in r for r in rows) else None
        write_sheet(sheet, columns, rows, light_key=light)
    wb.save(path)


def write_weekly(app: App, path: Path | str, *, as_of: date | None = None,
                 lang: str | None = None) -> dict[str, Any]:
    """Build the weekly report and write it to `path` (.md or .xlsx); return its data."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".md", ".xlsx"):
        raise BadData(f"{path}: the weekly report is written as .md or .xlsx")
    report = weekly(app, as_of=as_of, lang=lang)
    if suffix == ".md":
        path.write_text(weekly_markdown(report), encoding="utf-8")
    else:
        weekly_xlsx(report, path)
    report["path"] = str(path)
    return report
