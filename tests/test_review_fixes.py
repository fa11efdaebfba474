"""Replays of past days, calendar corrections through the sweep, dates outside the calendar."""

import json
from datetime import date

import pytest
import sqlalchemy as sa

from tests.helpers import as_actor, permit, project, setup_departments
from workflow import permits
from workflow.errors import BadData
from workflow.rebuild import rebuild
from workflow.store.events import event_t
from workflow.sweep import sweep


def test_show_as_of_a_past_day_replays_the_events_up_to_that_day(app):
    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb")
    permit(clerk, "P1", "eia", ("accept", date(2026, 11, 2)),
           ("suspend", date(2026, 11, 3), {"reason": "补正"}), ("resume", date(2026, 11, 10)),
           ("approve", date(2026, 11, 12)))
    then = permits.show(as_actor(app, "clerk.eeb", today=date(2026, 11, 5)), "P1/eia")
    assert then["state"] == "suspended" and then["closed_on"] is None
    assert (then["elapsed_days"], then["remaining_days"]) == (0, 10)  # suspended on day 1
    before = permits.show(as_actor(app, "clerk.eeb", today=date(2026, 11, 1)), "P1/eia")
    assert before["state"] == "draft" and before["light"] == "none"
    now = permits.show(clerk, "P1/eia")
    assert now["state"] == "approved" and now["light"] == "green"


def test_on_outside_the_calendar_is_refused(app):
    setup_departments(app)
    project(app, "P1")
    permits.add(app, "P1", "eia")
    with pytest.raises(BadData, match="outside the calendar"):
        permits.advance(as_actor(app, "clerk.eeb"), "P1/eia", "accept", on=date(1999, 12, 1))


def test_a_calendar_correction_is_logged_by_the_sweep_that_applies_it(app, tmp_path):
    from workflow.calendars import load

    setup_departments(app)
    project(app, "P1")
    day = date(2027, 1, 8)
    clerk = as_actor(app, "clerk.eeb", today=day)
    permit(clerk, "P1", "eia", ("accept", date(2026, 12, 24)))  # provisional due 2027-01-07
    sweep(clerk, day=day)
    assert permits.show(clerk, "P1/eia")["light"] == "red"
    (tmp_path / "cn-2027.yaml").write_text(
        "name: cn-mainland\nyears:\n  2027:\n    holidays:\n      2027-01-01: New Year's Day\n"
        "    workdays: {}\n", encoding="utf-8")
    result = load(as_actor(app, "admin", today=day), tmp_path / "cn-2027.yaml")
    assert result["changed_lights"] == 1
    with app.db.connect() as conn:
        last = conn.execute(
            sa.select(event_t.c.kind, event_t.c.data).order_by(event_t.c.id.desc())
        ).first()
    assert last.kind == "light" and json.loads(last.data)["to"] == "yellow"
    assert rebuild(as_actor(app, "admin", today=day), check_only=True)["differing"] == 0


def test_reads_refuse_clocks_cached_under_another_calendar(app):
    from workflow.store.calendar_table import set_meta

    setup_departments(app)
    project(app, "P1")
    permits.add(app, "P1", "eia")
    with app.db.connect(write=True) as conn:
        set_meta(conn, "calendar_digest", "stale")
    with pytest.raises(BadData, match="the calendar changed"):
        permits.show(app, "P1/eia")
    sweep(app)  # applies the calendar in force
    assert permits.show(app, "P1/eia")["state"] == "draft"


def test_moves_record_their_clock_effect_so_history_survives_policy_edits(app):
    setup_departments(app)
    project(app, "P1")
    permit(as_actor(app, "clerk.eeb"), "P1", "eia", ("accept", date(2026, 11, 2)))
    with app.db.connect() as conn:
        data = json.loads(conn.execute(
            sa.select(event_t.c.data).where(event_t.c.event == "accept")).scalar_one())
    assert data["clock"] == "start" and data["phase"] == "running"
