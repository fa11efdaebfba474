"""Issue 2 acceptance through the CLI: the full lifecycle, and refusals that change nothing."""

import json

import pytest

from tests.conftest import dump


@pytest.fixture
def office(run):
    """A project with an approval, a land-use planning permit and an EIA, and the clerks."""
    assert run("actor", "add", "li.env", "--role", "department", "--department", "eeb").exit_code == 0
    assert run("actor", "add", "wang.nrp", "--role", "department", "--department", "nrp").exit_code == 0
    assert run("actor", "add", "zhao", "--role", "viewer").exit_code == 0
    r = run("project", "add", "2026-330100-01", "--name", "滨江大道改造", "--district", "滨江区",
            "--planned-start", "2027-03-01", "--campaign", "百日攻坚")
    assert r.exit_code == 0, r.output
    for t in ("approval", "land_supply", "land_use_planning", "eia"):
        r = run("permit", "add", "2026-330100-01", t, "--responsible", "张三")
        assert r.exit_code == 0, r.output
        assert r.output.strip() == f"2026-330100-01/{t}"
    return run


def test_full_lifecycle_with_effective_dates(office):
    run = office
    ref = "2026-330100-01/eia"
    steps = [
        ("accept", "--on", "2026-10-12"),
        ("suspend", "--on", "2026-10-14", "--reason", "补正材料"),
        ("resume", "--on", "2026-10-19"),
        ("extend", "--on", "2026-10-20", "--days", "5", "--reason", "专家评审"),
        ("approve", "--on", "2026-11-02"),
    ]
    for step in steps:
        r = run("permit", "advance", ref, *step, actor="li.env")
        assert r.exit_code == 0, r.output
    shown = json.loads(run("permit", "show", ref, "--json").output)
    assert shown["state"] == "approved"
    assert shown["accepted_on"] == "2026-10-12"
    assert shown["closed_on"] == "2026-11-02"
    assert shown["paused_days"] == 3  # 14, 15, 16 October
    assert shown["extension_days"] == 5
    assert shown["due_on"] == "2026-11-05"  # 18 working days after 12 Oct: 10 + 5 + 3 paused
    assert shown["light"] == "green" and shown["overdue_days"] == 0
    history = json.loads(run("permit", "history", ref, "--json").output)
    assert [h["event"] for h in history] == ["create", "accept", "suspend", "resume", "extend",
                                             "approve"]
    assert [h["on"] for h in history[1:]] == ["2026-10-12", "2026-10-14", "2026-10-19",
                                              "2026-10-20", "2026-11-02"]
    assert {h["actor"] for h in history[1:]} == {"li.env"}
    assert history[2]["reason"] == "补正材料"
    table = run("permit", "history", ref).output
    assert "li.env" in table and "补正材料" in table


REFUSALS = [
    # (actor, args, message fragment)
    ("li.env", ["permit", "advance", "2026-330100-01/eia", "approve"], "cannot approve from state draft"),
    ("li.env", ["permit", "advance", "2026-330100-01/approval", "accept"], "department eeb"),
    ("wang.nrp", ["permit", "advance", "2026-330100-01/land_use_planning", "accept"],
     "prerequisites not approved: approval (draft), land_supply (draft)"),
    ("li.env", ["permit", "advance", "2026-330100-01/eia", "accept", "--on", "2026-11-21"],
     "is in the future"),
    ("li.env", ["permit", "advance", "2026-330100-01/eia", "accept", "--on", "2026-13-01"],
     "is not a date"),
    ("li.env", ["permit", "advance", "2026-330100-01/eia", "suspend"], "cannot suspend"),
    ("li.env", ["permit", "advance", "NOPE/eia", "accept"], "unknown project 'NOPE'"),
    ("li.env", ["permit", "advance", "2026-330100-01/energy", "accept"], "has no energy permit"),
    ("li.env", ["permit", "advance", "2026-330100-01", "accept"], "bad permit reference"),
    ("li.env", ["permit", "advance", "2026-330100-01/eia", "fly"], "unknown event 'fly'"),
    ("admin", ["permit", "add", "2026-330100-01", "teleport"], "unknown permit type 'teleport'"),
    ("admin", ["permit", "add", "NOPE", "eia"], "unknown project 'NOPE'"),
    ("admin", ["permit", "add", "2026-330100-01", "eia"], "already exists"),
    ("zhao", ["permit", "advance", "2026-330100-01/eia", "accept"], "zhao (viewer) may not"),
    ("ghost", ["permit", "advance", "2026-330100-01/eia", "accept"], "unknown actor 'ghost'"),
    (None, ["permit", "advance", "2026-330100-01/eia", "accept"], "no actor"),
    ("li.env", ["actor", "add", "x", "--role", "admin"], "li.env (department) may not"),
    ("admin", ["project", "add", "2026-330100-01", "--name", "again"], "already exists"),
    ("admin", ["project", "add", "X1", "--name", "x", "--planned-start", "soon"], "is not a date"),
]


