"""The problem ledger: problems run on the permit clock, their refusals change nothing, the
summary leaders quote matches the list, one notice lists a department's red permits and red
problems together, and the agenda of the joint meeting."""

import json
import random
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import dump
from tests.helpers import as_actor, project, setup_departments
from workflow import permits, problems
from workflow.errors import BadData, InvalidMove, NotAllowed, NotFound, WorkflowError
from workflow.store.models import Problem
from workflow.sweep import sweep

D = date

# One table of clock cases, run through a permit and a problem alike: (start, promised working
# days, moves as (event, day), then the light the sweep must set on each day, in order).
CLOCK_CASES = {
    "running": (
        D(2026, 11, 2), 10, [],
        [(D(2026, 11, 5), "green"), (D(2026, 11, 10), "green"), (D(2026, 11, 11), "yellow"),
         (D(2026, 11, 16), "yellow"), (D(2026, 11, 17), "red")],
    ),
    "raised on a holiday, make-up Saturday counts": (
        D(2026, 10, 1), 5, [],
        [(D(2026, 10, 8), "green"), (D(2026, 10, 9), "yellow"), (D(2026, 10, 11), "yellow"),
         (D(2026, 10, 13), "yellow"), (D(2026, 10, 14), "red")],
    ),
    "a pause freezes the clock": (
        D(2026, 11, 2), 10, [("suspend", D(2026, 11, 4)), ("resume", D(2026, 11, 9))],
        [(D(2026, 11, 6), "green"), (D(2026, 11, 13), "green"), (D(2026, 11, 16), "yellow"),
         (D(2026, 11, 19), "yellow"), (D(2026, 11, 20), "red")],
    ),
    "an extension moves the due date": (
        D(2026, 11, 2), 5, [("extend", D(2026, 11, 4))],
        [(D(2026, 11, 4), "green"), (D(2026, 11, 10), "green"), (D(2026, 11, 11), "yellow"),
         (D(2026, 11, 16), "yellow"), (D(2026, 11, 17), "red")],
    ),
}


def test_permit_and_problem_warning_rules_are_the_same_in_the_shipped_policy(app):
    # the shared table below relies on it: eia and problems both warn at 3 remaining days
    assert app.policy.permit_types["eia"].warning == app.policy.problems.warning


@pytest.mark.parametrize("case", list(CLOCK_CASES))
def test_permit_and_problem_go_green_yellow_red_by_the_same_sweep(app, case):
    start, days, moves, expected = CLOCK_CASES[case]
    project(app, "P1")
    ref = "P1/eia"
    permits.add(app, "P1", "eia", promised_days=days)
    permits.advance(app, ref, "accept", on=start)
    q = problems.add(app, "P1", category="environment", owner="eeb", days=days, on=start,
                     text="Sewer outfall")["id"]
    pending = list(moves)
    seen = []
    for day, _ in expected:
        while pending and pending[0][1] <= day:
            event, on = pending.pop(0)
            kw = {"reason": "test"} if event in ("suspend", "extend") else {}
            if event == "extend":
                kw["days"] = 5
            permits.advance(app, ref, event, on=on, **kw)  # the same move on both
            problems.advance(app, q, event, on=on, **kw)
        sweep(app, day=day)
        p = permits.show(app, ref)
        pr = problems.show(app, q)
        assert p["due_on"] == pr["due_on"]
        with app.db.connect() as conn:
            stored_permit = conn.execute(sa.text("SELECT light FROM permit")).scalar_one()
            stored_problem = conn.execute(sa.text("SELECT light FROM problem")).scalar_one()
        seen.append((day.isoformat(), stored_permit, stored_problem))
    assert seen == [(d.isoformat(), light, light) for d, light in expected]
    # the sweep logged the same light changes, on the same days, in both event logs

    def lights(history):
        return [(e["on"], e["data"]["from"], e["data"]["to"]) for e in history
                if e["kind"] == "light"]

    assert lights(problems.history(app, q)) == lights(permits.history(app, ref))
    assert lights(problems.history(app, q))[-1][2] == "red"


