"""The event logs are append-only (database triggers) and hash-chained: `audit verify` catches
edits made behind the tool's back, naming the permit or problem and the first event altered or
removed."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from tests.helpers import permit, project
from workflow import problems
from workflow.audit import verify
from workflow.sweep import sweep

LOGS = ("permit_event", "problem_event")


def ledger(app) -> None:
    """Two permits and two problems, moved and swept: 8 permit and 4 problem events."""
    project(app, "P1")
    project(app, "P2")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)),
           ("suspend", date(2026, 10, 8), {"reason": "supplement"}),
           ("resume", date(2026, 10, 12)))
    permit(app, "P2", "energy", ("accept", date(2026, 11, 2)))
    problems.add(app, "P1", category="power", owner="eeb", days=10, text="Move the poles",
                 on=date(2026, 11, 2))  # Q1: raised, coordinated, red by the sweep
    problems.advance(app, "Q1", "coordinate", on=date(2026, 11, 5))
    problems.add(app, "P2", category="land", owner="nrp", days=30, text="Land compensation",
                 on=date(2026, 11, 10))  # Q2: raised only
    sweep(app, day=date(2026, 11, 20))


def disable_triggers(conn) -> None:
    """Let this transaction edit the logs: SQLite has no way to disable a trigger, so drop them;
    on PostgreSQL a superuser turns triggers off for the transaction (replica mode)."""
    if conn.dialect.name == "sqlite":
        for log in LOGS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {log}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {log}_no_delete")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def tamper(app, sql: str, **params) -> None:
    """Edit the database directly, as someone with write access to it could."""
    with app.db.connect(write=True) as conn:
        disable_triggers(conn)
        conn.execute(sa.text(sql), params)


def permit_id(app, type_: str) -> int:
    with app.db.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM permit WHERE type = :t"), {"t": type_}).scalar()


def problem_id(app, category: str) -> int:
    with app.db.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM problem WHERE category = :c"),
                            {"c": category}).scalar()


@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("sql", [
    "UPDATE {log} SET reason = 'nothing happened'",
    "DELETE FROM {log}",
])
def test_the_event_logs_refuse_update_and_delete(app, sql, log):
    ledger(app)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with app.db.connect(write=True) as conn:
            conn.execute(sa.text(sql.format(log=log)))
    assert verify(app)["ok"]


def test_an_intact_ledger_verifies(app, run):
    ledger(app)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["ok"] and out["permits"] == 2 and out["problems"] == 2 and out["broken"] == []
    # permits: 2 creations, 4 moves, 2 light changes (green -> red); problems: 2 raised,
    # 1 coordinated, 1 light change
    assert out["events"] == 8 + 4
    text = run("audit", "verify", actor="reader")
    assert text.exit_code == 0 and "2 permits, 2 problems, 12 events: ok; digest" in text.output


def test_the_digest_moves_with_every_new_event(app):
    ledger(app)
    before = verify(app)["digest"]
    permit(app, "P1", "energy")
    after_permit = verify(app)["digest"]
    problems.advance(app, "Q2", "coordinate", on=date(2026, 11, 20))
    assert len({before, after_permit, verify(app)["digest"]}) == 3


def test_without_problems_the_digest_is_the_permits_alone(app):
    """A digest recorded before problems were chained still matches a ledger without any."""
    import hashlib

    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 11, 2)))
    with app.db.connect() as conn:
        heads = conn.execute(sa.text("SELECT id, version, head_hash FROM permit ORDER BY id"))
        lines = "".join(f"{r.id}:{r.version}:{r.head_hash}\n" for r in heads)
    assert verify(app)["digest"] == hashlib.sha256(lines.encode()).hexdigest()


def test_an_altered_event_is_named(app, run):
    ledger(app)
    pid = permit_id(app, "eia")
    tamper(app, "UPDATE permit_event SET \"on\" = \"on\" + 3 WHERE permit_id = :p AND seq = 3",
           p=pid)
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert ("BROKEN permit P1/eia: event 3 altered (its content does not match its hash)"
            in result.output)
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
    assert out["broken"][0]["finding"].startswith("event 2 altered or replaced")


@pytest.mark.parametrize("seq, finding", [
    (2, "event 2 removed (the log jumps from 1 to 3)"),
    (5, "event 5 removed (the permit is at version 5)"),
])
def test_a_removed_event_is_named(app, run, seq, finding):
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
    assert out["broken"] == [{"kind": "permit", "ref": "P1/eia", "id": pid, "seq": seq,
                              "finding": finding}]


def test_a_permit_stripped_of_its_whole_log_is_named(app):
    ledger(app)
    pid = permit_id(app, "energy")
    tamper(app, "DELETE FROM permit_event WHERE permit_id = :p", p=pid)
    out = verify(app)
    assert out["broken"][0]["ref"] == "P2/energy"
    assert out["broken"][0]["finding"].startswith("every event removed")


def test_a_rewritten_head_is_caught(app):
    ledger(app)
    tamper(app, "UPDATE permit SET head_hash = :h WHERE type = 'energy'", h="f" * 64)
    out = verify(app)
    assert out["broken"][0]["ref"] == "P2/energy"
    assert "head hash differs" in out["broken"][0]["finding"]



# -- problems: the same chain, walked by the same verify ---------------------------------------

def test_an_altered_problem_event_is_named(app, run):
    ledger(app)
    qid = problem_id(app, "power")
    tamper(app, "UPDATE problem_event SET data = :d WHERE problem_id = :q AND seq = 1",
           d='{"text":"nothing to move"}', q=qid)
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert (f"BROKEN problem Q{qid}: event 1 altered (its content does not match its hash)"
            in result.output)
    assert "1 broken" in result.output
    out = verify(app)
    assert out["broken"] == [{"kind": "problem", "ref": f"Q{qid}", "id": qid, "seq": 1,
                              "finding": "event 1 altered (its content does not match its hash)"}]


@pytest.mark.parametrize("seq, finding", [
    (2, "event 2 removed (the log jumps from 1 to 3)"),
    (3, "event 3 removed (the problem is at version 3)"),
])
def test_a_removed_problem_event_is_named(app, run, seq, finding):
    ledger(app)
    qid = problem_id(app, "power")
    with app.db.connect() as conn:
        last = conn.execute(sa.text("SELECT max(seq) FROM problem_event WHERE problem_id = :q"),
                            {"q": qid}).scalar()
    assert last == 3  # raise, coordinate, light
    tamper(app, "DELETE FROM problem_event WHERE problem_id = :q AND seq = :s", q=qid, s=seq)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["broken"] == [{"kind": "problem", "ref": f"Q{qid}", "id": qid, "seq": seq,
                              "finding": finding}]


def test_a_problem_stripped_of_its_log_and_a_rewritten_problem_head_are_named(app):
    ledger(app)
    q1, q2 = problem_id(app, "power"), problem_id(app, "land")
    tamper(app, "DELETE FROM problem_event WHERE problem_id = :q", q=q2)
    tamper(app, "UPDATE problem SET head_hash = :h WHERE id = :q", h="f" * 64, q=q1)
    out = verify(app)
    assert [(b["kind"], b["ref"], b["seq"]) for b in out["broken"]] == [
        ("problem", f"Q{q1}", 3), ("problem", f"Q{q2}", None)]
    assert "head hash differs" in out["broken"][0]["finding"]
    assert out["broken"][1]["finding"] == "every event removed (the problem is at version 1)"


def test_permits_and_problems_are_named_apart(app, run):
    """A permit and a problem with the same id, both broken: each is named as what it is."""
    ledger(app)
    pid, qid = permit_id(app, "eia"), problem_id(app, "power")
    assert pid == qid == 1
    tamper(app, "UPDATE permit_event SET reason = 'x' WHERE permit_id = :p AND seq = 3", p=pid)
    tamper(app, "UPDATE problem_event SET \"on\" = \"on\" + 1 WHERE problem_id = :q AND seq = 2",
           q=qid)
    result = run("audit", "verify")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("BROKEN")]
    assert lines == [
        "BROKEN permit P1/eia: event 3 altered (its content does not match its hash)",
        f"BROKEN problem Q{qid}: event 2 altered (its content does not match its hash)",
    ]
