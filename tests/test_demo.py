"""The demo: seeds are deterministic and lifecycle-true, and `workflow demo` tells the truth."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import dump, make_app
from workflow import seed
from workflow.rebuild import rebuild
from workflow.setup import init
from workflow.store.db import Database

DESC = seed.load_description()
DAY = DESC.demo_day


def invoke(*args: str):
    from workflow.cli import cli

    env = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
           "WORKFLOW_POLICIES": None}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def permits_as_of_demo_day(url: str) -> list[dict]:
    result = invoke("--db", url, "--today", DAY.isoformat(), "permit", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def expected_summary(rows: list[dict]) -> tuple[Counter, dict]:
    """Counts by light of open permits, and (required, closed, on time) by type, from views."""
    lights = Counter(r["light"] for r in rows if r["phase"] in ("running", "paused"))
    by_type: dict[str, list[int]] = {}
    for r in rows:
        t = by_type.setdefault(r["type"], [0, 0, 0])
        t[0] += r["phase"] != "void"
        t[1] += r["phase"] == "closed"
        t[2] += r["phase"] == "closed" and r["light"] == "green"
    return lights, by_type


def problems_as_of_demo_day(url: str) -> list[dict]:
    result = invoke("--db", url, "--today", DAY.isoformat(), "problem", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def expected_problems(rows: list[dict]) -> tuple[Counter, Counter]:
    """Open problems by light, and problem counts as `report problems` defines them."""
    open_ = [r for r in rows if r["phase"] in ("running", "paused")]
    raised = [r for r in rows if r["phase"] != "void"]
    solved = [r for r in raised if r["phase"] == "closed"]
    counts = Counter(raised=len(raised), solved=len(solved), open=len(open_),
                     struck_off=sum(r["state"] == "closed" for r in solved),
                     solved_late=sum(r["light"] == "red" for r in solved),
                     overdue=sum(r["light"] == "red" for r in open_))
    return Counter(r["light"] for r in open_), counts


def test_demo_prints_the_summary_of_the_database_it_wrote(tmp_path):
    out = tmp_path / "demo"
    result = invoke("demo", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    text = result.output
    url = f"sqlite:///{out.resolve() / 'workflow.db'}"
    assert url in text
    rows = permits_as_of_demo_day(url)
    lights, by_type = expected_summary(rows)
    assert len({r["project"] for r in rows}) == DESC.projects
    m = re.search(r"Open permits by light: red (\d+), yellow (\d+), green (\d+) \((\d+) open\)",
                  text)
    assert m, text
    assert [int(x) for x in m.groups()] == [
        lights["red"], lights["yellow"], lights["green"], sum(lights.values())
    ]
    # every light occurs in a realistic push
    assert lights["red"] and lights["yellow"] and lights["green"]
    for type_, (required, closed, _) in by_type.items():
        line = next(x for x in text.splitlines() if x.strip().startswith(type_ + " "))
        assert re.search(rf"\b{required}\s+{closed}\s+", line), line
    # the worst red permit printed first is the one most overdue
    worst = max((r for r in rows if r["light"] == "red" and r["phase"] != "closed"),
                key=lambda r: r["overdue_days"])
    first = text.split("Worst red permits")[1].splitlines()[2]
    assert first.split()[-1] == str(worst["overdue_days"])
    # the notices the seeded sweeps issued, as the database holds them, delivered as files
    notices = json.loads(invoke("--db", url, "notice", "list", "--json").output)
    by_level = Counter(n["level"] for n in notices)
    m = re.search(r"Notices issued during the push: (.*)", text)
    assert m, text
    printed = dict(part.split() for part in m.group(1).split(", "))
    assert {k: int(v) for k, v in printed.items() if int(v)} == dict(by_level)
    assert by_level["reminder"] and by_level["supervision"]
    delivered = list((out / "notices").rglob("*.md"))
    assert len(delivered) == len(notices)
    for name in ("board.html", "weekly-report.md", "ledger.xlsx"):
        assert str((out / name).resolve()) in text
        assert (out / name).stat().st_size > 0
    summary = out / "summary.md"
    assert str(summary.resolve()) in text
    assert f"| {lights['red']} | {lights['yellow']} | {lights['green']} |" in summary.read_text(
        encoding="utf-8")
    check_demo_problems(url, out, text)


def check_demo_problems(url: str, out, text: str) -> None:
    """The demo's problems: a realistic mix, and the same in the summary, the wall chart, the
    notices and the agenda as in `problem list`."""
    problems = problems_as_of_demo_day(url)
    lights, counts = expected_problems(problems)
    # open problems in every light, problems solved on time and late, struck off, withdrawn,
    # owned by several departments
    assert lights["red"] and lights["yellow"] and lights["green"]
    assert counts["solved_late"] and counts["solved"] - counts["solved_late"]
    assert counts["struck_off"] and len(problems) > counts["raised"]
    assert len({r["department"] for r in problems}) >= 4
    m = re.search(r"Problems: (\d+) raised, (\d+) solved \((\d+) struck off, (\d+) solved "
                  r"late\), (\d+) open", text)
    assert m, text
    assert [int(x) for x in m.groups()] == [counts[k] for k in (
        "raised", "solved", "struck_off", "solved_late", "open")]
    m = re.search(r"Open problems by light: red (\d+), yellow (\d+), green (\d+) \((\d+) open\)",
                  text)
    assert m, text
    assert [int(x) for x in m.groups()] == [
        lights["red"], lights["yellow"], lights["green"], counts["open"]]
    with_problems = {r["project"] for r in problems if r["phase"] != "void"}
    assert f"{DESC.projects} projects, {len(with_problems)} with problems" in text
    worst = max((r for r in problems if r["phase"] == "running" and r["light"] == "red"),
                key=lambda r: r["overdue_days"])
    first = text.split("Worst red problems")[1].splitlines()[2]
    assert first.split()[0] == worst["ref"] and first.split()[-1] == str(worst["overdue_days"])
    # the wall chart shows every open problem beside its project's permits
    board = (out / "board.html").read_text(encoding="utf-8")
    shown = re.findall(r'<span class="pnode l-(\w+)"[^>]*>(Q\d+) ', board)
    assert sorted(shown) == sorted((r["light"], r["ref"]) for r in problems
                                   if r["phase"] in ("running", "paused"))
    # a red problem is a matter of its owner department's supervision notice, beside permits
    db = Database(url)
    with db.connect() as conn:
        mixed = conn.execute(sa.text(
            "SELECT m.notice_id FROM notice_matter m JOIN notice n ON n.id = m.notice_id "
            "WHERE n.level = 'supervision' GROUP BY m.notice_id "
            "HAVING count(m.problem_id) > 0 AND count(m.permit_id) > 0 ORDER BY m.notice_id"
        )).scalars().all()
    db.dispose()
    assert mixed
    notice = json.loads(invoke("--db", url, "notice", "show", str(mixed[0]), "--json").output)
    refs = {m["ref"] for m in notice["matters"] if m["kind"] == "problem"}
    owned = [r for r in problems if r["ref"] in refs]
    assert owned and all(r["department"] == notice["addressee"] for r in owned)
    seq = int(re.search(r"第(\d+)号", notice["number"]).group(1))
    delivered = (out / "notices" / "2026" / f"supervision-2026-{seq:05d}.zh.md").read_text(
        encoding="utf-8")
    assert all(r["text"] in delivered for r in owned)
    # the agenda of the next joint meeting lists each department's red and yellow problems
    agenda = (out / "agenda.md").read_text(encoding="utf-8")
    assert str((out / "agenda.md").resolve()) in text
    for r in problems:
        if r["phase"] in ("running", "paused") and r["light"] in ("red", "yellow"):
            assert f"| {r['ref']} |" in agenda


def test_demo_json_matches_the_database_on_each_backend(backend_url, tmp_path):
    result = invoke("demo", "--db", backend_url, "--output-dir", str(tmp_path),
                    "--projects", "40", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    rows = permits_as_of_demo_day(backend_url)
    lights, by_type = expected_summary(rows)
    assert summary["lights"] == {k: lights[k] for k in ("red", "yellow", "green")}
    assert summary["red_total"] == lights["red"]
    assert {c["type"]: [c["required"], c["closed"], c["on_time"]]
            for c in summary["completion"]} == by_type
    reds = sorted((r["overdue_days"] for r in rows
                   if r["light"] == "red" and r["phase"] in ("running", "paused")), reverse=True)
    assert [r["overdue_days"] for r in summary["worst_red"]] == reds[:10]
    assert summary["seeded"]["projects"] == 40
    problems = problems_as_of_demo_day(backend_url)
    lights, counts = expected_problems(problems)
    assert summary["problems"]["lights"] == {k: lights[k] for k in ("red", "yellow", "green")}
    assert {k: summary["problems"]["counts"][k] for k in counts} == dict(counts)
    assert summary["seeded"]["problems"] == len(problems) > 0
    checked = rebuild(make_app(backend_url), check_only=True, problems=True)
    assert checked["differing"] == 0 and checked["problems"]["differing"] == 0


def test_demo_refuses_a_database_that_is_not_a_demo(tmp_path):
    url = f"sqlite:///{tmp_path / 'office.db'}"
    init(make_app(url))
    before = dump(url)
    result = invoke("--db", url, "demo", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "not a demo database" in result.output
    assert dump(url) == before
    again = invoke("--db", url, "demo", "--output-dir", str(tmp_path / "out"), "--projects", "5",
                   "--force")
    assert again.exit_code == 0, again.output


def test_demo_runs_again_over_its_own_database(backend_url, tmp_path):
    for n in ("6", "4"):
        result = invoke("demo", "--db", backend_url, "--output-dir", str(tmp_path),
                        "--projects", n, "--json")
        assert result.exit_code == 0, result.output
    rows = permits_as_of_demo_day(backend_url)
    assert len({r["project"] for r in rows}) == 4
    assert rebuild(make_app(backend_url), check_only=True)["differing"] == 0


def test_demo_never_uses_the_database_in_the_environment(tmp_path):
    """WORKFLOW_DB names the office's database; the demo goes to its output directory."""
    from workflow.cli import cli

    office = f"sqlite:///{tmp_path / 'office.db'}"
    init(make_app(office))
    before = dump(office)
    result = CliRunner().invoke(
        cli, ["demo", "--output-dir", str(tmp_path / "demo"), "--projects", "3"],
        env={"WORKFLOW_DB": office, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
             "WORKFLOW_POLICIES": None}, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert dump(office) == before
    assert (tmp_path / "demo" / "workflow.db").is_file()


def test_same_seed_gives_the_same_plan_and_another_seed_does_not():
    app = make_app("sqlite://")
    one = seed.plan(DESC, app.policy, app.calendar, projects=30, seed=7)
    two = seed.plan(DESC, app.policy, app.calendar, projects=30, seed=7)
    other = seed.plan(DESC, app.policy, app.calendar, projects=30, seed=8)
    assert one.projects == two.projects and one.problems == two.problems
    assert one.projects != other.projects and one.problems != other.problems


def test_problems_leave_the_projects_and_permits_of_a_plan_as_they_were():
    """Problems draw from their own random stream: the demo's permits did not move."""
    app = make_app("sqlite://")
    with_problems = seed.plan(DESC, app.policy, app.calendar, projects=30, seed=7)
    without = seed.plan(DESC.model_copy(update={"problems": None}), app.policy, app.calendar,
                        projects=30, seed=7)
    assert with_problems.problems and not without.problems
    assert with_problems.projects == without.projects
    days = [q.raised_on for q in with_problems.problems]
    assert days == sorted(days) and max(days) <= DAY
    for q in with_problems.problems:
        assert all(q.raised_on <= m.on <= DAY for m in q.moves)
        assert [m.on for m in q.moves] == sorted(m.on for m in q.moves)


VOLATILE = {"created_at", "recorded_at", "hash", "prev_hash", "head_hash", "started_at",
            "finished_at", "summary"}


def content(url: str, tables=("project", "permit", "permit_event", "problem", "problem_event",
                              "actor", "campaign")):
    """Rows of `tables` without timestamps and hashes (which record when seeding ran)."""
    from workflow.store.db import Database

    db = Database(url)
    out = {}
    with db.connect() as conn:
        for table in tables:
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY id')).mappings()
            out[table] = [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]
    db.dispose()
    return out


def seeded(url: str, via: str = "bulk", projects: int = 25, seed_: int = 11):
    app = make_app(url, today=DAY)
    init(app)
    seed.seed(app, projects=projects, seed=seed_, via=via)
    return app


def test_same_seed_gives_the_same_database(tmp_path):
    a = seeded(f"sqlite:///{tmp_path / 'a.db'}")
    b = seeded(f"sqlite:///{tmp_path / 'b.db'}")
    assert content(a.settings.db_url) == content(b.settings.db_url)


def test_seeded_rows_equal_their_rebuild_and_histories_follow_the_lifecycle(app):
    seed.seed(app, projects=30, seed=3)
    checked = rebuild(app, check_only=True, problems=True)
    assert checked["differing"] == 0
    assert checked["problems"]["checked"] > 0 and checked["problems"]["differing"] == 0
    with app.db.connect() as conn:
        states = dict(conn.execute(
            sa.text("SELECT state, count(*) FROM permit GROUP BY state")).all())
        suspended_once = conn.execute(sa.text(
            "SELECT count(DISTINCT permit_id) FROM permit_event WHERE event = 'suspend'"
        )).scalar()
    for state in ("approved", "accepted", "draft", "not_required"):
        assert states.get(state), states
    assert suspended_once


def test_bulk_seeding_writes_what_the_library_writes(tmp_path):
    """The fast path and permits.advance / problems.add and advance, move by move, give the
    same rows and events."""
    # seed 81: the 9 problems of its 8 projects go through every problem event between them
    app = make_app("sqlite://")
    the_plan = seed.plan(DESC, app.policy, app.calendar, projects=8, seed=81)
    assert {m.event for q in the_plan.problems for m in q.moves} == set(
        app.policy.problems.lifecycle.events)
    bulk = seeded(f"sqlite:///{tmp_path / 'bulk.db'}", projects=8, seed_=81)
    library = seeded(f"sqlite:///{tmp_path / 'library.db'}", via="library", projects=8, seed_=81)
    tables = ("project", "permit", "permit_event", "problem", "problem_event", "notice_matter")
    assert content(bulk.settings.db_url, tables) == content(library.settings.db_url, tables)
    checked = rebuild(library, check_only=True, problems=True)
    assert checked["differing"] == 0 and checked["problems"]["differing"] == 0


def test_a_description_error_names_the_file_and_key(tmp_path):
    import yaml

    from workflow.errors import BadData

    raw = yaml.safe_load(seed.default_description_path().read_text(encoding="utf-8"))
    raw["outcomes"]["late"] = 0.9
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BadData, match=r"campaign.yaml: .*outcomes.*sum to 1"):
        seed.load_description(path)


def test_a_problem_description_error_names_the_key(tmp_path):
    import yaml

    from workflow.errors import BadData

    raw = yaml.safe_load(seed.default_description_path().read_text(encoding="utf-8"))
    raw["problems"]["categories"]["roads"] = raw["problems"]["categories"].pop("other")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    app = make_app("sqlite://")
    with pytest.raises(BadData, match=r"problems.categories: unknown category 'roads'"):
        seed.plan(seed.load_description(path), app.policy, app.calendar)
    raw["problems"]["outcomes"]["late"] = 0.9
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BadData, match=r"campaign.yaml: problems.*sum to 1"):
        seed.load_description(path)