def test_promised_date_converts_to_working_days(app):
    setup_departments(app)
    project(app, "P1")
    # by a working day: due that day; by a Saturday: due the Friday before
    a = problems.add(app, "P1", category="land", owner="nrp", by=D(2026, 12, 4),
                     on=D(2026, 11, 20), text="Compensation agreement")
    assert (a["due_on"], a["promised_days"]) == ("2026-12-04", 10)
    assert a["promised_by"] == "2026-12-04"
    b = problems.add(app, "P1", category="land", owner="nrp", by=D(2026, 12, 5),
                     on=D(2026, 11, 20), text="Second plot")
    assert (b["due_on"], b["promised_days"]) == ("2026-12-04", 10)


def refusals(app):
    clerk = as_actor(app, "clerk.grid")
    office = as_actor(app, "office")
    reader = as_actor(app, "reader")
    return [
        (clerk, lambda a: problems.add(a, "P1", category="power", owner="nrp", days=5,
                                       text="x"), NotAllowed),
        (reader, lambda a: problems.add(a, "P1", category="power", owner="grid", days=5,
                                        text="x"), NotAllowed),
        (office, lambda a: problems.add(a, "P1", category="roads", owner="grid", days=5,
                                        text="x"), BadData),
        (office, lambda a: problems.add(a, "P9", category="power", owner="grid", days=5,
                                        text="x"), NotFound),
        (office, lambda a: problems.add(a, "P1", category="power", owner="grid", days=5,
                                        by=D(2026, 12, 1), text="x"), BadData),
        (office, lambda a: problems.add(a, "P1", category="power", owner="grid",
                                        by=D(2026, 11, 20), text="x"), BadData),
        (office, lambda a: problems.add(a, "P1", category="power", owner="grid", days=5,
                                        on=D(2026, 11, 21), text="x"), BadData),
        (office, lambda a: problems.add(a, "P1", category="power", owner="grid", days=5,
                                        text="  "), BadData),
        (clerk, lambda a: problems.advance(a, 1, "close"), NotAllowed),
        (app, lambda a: problems.advance(a, 1, "close"), NotAllowed),
        (office, lambda a: problems.advance(a, 2, "close"), InvalidMove),
        (as_actor(app, "clerk.nrp"), lambda a: problems.advance(a, 2, "resolve"), NotAllowed),
        (clerk, lambda a: problems.advance(a, 2, "extend", days=3, reason="x"), NotAllowed),
        (office, lambda a: problems.advance(a, 2, "extend", days=30, reason="x"), NotAllowed),
        (office, lambda a: problems.advance(a, 2, "withdraw"), BadData),
        (office, lambda a: problems.advance(a, 2, "resolve", on=D(2026, 11, 1)), BadData),
        (office, lambda a: problems.advance(a, 2, "resolve", expect_version=0), WorkflowError),
        (office, lambda a: problems.advance(a, 99, "resolve"), NotFound),
        (office, lambda a: problems.advance(a, "x", "resolve"), BadData),
    ]


def test_refusals_change_nothing(app):
    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    problems.add(office, "P1", category="power", owner="grid", days=5, on=D(2026, 11, 10),
                 text="Relocate poles")
    problems.advance(office, 1, "resolve", on=D(2026, 11, 12))
    problems.add(office, "P1", category="power", owner="grid", days=5, on=D(2026, 11, 10),
                 text="Second feeder")
    before = dump(app.settings.db_url)
    for who, action, error in refusals(app):
        with pytest.raises(error):
            action(who)
        assert dump(app.settings.db_url) == before


def test_only_a_supervisor_strikes_a_problem_off(app):
    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.grid")
    office = as_actor(app, "office")
    q = problems.add(clerk, "P1", category="power", owner="grid", days=5, on=D(2026, 11, 16),
                     text="Relocate poles", responsible="Wang")["id"]
    problems.advance(clerk, q, "coordinate", on=D(2026, 11, 17))
    done = problems.advance(clerk, q, "resolve", on=D(2026, 11, 19))
    assert (done["state"], done["light"], done["closed_on"]) == ("resolved", "green", "2026-11-19")
    for who in (clerk, app):  # the department that solved it, and the admin, may not 销号
        with pytest.raises(NotAllowed, match="may not close"):
            problems.advance(who, q, "close")
    closed = problems.advance(office, q, "close")
    assert closed["state"] == "closed" and closed["solved"]
    assert closed["closed_on"] == "2026-11-19"  # striking off does not move the clock
    events = [(e["event"], e["actor"]) for e in problems.history(app, q)]
    assert events == [("raise", "clerk.grid"), ("coordinate", "clerk.grid"),
                      ("resolve", "clerk.grid"), ("close", "office")]


