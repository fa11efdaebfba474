"""The completion report: known figures in every format, groupings, and past days."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from tests.report_helpers import load, row
from workflow.report.completion import completion, percent

ACC_APPROVAL = date(2026, 9, 1)  # county limit 5 working days: due 2026-09-08
ACC_ENERGY = date(2026, 8, 3)  # county limit 10 working days: due 2026-08-17


def population(app) -> None:
    """146 projects need approval, 114 closed; 104 need an energy review, 61 closed."""
    rows = []
    for i in range(149):
        code = f"P{i:03d}"
        district = "north" if i % 3 == 0 else "south"
        camp = "百日攻坚" if i < 50 else ""
        kw = {"district": district, "campaigns": camp}
        if i < 100:  # closed on time (4 working days)
            rows.append(row(code, "approval", "approved", accepted=ACC_APPROVAL,
                            closed=date(2026, 9, 7), **kw))
        elif i < 114:  # closed late (10 working days)
            state = "rejected" if i % 2 else "approved"
            rows.append(row(code, "approval", state, accepted=ACC_APPROVAL,
                            closed=date(2026, 9, 15), **kw))
        elif i < 122:  # red on 2026-11-20
            rows.append(row(code, "approval", "accepted", accepted=date(2026, 11, 2), **kw))
        elif i < 129:  # yellow: one working day left
            rows.append(row(code, "approval", "accepted", accepted=date(2026, 11, 16), **kw))
        elif i < 134:  # green
            rows.append(row(code, "approval", "accepted", accepted=date(2026, 11, 18), **kw))
        elif i < 140:  # suspended with 4 days left: green
            rows.append(row(code, "approval", "suspended", accepted=date(2026, 10, 26),
                            suspended=date(2026, 10, 28), **kw))
        elif i < 146:
            rows.append(row(code, "approval", "draft" if i % 2 else "preparing", **kw))
        elif i == 146:  # not required: not counted
            rows.append(row(code, "approval", "not_required", closed=date(2026, 11, 10), **kw))
        else:  # withdrawn after acceptance: not counted either
            rows.append(row(code, "approval", "withdrawn", accepted=date(2026, 11, 3),
                            closed=date(2026, 11, 10), **kw))
        if i < 50:
            rows.append(row(code, "energy", "approved", accepted=ACC_ENERGY,
                            closed=date(2026, 8, 10), **kw))
        elif i < 61:
            rows.append(row(code, "energy", "approved", accepted=ACC_ENERGY,
                            closed=date(2026, 9, 30), **kw))
        elif i < 91:
            rows.append(row(code, "energy", "accepted", accepted=date(2026, 11, 5), **kw))
        elif i < 104:
            rows.append(row(code, "energy", "draft", **kw))
        elif i < 109:
            rows.append(row(code, "energy", "not_required", closed=date(2026, 11, 9), **kw))
    load(app, rows)


def by_key(report: dict) -> dict:
    return {r["key"]: r for r in report["rows"]}


def test_known_figures(app):
    population(app)
    cal = app.calendar
    report = completion(app, by="type")
    rows = by_key(report)
    a, e = rows["approval"], rows["energy"]
    assert (a["required"], a["closed"], a["completion_rate"]) == (146, 114, 78.08)
    assert (e["required"], e["closed"], e["completion_rate"]) == (104, 61, 58.65)
    assert (a["in_progress"], a["pending"]) == (26, 6)
    assert (e["in_progress"], e["pending"]) == (30, 13)
    assert (a["on_time"], a["on_time_rate"]) == (100, 87.72)
    assert (e["on_time"], e["on_time_rate"]) == (50, 81.97)
    assert (a["red"], a["yellow"]) == (8, 7)
    late = cal.ordinal(date(2026, 9, 30)) - cal.ordinal(ACC_ENERGY)
    assert e["avg_days_to_close"] == round((50 * 5 + 11 * late) / 61, 2)
    assert a["avg_days_to_close"] == 4.74  # (100 * 4 + 14 * 10) / 114
    total = report["total"]
    assert (total["required"], total["closed"], total["completion_rate"]) == (250, 175, 70.0)
    assert report["from_log"] is False


def test_every_format_shows_the_same_figures(sqlite_app, tmp_path):
    from tests.conftest import Runner

    app, run = sqlite_app, Runner(sqlite_app.settings.db_url)
    population(app)
    out = run("report", "completion", "--by", "type", "--json", "--lang", "en")
    assert out.exit_code == 0, out.output
    data = {r["key"]: r for r in json.loads(out.output)["rows"]}
    assert data["approval"]["completion_rate"] == 78.08
    assert data["energy"]["completion_rate"] == 58.65

    out = run("report", "completion", "--csv", "--lang", "en")
    rows = {r["Permit type"]: r for r in csv.DictReader(io.StringIO(out.output))}
    approval = rows["Project approval / registration"]
    assert (approval["Required"], approval["Closed"], approval["Completion rate (%)"]) == (
        "146", "114", "78.08")
    energy = rows["Energy-conservation review"]
    assert (energy["Required"], energy["Closed"], energy["Completion rate (%)"]) == (
        "104", "61", "58.65")

    out = run("report", "completion", "--md")  # default language: zh
    lines = [x for x in out.output.splitlines() if x.startswith("| 项目立项")]
    assert [c.strip() for c in lines[0].strip("|").split("|")][1:6] == [
        "146", "114", "26", "6", "78.08"]
    assert any(x.startswith("| 节能审查 | 104 | 61 |") and "| 58.65 |" in x
               for x in out.output.splitlines())

    from openpyxl import load_workbook

    path = tmp_path / "completion.xlsx"
    out = run("report", "completion", "--xlsx", str(path))
    assert out.exit_code == 0, out.output
    ws = load_workbook(path).active
    values = {r[0]: r for r in ws.iter_rows(values_only=True) if r and r[0]}
    assert values["项目立项（核准/备案）"][1:6] == (146, 114, 26, 6, 78.08)
    assert values["节能审查"][1:3] == (104, 61) and values["节能审查"][5] == 58.65
    assert values["合计"][1:3] == (250, 175)


def test_groupings_and_campaign_filter(app):
    population(app)
    dept = by_key(completion(app, by="department"))
    assert set(dept) == {"drc"}  # both permit types belong to the DRC
    assert (dept["drc"]["required"], dept["drc"]["closed"]) == (250, 175)

    district = by_key(completion(app, by="district"))
    assert district["north"]["required"] + district["south"]["required"] == 250
    north = [i for i in range(149) if i % 3 == 0]
    assert district["north"]["closed"] == sum(i < 114 for i in north) + sum(i < 61 for i in north)

    camp = completion(app, by="campaign")
    rows = by_key(camp)
    assert (rows["百日攻坚"]["required"], rows["百日攻坚"]["closed"]) == (100, 100)
    assert rows[None]["required"] == 150 and camp["total"]["required"] == 250

    only = completion(app, by="type", campaign="百日攻坚")
    assert only["total"]["required"] == 100
    assert by_key(only)["approval"]["completion_rate"] == 100.0


def test_a_past_day_is_read_from_the_event_log(app):
    population(app)
    report = completion(app, by="type", as_of=date(2026, 9, 10))
    assert report["from_log"] is True
    rows = by_key(report)
    a, e = rows["approval"], rows["energy"]
    # on 2026-09-10 the 14 late approvals were still open and red; later permits did not exist
    assert (a["required"], a["closed"], a["in_progress"], a["red"]) == (114, 100, 14, 14)
    assert a["completion_rate"] == 87.72 and a["on_time_rate"] == 100.0
    assert (e["required"], e["closed"], e["in_progress"], e["red"]) == (61, 50, 11, 11)
    assert report["total"]["red"] == 25


def test_report_matches_permits_moved_through_the_library(app):
    from tests.helpers import permit, project, setup_departments

    setup_departments(app)
    for code in ("A", "B", "C", "D"):
        project(app, code, district="x")
    permit(app, "A", "eia", ("accept", date(2026, 11, 2)), ("approve", date(2026, 11, 6)))
    permit(app, "B", "eia", ("accept", date(2026, 10, 12)))  # red
    permit(app, "C", "eia", ("accept", date(2026, 11, 2)),
           ("suspend", date(2026, 11, 3), {"reason": "补正"}))
    permit(app, "D", "eia", ("waive", date(2026, 11, 3), {"reason": "n/a"}))
    e = by_key(completion(app, by="type"))["eia"]
    assert (e["required"], e["closed"], e["in_progress"], e["pending"]) == (3, 1, 2, 0)
    assert (e["red"], e["on_time"], e["completion_rate"]) == (1, 1, 33.33)
    assert e["avg_days_to_close"] == 4.0


def test_percent_rounds_half_up():
    assert percent(114, 146) == 78.08
    assert percent(61, 104) == 58.65
    assert percent(1, 8) == 12.5 and percent(1, 800) == 0.13
    assert percent(0, 0) is None


@pytest.mark.parametrize("args,message", [
    (("--by", "nothing"), "Invalid value"),
    (("--campaign", "no such"), "unknown campaign"),
])
def test_bad_arguments(run, args, message):
    out = run("report", "completion", *args)
    assert out.exit_code != 0 and message in out.output


def reference(app, as_of: date, by: str) -> dict:
    """The report computed the slow way: fold every permit's events up to `as_of` in Python."""
    import sqlalchemy as sa

    from workflow.domain.clock import read_clock
    from workflow.permits import fold
    from workflow.store.events import event_t, permit_t

    policy, cal = app.policy, app.calendar
    out: dict = {}
    with app.db.connect() as conn:
        permits = {r.id: r for r in conn.execute(sa.select(permit_t))}
        events: dict[int, list] = {}
        for e in conn.execute(sa.select(event_t).order_by(event_t.c.permit_id, event_t.c.seq)):
            events.setdefault(e.permit_id, []).append(e)
    for pid, evs in events.items():
        if min(e.on for e in evs) > as_of:
            continue
        kept = [e for e in evs if e.kind == "create" or e.on <= as_of]
        facts, _ = fold(kept, policy, cal)
        p = permits[pid]
        ptype = policy.permit_types[p.type]
        reading = read_clock(facts.clock(cal), cal, ptype.warning, as_of)
        g = out.setdefault(getattr(p, by), dict.fromkeys(
            ("required", "closed", "in_progress", "pending", "on_time", "red", "yellow"), 0))
        phase = facts.phase.value
        if phase == "void":
            continue
        g["required"] += 1
        if phase == "closed":
            g["closed"] += 1
            g["on_time"] += reading.light.value == "green"
        elif phase == "pending":
            g["pending"] += 1
        else:
            g["in_progress"] += 1
            if reading.light.value in ("red", "yellow"):
                g[reading.light.value] += 1
    return out


