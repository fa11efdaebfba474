"""Code that runs in child processes of the reliability tests (importable by name for spawn)."""

from __future__ import annotations

import random
import time
import traceback
from collections import Counter
from datetime import date, timedelta

TODAY = date(2026, 11, 20)


def _app(url: str, actor: str | None):
    from workflow.app import App, Settings

    return App(Settings(db_url=url, actor=actor, today=TODAY))


def choose(state: str, rng: random.Random) -> tuple[str, dict] | None:
    """An event valid from `state` (extensions are left out: they run out after 10 days)."""
    if state == "draft":
        return rng.choice([("accept", {}), ("prepare", {})])
    if state == "preparing":
        return "accept", {}
    if state == "accepted":
        if rng.random() < 0.02:
            return rng.choice([("approve", {}), ("withdraw", {"reason": "项目调整"})])
        return "suspend", {"reason": "补正材料"}
    if state == "suspended":
        return "resume", {}
    return None  # closed or void: nothing moves it any more


def mover(url: str, refs: list[str], moves: int, seed: int) -> dict:
    """Read a permit, pick a move valid from its state, advance with expect_version.

    Returns counts; `unexpected` lists anything that is neither a landed move nor a Conflict.
    """
    from workflow import permits
    from workflow.errors import Conflict

    app = _app(url, "admin")
    rng = random.Random(seed)
    landed: Counter = Counter()
    conflicts = tried = idle = 0
    unexpected: list[str] = []
    while tried < moves and idle < 10_000:
        ref = rng.choice(refs)
        try:
            seen = permits.show(app, ref)
        except Exception:
            unexpected.append(traceback.format_exc(limit=3))
            continue
        move = choose(seen["state"], rng)
        if move is None:
            idle += 1
            continue
        event, extra = move
        tried += 1
        try:
            permits.advance(app, ref, event, on=TODAY, expect_version=seen["version"], **extra)
            landed[event] += 1
        except Conflict:
            conflicts += 1
        except Exception:
            unexpected.append(traceback.format_exc(limit=3))
    app.db.dispose()
    return {"tried": tried, "landed": sum(landed.values()), "by_event": dict(landed),
            "conflicts": conflicts, "unexpected": unexpected}


def sweeper(url: str, stop, out) -> None:
    """Sweep day after day (the days move forward, as the scheduler's do) until told to stop."""
    from workflow.sweep import sweep

    app = _app(url, None)
    runs = changed = 0
    unexpected: list[str] = []
    day = TODAY
    while not stop.is_set():
        try:
            changed += sweep(app, day=day)["changed"]
            runs += 1
        except Exception:
            unexpected.append(traceback.format_exc(limit=3))
        day = min(day + timedelta(days=1), TODAY + timedelta(days=60))
        time.sleep(0.1)  # leave the movers room: the sweep locks out every writer
    app.db.dispose()
    out.put({"runs": runs, "changed": changed, "unexpected": unexpected})


def populate(app, n: int, *, first: date = date(2026, 9, 1)) -> None:
    """Add `n` projects with one accepted eia permit each, in one transaction and in bulk.

    Rows and events are made exactly as `permits.add` and `permits.advance` make them (hash
    chain included), so rebuild and audit hold; acceptance days spread over ~3 months, so a
    sweep on TODAY changes most lights.
    """
    from types import SimpleNamespace

    from workflow.permits import rebuild_values
    from workflow.store.events import event_t, make_event, permit_t
    from workflow.store.models import Project, utcnow

    policy, cal = app.policy, app.calendar
    ptype = policy.permit_type("eia")
    now = utcnow()
    projects, rows, events = [], [], []
    for i in range(1, n + 1):
        projects.append({"id": i, "code": f"B{i:06}", "name": f"Project {i}", "created_at": now})
        accepted = first + timedelta(days=i % 80)
        create = make_event(permit_id=i, seq=1, prev_hash="", kind="create", event="create",
                            on=accepted, actor="admin",
                            data={"type": "eia", "level": "county", "state": "draft",
                                  "promised_override": None, "responsible": None},
                            recorded_at=now)
        accept = make_event(permit_id=i, seq=2, prev_hash=create["hash"], kind="move",
                            event="accept", on=accepted, actor="admin",
                            data={"from": "draft", "to": "accepted", "promised_days": 10},
                            recorded_at=now)
        values = rebuild_values([SimpleNamespace(**create), SimpleNamespace(**accept)], ptype,
                                policy, cal)
        rows.append({"id": i, "project_id": i, "type": "eia", "department": ptype.department,
                     "level": "county", "promised_override": None, "created_at": now, **values})
        events += [create, accept]
    with app.db.connect(write=True) as conn:
        conn.execute(Project.__table__.insert(), projects)
        conn.execute(permit_t.insert(), rows)
        conn.execute(event_t.insert(), events)
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("project", "permit", "permit_event"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )


SWEEP_CHILD = """
import os
import sys
import time
from workflow import sweep
from workflow.cli import main

def mark(app, conn, day, changed):
    # the light changes are written and not yet committed: the parent may kill now, and with
    # HOLD_AFTER_WRITE the transaction stays open until it does
    sys.stdout.write("written\\n")
    sys.stdout.flush()
    if os.environ.get("HOLD_AFTER_WRITE"):
        time.sleep(600)
    return {}

sweep.AFTER_CHANGES.append(mark)
sys.argv = ["workflow"] + sys.argv[1:]
main()
"""


DAILY_CHILD = """
import os
import sys
import time
from workflow import sweep
from workflow.cli import main
from workflow.notify import channels

def mark(app, conn, day, changed):
    # the light changes and notices are written and not yet committed: with HOLD=sweep the
    # transaction stays open until the parent kills
    sys.stdout.write("written\\n")
    sys.stdout.flush()
    if os.environ.get("HOLD") == "sweep":
        time.sleep(600)
    return {}

send_file = channels.send_file
sends = 0

def send_and_record(app, row):
    # the receiver's log: one line per message the outbox sent (written once the files are in
    # place); with HOLD="send N" the N-th send is made and not yet marked sent when the parent
    # kills: the window in which the outbox sends a message twice
    global sends
    send_file(app, row)
    with open(os.environ["RECEIVER_LOG"], "a", encoding="utf-8") as log:
        log.write(row.message_key + "\\n")
    sends += 1
    if os.environ.get("HOLD") == f"send {sends}":
        sys.stdout.write("sent\\n")
        sys.stdout.flush()
        time.sleep(600)

sweep.AFTER_CHANGES.append(mark)
channels.send_file = send_and_record
sys.argv = ["workflow"] + sys.argv[1:]
main()
"""