def test_reopen_runs_the_clock_as_if_it_never_stopped(app):
    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    q = problems.add(office, "P1", category="water", owner="hud", days=5, on=D(2026, 11, 2),
                     text="Water main")["id"]
    problems.advance(office, q, "resolve", on=D(2026, 11, 5))
    again = problems.advance(office, q, "reopen", on=D(2026, 11, 16), reason="still dry")
    assert again["state"] == "coordinating" and again["closed_on"] is None
    assert (again["due_on"], again["overdue_days"], again["light"]) == ("2026-11-09", 9, "red")


def test_the_event_log_is_append_only_and_rebuilds_the_row(app):
    from workflow.rebuild import rebuild

    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    q = problems.add(office, "P1", category="gas", owner="grid", days=5, on=D(2026, 11, 2),
                     text="Gas")["id"]
    problems.advance(office, q, "suspend", on=D(2026, 11, 3), reason="waiting for the city")
    problems.advance(office, q, "resume", on=D(2026, 11, 9))
    problems.advance(office, q, "extend", on=D(2026, 11, 10), days=2, reason="agreed")
    sweep(app, day=D(2026, 11, 20))
    assert rebuild(app, check_only=True, problems=True)["problems"] == {
        "checked": 1, "differing": 0}
    with pytest.raises(Exception, match="append-only"):
        with app.db.connect(write=True) as conn:
            conn.execute(sa.text("UPDATE problem_event SET actor = 'x'"))
    # a tampered cache is put right from the log
    with app.db.connect(write=True) as conn:
        conn.execute(sa.text("UPDATE problem SET due_on = due_on + 5, light = 'green'"))
    assert rebuild(app, check_only=True, problems=True)["problems"]["differing"] == 1
    assert rebuild(app, problems=True)["problems"]["rebuilt"] == 1
    assert rebuild(app, check_only=True, problems=True)["problems"]["differing"] == 0
    with app.db.connect() as conn:
        chain = conn.execute(sa.text(
            "SELECT seq, prev_hash, hash FROM problem_event ORDER BY seq")).all()
    assert [c.seq for c in chain] == list(range(1, len(chain) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:], strict=False))


# -- the summary leaders quote, against the list -------------------------------------------------

def seeded(app, seed: int = 7, n: int = 24):
    """Projects with none, one or several problems moved at random through the lifecycle."""
    rng = random.Random(seed)
    setup_departments(app)
    office = as_actor(app, "office")
    cats = list(app.policy.problems.categories)
    depts = list(app.policy.departments)
    for i in range(n):
        code = f"S{i:03d}"
        project(app, code)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            start = D(2026, 10, 12) + timedelta(days=rng.randint(0, 30))
            q = problems.add(office, code, category=rng.choice(cats), owner=rng.choice(depts),
                             days=rng.randint(2, 15), on=start, text="seeded")["id"]
            day = start
            for event in rng.choice([[], ["coordinate"], ["resolve"], ["coordinate", "resolve"],
                                     ["resolve", "close"], ["withdraw"], ["coordinate",
                                     "resolve", "reopen"]]):
                day = min(day + timedelta(days=rng.randint(0, 6)), D(2026, 11, 20))
                kw = {"reason": "seeded"} if event in ("withdraw", "reopen") else {}
                problems.advance(office, q, event, on=day, **kw)
    sweep(app, day=D(2026, 11, 20))


