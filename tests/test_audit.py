"""The event log is append-only (database triggers) and hash-chained: `audit verify` catches edits
made behind the tool's back, naming the permit and the first event altered or removed."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from tests.helpers import permit, project
from workflow.audit import verify
from workflow.sweep import sweep


def ledger(app) -> None:
    project(app, "P1")
    project(app, "P2")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)),
           ("suspend", date(2026, 10, 8), {"reason": "supplement"}),
           ("resume", date(2026, 10, 12)))
    permit(app, "P2", "energy", ("accept", date(2026, 11, 2)))
    sweep(app, day=date(2026, 11, 20))


def drop_triggers(conn) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER permit_event_no_update")
        conn.exec_driver_sql("DROP TRIGGER permit_event_no_delete")
    else:
        conn.exec_driver_sql("DROP TRIGGER permit_event_append_only ON permit_event")


def tamper(app, sql: str, **params) -> None:
    """Edit the database directly, as someone with write access to it could."""
    with app.db.connect(write=True) as conn:
        drop_triggers(conn)
        conn.execute(sa.text(sql), params)


def permit_id(app, type_: str) -> int:
    with app.db.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM permit WHERE type = :t"), {"t": type_}).scalar()


@pytest.mark.parametrize("sql", [
    "UPDATE permit_event SET reason = 'nothing happened'",
    "DELETE FROM permit_event",
])
def test_the_event_log_refuses_update_and_delete(app, sql):
    ledger(app)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with app.db.connect(write=True) as conn:
            conn.execute(sa.text(sql))
    assert verify(app)["ok"]


def test_an_intact_ledger_verifies(app, run):
    ledger(app)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ok"] and out["permits"] == 2 and out["broken"] == []
    assert out["events"] == 8  # 2 creations, 4 moves, 2 light changes (green -> red)
    text = run("audit", "verify", actor="reader")
    assert text.exit_code == 0 and "ok; digest" in text.output


def test_the_digest_moves_with_every_new_event(app):
    ledger(app)
    before = verify(app)["digest"]
    permit(app, "P1", "energy")
    assert verify(app)["digest"] != before


def test_an_altered_event_is_named(app, run):
    ledger(app)
    pid = permit_id(app, "eia")
    tamper(app, "UPDATE permit_event SET \"on\" = \"on\" + 3 WHERE permit_id = :p AND seq = 3",
           p=pid)
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN P1/eia: event 3 altered (its content does not match its hash)" in result.output
    out = verify(app)
    assert out["broken_count"] == 1 and out["broken"][0]["seq"] == 3


def test_an_event_altered_with_a_recomputed_hash_breaks_the_next_link(app):
    from workflow.domain.chain import event_hash

    ledger(app)
    pid = permit_id(app, "eia")
    with app.db.connect() as conn:
        e = conn.execute(sa.text("SELECT * FROM permit_event WHERE permit_id = :p AND seq = 2"),
                         {"p": pid}).first()
    from workflow.store.events import read_events

    with app.db.connect() as conn:
        ev = read_events(conn, pid)[1]
    forged = event_hash(ev.prev_hash, subject=pid, seq=2, kind=ev.kind, event=ev.event,
                        on=date(2026, 9, 30), actor=ev.actor, reason=ev.reason, data=ev.data,
                        recorded_at=ev.recorded_at)
    tamper(app, "UPDATE permit_event SET \"on\" = \"on\" + 6, hash = :h WHERE id = :i",
           h=forged, i=e.id)
    out = verify(app)
    assert not out["ok"]
    assert out["broken"][0]["seq"] == 2
    assert out["broken"][0]["problem"].startswith("event 2 altered or replaced")


@pytest.mark.parametrize("seq, problem", [
    (2, "event 2 removed (the log jumps from 1 to 3)"),
    (5, "event 5 removed (the permit is at version 5)"),
])
def test_a_removed_event_is_named(app, run, seq, problem):
    ledger(app)
    pid = permit_id(app, "eia")
    with app.db.connect() as conn:
        last = conn.execute(sa.text("SELECT max(seq) FROM permit_event WHERE permit_id = :p"),
                            {"p": pid}).scalar()
    assert last == 5  # create, accept, suspend, resume, light
    tamper(app, "DELETE FROM permit_event WHERE permit_id = :p AND seq = :s", p=pid, s=seq)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["broken"] == [{"ref": "P1/eia", "permit_id": pid, "seq": seq, "problem": problem}]


def test_a_permit_stripped_of_its_whole_log_is_named(app):
    ledger(app)
    pid = permit_id(app, "energy")
    tamper(app, "DELETE FROM permit_event WHERE permit_id = :p", p=pid)
    out = verify(app)
    assert out["broken"][0]["ref"] == "P2/energy"
    assert out["broken"][0]["problem"].startswith("every event removed")


def test_a_rewritten_head_is_caught(app):
    ledger(app)
    tamper(app, "UPDATE permit SET head_hash = :h WHERE type = 'energy'", h="f" * 64)
    out = verify(app)
    assert out["broken"][0]["ref"] == "P2/energy"
    assert "head hash differs" in out["broken"][0]["problem"]
