"""Calendar commands: due, show, check."""

import json

from click.testing import CliRunner

from workflow.cli import cli


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env={"WORKFLOW_TODAY": None, **(env or {})})


def test_calendar_due_prints_the_issue_example():
    r = invoke("calendar", "due", "2026-09-24", "10")
    assert r.exit_code == 0 and r.output.strip() == "2026-10-15"


def test_calendar_due_into_an_uncovered_year_is_provisional():
    r = invoke("calendar", "due", "2026-12-24", "10", "--json")
    assert json.loads(r.output) == {"start": "2026-12-24", "days": 10, "due_on": "2027-01-07",
                                    "provisional": True, "calendar": "cn-mainland"}


def test_calendar_due_refuses_bad_input():
    r = invoke("calendar", "due", "2026-02-30", "10")
    assert r.exit_code == 1 and r.output.startswith("Error: ")
    r = invoke("calendar", "due", "2026-02-03", "0")
    assert r.exit_code == 1 and "positive" in r.output


def test_calendar_show_lists_holidays_and_make_up_days():
    r = invoke("calendar", "show", "2026", "--json")
    data = json.loads(r.output)
    assert {"date": "2026-10-10", "name": "National Day"} in data["workdays"]
    assert any(d["date"] == "2026-02-17" for d in data["holidays"])
    assert data["working_days"] == 261 - 19 + 6  # weekdays - weekday holidays + make-up days
    r = invoke("calendar", "show", "2031")
    assert "not in calendar" in r.output


def test_calendar_check_warns_sixty_days_ahead():
    r = invoke("--today", "2026-11-20", "calendar", "check", "--json")
    assert json.loads(r.output)["missing"] == [2027]
    r = invoke("--today", "2026-11-20", "calendar", "check", "--strict")
    assert r.exit_code == 1 and "Warning: calendar cn-mainland lacks 2027" in r.output
    r = invoke("--today", "2026-10-01", "calendar", "check", "--strict")
    assert r.exit_code == 0


def test_commands_on_a_missing_database_say_so_and_create_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    r = invoke("--db", url, "permit", "show", "X/eia")
    assert r.exit_code == 1 and "no database at" in r.output and "workflow init" in r.output
    assert not (tmp_path / "none.db").exists()
    # commands that need no database still work
    assert invoke("--db", url, "calendar", "due", "2026-09-24", "10").exit_code == 0