def test_summary_matches_counts_from_problem_list(app, run):
    seeded(app)
    listed = json.loads(run("problem", "list", "--json").output)
    by_project: dict[str, list[dict]] = {}
    for p in listed:
        if p["state"] != "withdrawn":
            by_project.setdefault(p["project"], []).append(p)
    open_states = {"open", "coordinating", "suspended"}
    under = {c for c, ps in by_project.items() if any(p["state"] in open_states for p in ps)}
    raised = [p for ps in by_project.values() for p in ps]
    expected = {
        "projects": 24,
        "with_problems": len(by_project),
        "solved": len(by_project) - len(under),
        "under_coordination": len(under),
    }
    result = json.loads(run("report", "summary", "--json").output)
    assert {k: result[k] for k in expected} == expected
    assert result["problems"]["raised"] == len(raised)
    assert result["problems"]["solved"] == sum(p["state"] in ("resolved", "closed")
                                               for p in raised)
    assert result["problems"]["struck_off"] == sum(p["state"] == "closed" for p in raised)
    assert result["problems"]["open"] == sum(p["state"] in open_states for p in raised)
    assert result["problems"]["overdue"] == sum(
        p["state"] in open_states and p["light"] == "red" for p in raised)
    assert 0 < expected["under_coordination"] < expected["with_problems"] < 24  # a real mix
    text = run("report", "summary").output
    assert (f"24 projects, {expected['with_problems']} with problems, {expected['solved']} "
            f"solved, {expected['under_coordination']} under coordination") in text
    # the grouped report adds up to the same totals, whatever the grouping
    for by in ("project", "owner", "category"):
        rep = json.loads(run("report", "problems", "--by", by, "--json").output)
        assert rep["total"]["raised"] == len(raised)
        assert sum(r["open"] for r in rep["rows"]) == result["problems"]["open"]
        assert sum(r["overdue"] for r in rep["rows"]) == result["problems"]["overdue"]


# -- the report as of a past day, from the log -------------------------------------------------

