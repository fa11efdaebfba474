"""A project's light, countdown to planned start, critical path and risk."""

import json
from datetime import date

from tests.helpers import as_actor, permit, project, setup_departments
from workflow import projects
from workflow.domain.projects import critical_path_days


def test_critical_path_follows_prerequisites():
    pre = {"c": ["b"], "b": ["a"], "d": []}
    assert critical_path_days({"a": 5, "b": 10, "c": 3, "d": 20}, pre) == 20
    assert critical_path_days({"a": 5, "b": 10, "c": 8, "d": 20}, pre) == 23
    # a finished prerequisite (absent) no longer extends the chain
    assert critical_path_days({"b": 10, "c": 8}, pre) == 18
    assert critical_path_days({}, pre) == 0


def test_project_light_countdown_and_risk(app):
    setup_departments(app)
    # planned start 2026-12-18: 20 working days after Friday 2026-11-20
    project(app, "P1", planned_start=date(2026, 12, 18))
    drc, nrp, hud = (as_actor(app, f"clerk.{d}") for d in ("drc", "nrp", "hud"))
    permit(drc, "P1", "approval", ("accept", date(2026, 11, 16)))  # due 23 Nov: 1 day left
    permit(nrp, "P1", "land_use_planning")  # 5 days, after approval
    permit(nrp, "P1", "engineering_planning")  # 10 days, after land_use_planning
    permit(hud, "P1", "construction")  # 5 days, after engineering_planning
    p = projects.show(app, "P1")
    assert p["countdown_days"] == 20
    assert p["critical_path_days"] == 1 + 5 + 10 + 5
    assert p["at_risk"] is True
    assert p["light"] == "yellow"  # 1 working day left on the approval (warning at 2)
    permit(as_actor(app, "clerk.eeb"), "P1", "eia", ("accept", date(2026, 9, 1)))
    assert projects.show(app, "P1")["light"] == "red"


def test_project_not_at_risk_with_time_enough(run):
    setup = run
    setup("project", "add", "P2", "--name", "Plant", "--planned-start", "2027-06-01")
    setup("permit", "add", "P2", "eia")
    shown = json.loads(setup("project", "show", "P2", "--json").output)
    assert shown["at_risk"] is False and shown["critical_path_days"] == 10
    assert shown["light"] == "none"
    listed = json.loads(setup("project", "list", "--json").output)
    assert [p["code"] for p in listed] == ["P2"]
    for key in ("light", "countdown_days", "critical_path_days", "at_risk"):
        assert key in listed[0]
