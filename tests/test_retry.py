"""A move without expect_version that finds its permit moved between its read and its write
(the sweep, another writer) reads it again and lands once; with expect_version it is refused."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

import workflow.permits
from tests.conftest import make_app
from tests.helpers import permit, project
from workflow.audit import verify
from workflow.errors import Conflict
from workflow.rebuild import rebuild
from workflow.sweep import sweep

DAY = date(2026, 11, 20)


def moves(app) -> int:
    with app.db.connect() as conn:
        query = "SELECT count(*) FROM permit_event WHERE kind = 'move'"
        return conn.execute(sa.text(query)).scalar()


def sweep_in_between(app, monkeypatch):
    """On the move's first write, let a sweep commit a light change on the same permit first.

    PostgreSQL only: there a move's read takes no lock, so another transaction can commit in
    between (on SQLite the move's BEGIN IMMEDIATE keeps every other writer out)."""
    real = workflow.permits.write_permit
    calls = []

    def racing(conn, permit_id, version, *args, **kwargs):
        calls.append(version)
        if len(calls) == 1:
            assert sweep(make_app(app.settings.db_url, actor=None), day=DAY)["changed"] == 1
        return real(conn, permit_id, version, *args, **kwargs)

    monkeypatch.setattr(workflow.permits, "write_permit", racing)
    return calls


def test_a_move_retries_when_the_sweep_got_there_first(app, monkeypatch):
    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite's write lock already excludes the race")
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))  # green on acceptance, red by DAY
    before = moves(app)
    calls = sweep_in_between(app, monkeypatch)
    view = workflow.permits.advance(app, "P1/eia", "suspend", on=DAY, reason="补正")
    assert view["state"] == "suspended" and view["version"] == 4  # create, accept, light, move
    assert calls == [2, 3]
    assert moves(app) - before == 1
    assert rebuild(app, check_only=True)["differing"] == 0 and verify(app)["ok"]


def test_with_expect_version_the_race_is_a_conflict(app, monkeypatch):
    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite's write lock already excludes the race")
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    before = moves(app)
    sweep_in_between(app, monkeypatch)
    with pytest.raises(Conflict):
        workflow.permits.advance(app, "P1/eia", "suspend", on=DAY, reason="r", expect_version=2)
    assert moves(app) == before


def test_retries_are_bounded(app, monkeypatch):
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    before = moves(app)

    def always_moved(*args):
        raise Conflict("permit changed by someone else")

    monkeypatch.setattr(workflow.permits, "write_permit", always_moved)
    with pytest.raises(Conflict):
        workflow.permits.advance(app, "P1/eia", "suspend", on=DAY, reason="r")
    assert moves(app) == before
