"""The weekly report: closings, new reds, the slowest department, risks and notices."""

from __future__ import annotations

from datetime import UTC, date

from tests.helpers import permit, project, setup_departments
from workflow.report.weekly import weekly, write_weekly
from workflow.sweep import sweep


def week_population(app) -> None:
    setup_departments(app)
    project(app, "W1", name="城南污水厂", district="south", planned_start=date(2026, 11, 27))
    project(app, "W2", name="Ring road", district="north")
    # turns red on 2026-11-17 (county eia: 10 working days from 11-02, due 11-16)
    permit(app, "W1", "eia", ("accept", date(2026, 11, 2)))
    # closed this week: one on time, one late; one closed before the week
    permit(app, "W2", "eia", ("accept", date(2026, 11, 10)), ("approve", date(2026, 11, 18)))
    permit(app, "W2", "approval", ("accept", date(2026, 11, 9)), ("approve", date(2026, 11, 19)))
    permit(app, "W1", "approval", ("accept", date(2026, 11, 2)), ("approve", date(2026, 11, 5)))
    permit(app, "W1", "land_prereview")  # 7 working days still to go, 5 before the start
    sweep(app, day=date(2026, 11, 13))
    sweep(app, day=date(2026, 11, 17))


def test_weekly_sections(app):
    week_population(app)
    r = weekly(app, as_of=date(2026, 11, 20), lang="en")
    assert (r["week_start"], r["week_end"]) == ("2026-11-14", "2026-11-20")
    assert [(c["project"], c["type"], c["light"]) for c in r["closings"]] == [
        ("W2", "eia", "green"), ("W2", "approval", "red")]
    assert [(x["project"], x["type"], x["red_on"]) for x in r["new_reds"]] == [
        ("W1", "eia", "2026-11-17")]
    # drc closed 2, one late (50.00 %); eeb closed 1 on time: drc is the slowest
    assert [(x["key"], x["on_time_rate"]) for x in r["ranking"]] == [("drc", 50.0),
                                                                     ("eeb", 100.0)]
    assert r["slowest"]["name"] == "Development and Reform Bureau"
    assert [p["project"] for p in r["at_risk"]] == ["W1"]
    # with notices merged, the week's sweep issued one supervision notice (W1's red EIA)
    assert r["notices"] == {"available": True, "issued": 1, "closed": 0}


def test_weekly_markdown_and_xlsx(app, tmp_path):
    week_population(app)
    md = tmp_path / "week.md"
    write_weekly(app, md, as_of=date(2026, 11, 20))
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# 限时办结周报")
    assert "按期办结率最低的部门: 发展和改革局 (50.00)" in text
    assert "| W1 | 城南污水厂 | 环境影响评价审批 | 生态环境局 | 2026-11-17 |" in text
    assert "本周下发: 1" in text  # notices are merged: the week's supervision notice

    from openpyxl import load_workbook

    xlsx = tmp_path / "week.xlsx"
    write_weekly(app, xlsx, as_of=date(2026, 11, 20), lang="en")
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["Summary", "Closed this week", "New reds this week",
                             "Departments by on-time rate",
                             "Projects at risk of missing plann"[:31]]
    closed = [r for r in wb["Closed this week"].iter_rows(values_only=True)]
    assert closed[0][0] == "Project" and [r[0] for r in closed[1:]] == ["W2", "W2"]
    ranking = list(wb["Departments by on-time rate"].iter_rows(values_only=True))
    assert ranking[1][:5] == (1, "Development and Reform Bureau", 2, 1, 50.0)


def test_weekly_counts_notices_when_the_table_exists(sqlite_app, tmp_path):
    app = sqlite_app
    from datetime import datetime

    from workflow.store.models import Notice

    closed = datetime(2026, 11, 18, 3, tzinfo=UTC)
    rows = [(date(2026, 11, 16), None), (date(2026, 11, 1), closed), (date(2026, 11, 2), None)]
    with app.db.connect(write=True) as conn:  # the notice table of the merged notices (0002)
        conn.execute(Notice.__table__.insert(), [
            {"number": f"N{i}", "series": "supervision", "year": 2026, "seq": i,
             "level": "supervision", "addressee_kind": "department", "addressee": "eeb",
             "department": "eeb", "issued_on": issued, "bulletin": False,
             "status": "closed" if closed_at else "issued", "closed_at": closed_at,
             "created_at": closed}
            for i, (issued, closed_at) in enumerate(rows, 1)
        ])
    r = weekly(app, as_of=date(2026, 11, 20))
    assert r["notices"] == {"available": True, "issued": 1, "closed": 1}
    md = tmp_path / "w.md"
    write_weekly(app, md, as_of=date(2026, 11, 20), lang="en")
    assert "- Issued this week: 1" in md.read_text(encoding="utf-8")


def test_weekly_cli(run, tmp_path):
    out = run("report", "weekly", "--as-of", "2026-11-20", "--output", str(tmp_path / "w.md"))
    assert out.exit_code == 0 and "week 2026-11-14 to 2026-11-20" in out.output
    out = run("report", "weekly", "--output", str(tmp_path / "w.txt"))
    assert out.exit_code == 1 and ".md or .xlsx" in out.output