def test_sql_report_equals_folding_every_permit(app):
    """Mixed histories (pauses, extensions, sweeps): SQL agrees with the Python fold every day."""
    import random

    from tests.helpers import permit, project, setup_departments
    from workflow.sweep import sweep

    setup_departments(app)
    rnd = random.Random(5)
    types = ["eia", "approval", "energy", "safety", "power"]
    start = date(2026, 10, 5)
    for i in range(24):
        code = f"M{i:02d}"
        project(app, code)
        for type_ in rnd.sample(types, 3):
            day = start.toordinal() + rnd.randrange(0, 20)
            moves = [("accept", date.fromordinal(day))]
            for _ in range(rnd.randrange(0, 4)):
                day += rnd.randrange(1, 16)
                if day > date(2026, 11, 20).toordinal():
                    break
                last = moves[-1][0]
                on = date.fromordinal(day)
                if last == "suspend":
                    moves.append(("resume", on))
                else:
                    event = rnd.choice(["suspend", "extend", "approve", "reject"])
                    extra = {"reason": "r"}
                    if event == "extend":
                        extra["days"] = 2
                    if event == "approve" and last == "suspend":
                        continue
                    moves.append((event, on, extra))
                    if event in ("approve", "reject"):
                        break
            luck = rnd.random()
            if luck < 0.1:
                moves = [("waive", moves[0][1], {"reason": "n/a"})]
            elif luck < 0.2:
                moves = [("prepare", moves[0][1])] if luck < 0.15 else []
            permit(app, code, type_, *moves)
    for d in (date(2026, 10, 20), date(2026, 11, 2), date(2026, 11, 16)):
        sweep(app, day=d)
    for as_of in (date(2026, 10, 16), date(2026, 10, 30), date(2026, 11, 11), date(2026, 11, 20)):
        for by in ("type", "department"):
            got = {r["key"]: {k: r[k] for k in ("required", "closed", "in_progress", "pending",
                                                 "on_time", "red", "yellow")}
                   for r in completion(app, by=by, as_of=as_of)["rows"]}
            want = {k: v for k, v in reference(app, as_of, by).items()}
            assert got == want, (as_of, by)