@pytest.mark.parametrize("actor, args, message", REFUSALS)
def test_refusals_exit_1_with_one_line_and_change_nothing(office, actor, args, message):
    run = office
    before = dump(run.url)
    r = run(*args, actor=actor)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert message in lines[0]
    assert dump(run.url) == before


def test_on_before_the_previous_move_is_refused(office):
    run = office
    ref = "2026-330100-01/eia"
    assert run("permit", "advance", ref, "accept", "--on", "2026-11-10", actor="li.env").exit_code == 0
    before = dump(run.url)
    r = run("permit", "advance", ref, "suspend", "--on", "2026-11-09", "--reason", "x",
            actor="li.env")
    assert r.exit_code == 1 and "before 2026-330100-01/eia's previous move on 2026-11-10" in r.output
    assert dump(run.url) == before


def test_reason_and_extension_bounds(office):
    run = office
    ref = "2026-330100-01/eia"
    run("permit", "advance", ref, "accept", "--on", "2026-11-10", actor="li.env")
    r = run("permit", "advance", ref, "suspend", actor="li.env")
    assert r.exit_code == 1 and "a reason is required" in r.output
    r = run("permit", "advance", ref, "extend", "--days", "11", "--reason", "x", actor="li.env")
    assert r.exit_code == 1 and "maximum extension of 10" in r.output
    assert run("permit", "advance", ref, "extend", "--days", "6", "--reason", "x",
               actor="li.env").exit_code == 0
    r = run("permit", "advance", ref, "extend", "--days", "5", "--reason", "x", actor="li.env")
    assert r.exit_code == 1 and "6 + 5 working days exceeds" in r.output


def test_prerequisites_unblock_once_approved_or_waived(office):
    run = office
    run("actor", "add", "chen.drc", "--role", "department", "--department", "drc")
    run("actor", "add", "office", "--role", "supervisor")
    run("permit", "advance", "2026-330100-01/approval", "accept", "--on", "2026-11-02",
        actor="chen.drc")
    run("permit", "advance", "2026-330100-01/approval", "approve", "--on", "2026-11-05",
        actor="chen.drc")
    r = run("permit", "advance", "2026-330100-01/land_supply", "waive", "--reason", "划拨已完成",
            actor="office")
    assert r.exit_code == 0, r.output
    r = run("permit", "advance", "2026-330100-01/land_use_planning", "accept", actor="wang.nrp")
    assert r.exit_code == 0, r.output


def test_expect_version_conflict(office):
    run = office
    ref = "2026-330100-01/eia"
    version = json.loads(run("permit", "show", ref, "--json").output)["version"]
    assert run("permit", "advance", ref, "accept", "--expect-version", str(version),
               actor="li.env").exit_code == 0
    before = dump(run.url)
    r = run("permit", "advance", ref, "suspend", "--reason", "x", "--expect-version",
            str(version), actor="li.env")
    assert r.exit_code == 1 and "someone moved it first" in r.output
    assert dump(run.url) == before


def test_read_commands_print_json_only(office):
    run = office
    for args in (["permit", "list", "--json"], ["project", "list", "--json"],
                 ["project", "show", "2026-330100-01", "--json"], ["actor", "list", "--json"],
                 ["permit", "history", "2026-330100-01/eia", "--json"]):
        r = run(*args, actor=None)
        assert r.exit_code == 0
        json.loads(r.output)


def test_init_is_idempotent(office):
    run = office
    before = dump(run.url)
    r = run("init")
    assert r.exit_code == 0
    assert dump(run.url) == before