def test_report_as_of_a_past_day_shows_problems_as_they_stood(app, run):
    """A problem resolved after day D counts as open on D, red if it was overdue then; one
    struck off after D as solved, not struck off; one raised after D not at all."""
    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    late = problems.add(office, "P1", category="power", owner="grid", days=3,
                        on=D(2026, 11, 2), text="Poles")["id"]  # due 5 November
    soon = problems.add(office, "P1", category="gas", owner="grid", days=5,
                        on=D(2026, 11, 2), text="Gas")["id"]  # due 9 November
    done = problems.add(office, "P1", category="water", owner="grid", days=5,
                        on=D(2026, 11, 2), text="Water")["id"]
    problems.advance(office, done, "resolve", on=D(2026, 11, 4))
    problems.add(office, "P1", category="land", owner="grid", days=5, on=D(2026, 11, 10),
                 text="Raised later")
    sweep(app, day=D(2026, 11, 9))
    problems.advance(office, late, "resolve", on=D(2026, 11, 12))  # 5 working days late
    problems.advance(office, soon, "resolve", on=D(2026, 11, 9))   # on its due day
    problems.advance(office, done, "close", on=D(2026, 11, 16))
    day = "2026-11-06"
    # the list replays each problem as of that day: the same facts the report counts
    listed = {r["id"]: (r["state"], r["light"]) for r in json.loads(
        run("problem", "list", "--json", today=D(2026, 11, 6)).output)}
    assert listed[late] == ("open", "red") and listed[soon] == ("open", "yellow")
    assert listed[done] == ("resolved", "green")

    def total(*args) -> dict:
        r = run("report", "problems", "--by", "owner", *args, "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["total"]

    then = total("--as-of", day)
    counted = ("raised", "solved", "struck_off", "open", "overdue", "solved_late")
    assert [then[k] for k in counted] == [3, 1, 0, 2, 1, 0]
    assert then["solve_rate"] == 33.33
    # today: the three solved, the late one with its red final light; the one raised later
    # is overdue now
    now = total()
    assert [now[k] for k in counted] == [4, 3, 1, 1, 1, 1]
    assert run("report", "problems", "--as-of", day, "--md").output.count("grid") == 1
    # the day it was raised the problem is counted; the day before it is not
    assert total("--as-of", "2026-11-02")["raised"] == 3
    assert total("--as-of", "2026-10-30")["raised"] == 0
    r = run("report", "problems", "--as-of", "1999-12-31")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert r.output.startswith("Error: --as-of 1999-12-31 is outside the calendar")


def test_report_as_of_any_day_agrees_with_the_list_replayed_to_that_day(app, run):
    seeded(app, seed=5, n=30)
    raised_on = {r["id"]: r["raised_on"] for r in json.loads(
        run("problem", "list", "--json").output)}
    for day in [D(2026, 10, 9), D(2026, 10, 19), D(2026, 10, 30), D(2026, 11, 6),
                D(2026, 11, 13), D(2026, 11, 20)]:
        rows = [r for r in json.loads(run("problem", "list", "--json", today=day).output)
                if raised_on[r["id"]] <= day.isoformat()]
        for by, key in (("owner", "department"), ("project", "project"),
                        ("category", "category")):
            report = json.loads(run("report", "problems", "--by", by, "--as-of",
                                    day.isoformat(), "--json").output)
            expected: dict = {}
            for r in rows:
                e = expected.setdefault(r[key], dict.fromkeys(
                    ("raised", "solved", "struck_off", "open", "overdue", "solved_late"), 0))
                raised = r["phase"] != "void"
                solved = r["phase"] == "closed"
                open_ = r["phase"] in ("running", "paused")
                e["raised"] += raised
                e["solved"] += solved
                e["struck_off"] += r["state"] == "closed"
                e["open"] += open_
                e["overdue"] += open_ and r["light"] == "red"
                e["solved_late"] += solved and r["light"] == "red"
            got = {g["key"]: {k: g[k] for k in e} for g in report["rows"]}
            assert got == expected, (day, by)
        assert report["as_of"] == day.isoformat()


def test_problem_list_filters_agree_with_the_light(app, run):
    seeded(app, seed=3, n=12)
    every = json.loads(run("problem", "list", "--json").output)
    for light in ("red", "yellow", "green"):
        rows = json.loads(run("problem", "list", "--light", light, "--json").output)
        # the light shown: live for open problems, the final one for solved ones
        assert sorted(r["id"] for r in rows) == sorted(
            r["id"] for r in every if r["light"] == light)
    owner = every[0]["department"]
    rows = json.loads(run("problem", "list", "--owner", owner, "--json").output)
    assert rows and all(r["department"] == owner for r in rows)


# -- CLI -----------------------------------------------------------------------------------------

def test_cli_add_advance_show_history(run):
    assert run("actor", "add", "office", "--role", "supervisor").exit_code == 0
    assert run("actor", "add", "li.grid", "--role", "department",
               "--department", "grid").exit_code == 0
    assert run("project", "add", "P1", "--name", "Ring road").exit_code == 0
    r = run("problem", "add", "P1", "--category", "power", "--owner", "grid", "--days", "5",
            "--text", "迁改两基10千伏电杆", "--responsible", "王工", "--on", "2026-11-10",
            actor="li.grid")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Q1 P1 power: due 2026-11-17")
    r = run("problem", "add", "P1", "--category", "power", "--owner", "grid", "--text", "x")
    assert r.exit_code == 1 and r.output.strip() == (
        "Error: give exactly one of --days N (working days) or --by DATE")
    r = run("problem", "advance", "1", "coordinate", "--on", "2026-11-12", actor="li.grid")
    assert r.exit_code == 0, r.output
    r = run("problem", "advance", "Q1", "close", actor="li.grid")
    assert r.exit_code == 1
    assert r.output.startswith("Error: problem Q1: cannot close from state coordinating")
    shown = json.loads(run("problem", "show", "1", "--json").output)
    assert (shown["state"], shown["responsible"], shown["light"]) == ("coordinating", "王工", "red")
    history = json.loads(run("problem", "history", "1", "--json").output)
    assert [h["event"] for h in history] == ["raise", "coordinate"]
    line = "problems: 1 open, green 0, yellow 0, red 1; 1 changed"
    before = dump(run.url)
    assert line in run("sweep", "--today", "2026-11-20", "--dry-run").output
    assert dump(run.url) == before  # a dry run writes nothing
    assert line in run("sweep", "--today", "2026-11-20").output
    assert "problems: 1 open, green 0, yellow 0, red 1; 0 changed" in run(
        "sweep", "--today", "2026-11-20").output


# -- notices: one notice to a department lists its red permits and red problems ------------------

def test_one_notice_lists_a_departments_red_permit_and_red_problem_once(app):
    from workflow import notices

    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb")
    permits.add(app, "P1", "eia", promised_days=5)
    permits.advance(clerk, "P1/eia", "accept", on=D(2026, 11, 2))
    problems.add(clerk, "P1", category="environment", owner="eeb", days=5, on=D(2026, 11, 2),
                 text="Sewer outfall")
    problems.add(clerk, "P1", category="environment", owner="eeb", days=20, on=D(2026, 11, 2),
                 text="Not late yet")
    first = sweep(app, day=D(2026, 11, 16))
    again = sweep(app, day=D(2026, 11, 16))
    later = sweep(app, day=D(2026, 11, 17))
    assert first["notices"] == 1 and first["matters"] == {"supervision": 2}
    assert again["notices"] == 0 and later["notices"] == 0
    listed = notices.list_(app, department="eeb")
    assert [(n["level"], n["matters"]) for n in listed] == [("supervision", 2)]
    shown = notices.show(app, listed[0]["id"])
    assert sorted(m["kind"] for m in shown["matters"]) == ["permit", "problem"]
    assert {m["ref"] for m in shown["matters"]} == {"P1/eia", "Q1"}
    from workflow.notify.render import render

    text = render(app.policy, shown, "md", "zh")
    assert "Sewer outfall" in text and "环境影响评价审批" in text


def test_a_problem_solved_ends_its_episode_and_a_new_red_is_noticed_again(app):
    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    q = problems.add(office, "P1", category="gas", owner="grid", days=3, on=D(2026, 11, 2),
                     text="Gas")["id"]
    assert sweep(app, day=D(2026, 11, 9))["matters"] == {"supervision": 1}
    problems.advance(office, q, "resolve", on=D(2026, 11, 10))
    sweep(app, day=D(2026, 11, 10))
    problems.advance(office, q, "reopen", on=D(2026, 11, 11), reason="not done")
    assert sweep(app, day=D(2026, 11, 11))["matters"] == {"supervision": 1}
    with app.db.connect() as conn:
        episodes = conn.execute(sa.text(
            "SELECT episode, ended_on IS NULL FROM notice_matter WHERE problem_id = :q "
            "ORDER BY episode"), {"q": q}).all()
    assert [tuple(e) for e in episodes] == [(1, False), (2, True)]


# -- the meeting agenda ---------------------------------------------------------------------------

def test_agenda_lists_each_departments_red_and_yellow_items_and_closings(app, tmp_path, run):
    setup_departments(app)
    project(app, "P1", name="滨江大道")
    clerk = as_actor(app, "clerk.eeb")
    office = as_actor(app, "office")
    permits.add(app, "P1", "eia", promised_days=5)
    permits.advance(clerk, "P1/eia", "accept", on=D(2026, 11, 2))
    problems.add(office, "P1", category="environment", owner="eeb", days=16, on=D(2026, 11, 2),
                 text="Sewer outfall")
    done = problems.add(office, "P1", category="power", owner="grid", days=12,
                        on=D(2026, 11, 2), text="Poles")["id"]
    problems.advance(office, done, "resolve", on=D(2026, 11, 19))
    old = problems.add(office, "P1", category="gas", owner="grid", days=12, on=D(2026, 11, 2),
                       text="Old gas")["id"]
    problems.advance(office, old, "resolve", on=D(2026, 11, 5))
    sweep(app, day=D(2026, 11, 20))
    path = tmp_path / "agenda.md"
    r = run("report", "agenda", "--as-of", "2026-11-20", "--output", str(path), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    # Friday the 20th: the next Thursday meeting is the 26th, the last one the 19th
    assert (data["meeting_on"], data["last_meeting_on"]) == ("2026-11-26", "2026-11-19")
    by_dept = {d["code"]: d for d in data["departments"]}
    assert list(by_dept) == ["eeb", "grid"]
    eeb = by_dept["eeb"]
    assert [(i["ref"], i["light"]) for i in eeb["permits"]] == [("P1/eia", "red")]
    assert [(i["ref"], i["light"]) for i in eeb["problems"]] == [("Q1", "yellow")]
    assert sorted(n["level"] for n in eeb["notices"]) == ["reminder", "supervision"]
    assert [i["ref"] for i in by_dept["grid"]["closed"]] == [f"Q{done}"]  # not the old one
    text = path.read_text(encoding="utf-8")
    assert "## 生态环境局" in text and "Sewer outfall" in text and "督办〔2026〕第0001号" in text
    xlsx = tmp_path / "agenda.xlsx"
    assert run("report", "agenda", "--as-of", "2026-11-20", "--output", str(xlsx)).exit_code == 0
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    assert wb.sheetnames[1:] == ["生态环境局", "供电公司"]
    cells = [c for row in wb["生态环境局"].iter_rows(values_only=True) for c in row if c]
    assert "P1/eia" in cells and "Q1" in cells
    r = run("report", "agenda", "--output", str(tmp_path / "agenda.pdf"))
    assert r.exit_code == 1 and "md or .xlsx" in r.output


def test_board_library_returns_open_problems_per_project(app):
    setup_departments(app)
    project(app, "P1")
    project(app, "P2")
    office = as_actor(app, "office")
    problems.add(office, "P1", category="gas", owner="grid", days=20, on=D(2026, 11, 2),
                 text="green one")
    problems.add(office, "P1", category="land", owner="nrp", days=3, on=D(2026, 11, 2),
                 text="red one")
    q = problems.add(office, "P2", category="land", owner="nrp", days=3, on=D(2026, 11, 2),
                     text="solved")["id"]
    problems.advance(office, q, "resolve", on=D(2026, 11, 4))
    board = problems.open_by_project(app)
    assert list(board) == ["P1"]
    assert [p["text"] for p in board["P1"]] == ["red one", "green one"]


def test_problem_table_is_in_the_schema_the_sweep_reads(app):
    # the light SQL is one implementation over two tables
    from workflow.store.queries import PROBLEMS, TRACKED

    assert PROBLEMS in TRACKED and PROBLEMS.table is Problem.__table__


def test_the_weekly_job_writes_the_agenda_where_policy_says(tmp_path, monkeypatch):
    import shutil

    import yaml

    from tests.conftest import make_app
    from workflow import schedule
    from workflow.policy import default_policy_dir
    from workflow.setup import init

    policies = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), policies)
    path = policies / "problems.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["meeting"]["agenda_directory"] = str(tmp_path / "agendas")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app = make_app(f"sqlite:///{tmp_path / 'w.db'}", policies=policies)
    init(app)
    monkeypatch.setenv("WORKFLOW_REPORT_DIR", str(tmp_path / "reports"))  # the weekly report
    result = schedule.weekly(app, day=D(2026, 11, 23))  # a Monday: Thursday's agenda
    assert result["reports"][-1]["meeting_on"] == "2026-11-26"
    written = tmp_path / "agendas" / "agenda-2026-11-26.md"
    assert "联席会议议程" in written.read_text(encoding="utf-8")
    app.db.dispose()


def test_show_replays_a_past_day_from_the_log(app):
    setup_departments(app)
    project(app, "P1")
    office = as_actor(app, "office")
    q = problems.add(office, "P1", category="water", owner="hud", days=5, on=D(2026, 11, 2),
                     text="Water main")["id"]
    problems.advance(office, q, "resolve", on=D(2026, 11, 12))
    then = problems.show(as_actor(app, "office", today=D(2026, 11, 6)), q)
    assert (then["state"], then["light"], then["remaining_days"]) == ("open", "yellow", 1)
    now = problems.show(app, q)
    assert (now["state"], now["light"], now["overdue_days"]) == ("resolved", "red", 3)


@pytest.mark.parametrize("ref", ["99999999999999999999", "Q99999999999999999999", "²", "Q١"])
def test_a_problem_id_out_of_range_or_not_ascii_is_refused_in_one_line(run, ref):
    """Found by the fuzzer: SQLite raised OverflowError for an id beyond 64 bits, and int()
    refused digits such as "²"."""
    for command in ("show", "history"):
        result = run("problem", command, ref)
        assert result.exit_code == 1, result.output
        assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: ")