def test_a_past_day_after_a_calendar_load_reads_the_lights_of_the_new_calendar(sqlite_app,
                                                                                tmp_path):
    """A calendar load keeps open lights until the sweep logs a change: a light cached on the
    old calendar must not stand in for the report's."""
    from tests.conftest import make_app
    from tests.helpers import permit, project, setup_departments
    from workflow import permits
    from workflow.calendars import load as load_calendar
    from workflow.sweep import sweep

    app = sqlite_app
    setup_departments(app)
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 11, 2)), level="municipal")
    for day in (20, 24, 26):
        sweep(app, day=date(2026, 11, day))
    (tmp_path / "cn-2026.yaml").write_text(
        "name: cn-mainland\nyears:\n  2026:\n    holidays:\n      2026-11-10: Local holiday\n"
        "    workdays: {}\n", encoding="utf-8")
    url = app.settings.db_url
    load_calendar(make_app(url, today=date(2026, 11, 26)), tmp_path / "cn-2026.yaml")
    shown = permits.show(make_app(url, today=date(2026, 11, 24)), "P1/eia")
    report = completion(make_app(url, today=date(2026, 11, 26)), by="type",
                        as_of=date(2026, 11, 24))
    (eia,) = [r for r in report["rows"] if r["key"] == "eia"]
    assert (eia["red"], eia["yellow"]) == (int(shown["light"] == "red"),
                                           int(shown["light"] == "yellow"))
