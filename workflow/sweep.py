"""The daily sweep: recompute every open permit's and problem's light as of a day, set-based,
and log changes.

One statement per clocked table (`queries.TRACKED`) reads its open rows joined to the
materialised calendar and returns only the rows whose light changed; Python then writes one
light event per change (bulk) and the new lights. Running it again for the same day changes
nothing; running it after a gap gives the same lights as running it every day, because a light
is a function of the day, not of the last run.

It only goes forward: a day before the last swept day is refused (its lights, logged after
newer ones, would overwrite them, and its notices would be dated before notices already
issued), and a row whose light is already as of a later day (a move recorded after the swept
day) is left as it is (docs/operations.md, "Sweeping a past day").
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.calendar import day_number
from workflow.domain.chain import GENESIS, canonical
from workflow.errors import BadData, Conflict
from workflow.store import tally
from workflow.store.calendar_table import is_current
from workflow.store.db import insert_plain
from workflow.store.models import SweepRun, UTCTimestamp, utcnow
from workflow.store.queries import (
    PERMITS,
    PROBLEMS,
    TRACKED,
    Clocked,
    cal_t,
    changed_lights,
    light_scan,
)

SWEEP_ACTOR = "sweep"
FETCH_BATCH = 20_000  # changed rows fetched and written per batch
# A person who runs the sweep must be a known actor who may write (not a viewer): its events
# carry that name. The sweep's writes follow from the day and the log alone, so any writing role
# may trigger it. Without --as it runs as the scheduler ("sweep").
SWEEP_ROLES = actors.RUN_JOBS
sweep_t = SweepRun.__table__

# Hooks run inside the sweep's transaction with (app, conn, day, changes), on every sweep that
# writes (also when no light changed: a supervision time limit passes without any light change).
# Notices use this so that a light change and the notice it calls for commit together or not at
# all; `workflow.notices` registers its hook, and `sweep()` imports it so every caller gets it.
AFTER_CHANGES: list[Callable[[App, Connection, date, list[dict[str, Any]]], dict]] = []


def lock_for_sweep(app: App, conn: Connection) -> None:
    """Keep moves out while the sweep writes (SQLite: BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        # the logs too: every writer of an event has committed when the lock is granted, so
        # no event id below the notices' watermark can appear later (notices.WATERMARK)
        conn.exec_driver_sql("LOCK TABLE permit, problem, permit_event, problem_event "
                             "IN SHARE ROW EXCLUSIVE MODE")
        # no JIT in the sweep's (and rebuild's) transaction: statements over a day's changed
        # ids look costly to the planner (an id list times calendar subqueries), and compiling
        # them took longer than running them, 0.6 s each
        conn.exec_driver_sql("SET LOCAL jit = off")


def sweep(
    app: App, *, day: date | None = None, dry_run: bool = False, actor: str | None = None,
    once: bool = False,
) -> dict[str, Any]:
    """Recompute lights as of `day` (default today); return counts by light and the changes.

    With `once`, a day that already has a sweep row is left alone (`skipped` in the result):
    the check runs under the sweep's lock, so of several schedulers exactly one sweeps a day.
    """
    import workflow.notices  # noqa: F401  (registers the notice hook)

    day = day or app.today()
    person = None if actor else app.settings.actor
    actor = actor or app.settings.actor or SWEEP_ACTOR
    with app.db.connect(write=not dry_run) as conn:
        if person and not dry_run:
            actors.require(actors.lookup(conn, person), SWEEP_ROLES, "run the sweep")
        if not is_current(conn, app.calendar):
            from workflow.rebuild import apply_calendar

            if dry_run:
                raise BadData("the calendar changed since the last sweep: run without --dry-run")
            apply_calendar(app, conn)
        if not dry_run:
            lock_for_sweep(app, conn)
            if once and conn.execute(
                sa.select(sweep_t.c.id).where(sweep_t.c.day == day)
            ).first():
                return {"day": day.isoformat(), "dry_run": False, "skipped": True}
        refuse_past(conn, day)  # under the lock: no later sweep can commit meanwhile
        ordinal = conn.execute(
            sa.select(cal_t.c.ordinal).where(cal_t.c.day == day_number(day))
        ).scalar_one_or_none()
        if ordinal is None:
            raise BadData(f"{day} is outside the calendar table: run `workflow init`")
        # one pass per clocked table (permits, problems) with the same light SQL
        parts: dict[str, dict[str, Any]] = {}
        changes: dict[str, list[dict[str, Any]]] = {}
        # one scan per clocked table finds the changed ids and counts the lights; the changed
        # rows are then fetched by id and written a batch at a time (docs/performance.md)
        recorded_at = utcnow().replace(tzinfo=None)
        scans = {}
        for item in TRACKED:
            rows, scans[item.kind] = _changes(conn, item, ordinal, day, actor, recorded_at,
                                              dry_run)
            transitions = Counter(f"{c['light']}->{c['new_light']}" for c in rows)
            changes[item.kind] = rows
            parts[item.kind] = {
                "changed": len(rows), "transitions": dict(sorted(transitions.items())),
            }
        # permits keep their keys at the top level; problems report under "problems"
        summary: dict[str, Any] = {"day": day.isoformat(), "dry_run": dry_run,
                                   **parts[PERMITS.kind]}
        if not dry_run:
            changed = [c for item in TRACKED for c in changes[item.kind]]
            for hook in AFTER_CHANGES:
                summary.update(hook(app, conn, day, changed) or {})
        for item in TRACKED:
            part = summary if item is PERMITS else parts[item.kind]
            part["lights"] = _counts(scans[item.kind], changes[item.kind])
            part["open"] = sum(part["lights"].values())
        summary["problems"] = parts[PROBLEMS.kind]
        if not dry_run:
            # every open light now holds as of `day`: the report may read the kept counts
            tally.compact(conn)
            tally.mark_lights(conn, day)
            _record_run(conn, day, actor, summary)
    return summary


def last_swept(conn: Connection) -> date | None:
    """The latest day swept so far (None before the first sweep)."""
    return conn.execute(sa.select(sa.func.max(sweep_t.c.day))).scalar()


def refuse_past(conn: Connection, day: date) -> None:
    """Refuse a day before the last swept day: lights only go forward (see the module doc)."""
    last = last_swept(conn)
    if last is not None and day < last:
        raise BadData(
            f"cannot sweep {day}: the last sweep was of {last} and lights never go back; read "
            f"an earlier day with `--today {day}` (list, show), correct the ledger "
            "with `workflow rebuild`"
        )


def _changes(conn: Connection, item: Clocked, ordinal: int, day: date, actor: str,
             recorded_at: datetime, dry_run: bool) -> tuple[list[dict[str, Any]], Any]:
    """Find, fetch and (unless a dry run) write the light changes of one clocked table."""
    scan = conn.execute(light_scan(ordinal, item.table)).one()
    ids = sorted(int(i) for i in scan.ids.split(",")) if scan.ids else []
    rows: list[dict[str, Any]] = []
    if not ids:
        return rows, scan
    fetch = changed_lights(ordinal, conn.dialect.name, item.table, day=day_number(day))
    for start in range(0, len(ids), FETCH_BATCH):  # in table order, a batch at a time
        batch_ids = ",".join(map(str, ids[start:start + FETCH_BATCH]))
        result = conn.execute(fetch, {"ids": batch_ids})
        keys = (*result.keys(), "kind")
        batch = [dict(zip(keys, (*r, item.kind), strict=True)) for r in result]
        if batch and not dry_run:  # a batch may be empty: rows moved after the day are left
            _write_changes(conn, day, actor, batch, recorded_at, item)
        rows += batch
    return rows, scan


def _write_changes(
    conn: Connection, day: date, actor: str, changed: list[dict], recorded_at: datetime,
    item: Clocked = PERMITS,
) -> None:
    """Append one light event per change and store the new lights, in two bulk statements.

    The rows go straight to the driver (executemany of plain tuples): SQLAlchemy's per-row
    parameter processing cost more than the database itself at 100k changes.
    """
    stamp = UTCTimestamp().dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stored_at = stamp(recorded_at) if stamp else recorded_at
    on = day_number(day)
    events = []
    updates = []
    hashes = light_hashes(changed, day, actor, recorded_at)
    for c, (prev, digest, data) in zip(changed, hashes, strict=True):
        seq = c["version"] + 1
        events.append((c["id"], seq, "light", "light", on, actor, None, data, stored_at, prev,
                       digest))
        updates.append((c["new_light"], on, seq, digest, c["id"], c["version"]))
    insert_plain(conn, item.events, (item.subject, "seq", "kind", "event", "on", "actor",
                                     "reason", "data", "recorded_at", "prev_hash", "hash"),
                 events)
    if conn.dialect.name == "postgresql":
        # one statement per batch: a row per round trip cost PostgreSQL more than the update
        updated = conn.exec_driver_sql(
            f"UPDATE {item.table.name} AS t SET light = v.light, light_on = v.light_on, "
            "version = v.version, head_hash = v.head_hash "
            "FROM unnest(%s::varchar[], %s::integer[], %s::integer[], %s::varchar[], "
            "%s::integer[], %s::integer[]) AS v(light, light_on, version, head_hash, id, old) "
            "WHERE t.id = v.id AND t.version = v.old",
            tuple(list(column) for column in zip(*updates, strict=True)),
        ).rowcount
    else:
        updated = conn.exec_driver_sql(
            f"UPDATE {item.table.name} SET light = ?, light_on = ?, version = ?, head_hash = ? "
            "WHERE id = ? AND version = ?",
            updates,
        ).rowcount
    if updated not in (-1, len(updates)):  # the lock keeps moves out; never write half a sweep
        raise Conflict(f"sweep: {len(updates) - updated} permits moved meanwhile; run it again")


def light_hashes(changed: list[dict], day: date, actor: str, recorded_at: datetime):
    """Yield (prev_hash, hash, data) of each change's light event, as `make_event` makes them.

    The same bytes as `make_event(kind="light", ...)` (a test pins it), built from the parts
    every light event of one sweep shares: hashing 100k events this way takes a fraction of a
    second instead of seconds.
    """
    # json.dumps(text, ensure_ascii=False) of one string is exactly encode_basestring(text)
    shared = json.dumps(["light", "light", canonical(day), actor, None], ensure_ascii=False,
                        separators=(",", ":"))[1:-1]
    tail = "," + encode_basestring(canonical(recorded_at)) + "]"
    for c in changed:
        data = (f'{{"from":{encode_basestring(c["light"])},'
                f'"remaining_days":{int(c["remaining"])},'
                f'"to":{encode_basestring(c["new_light"])}}}')
        prev = c["head_hash"] or GENESIS
        body = f'[{c["id"]},{c["version"] + 1},{shared},{encode_basestring(data)}{tail}'
        yield prev, hashlib.sha256((prev + body).encode("utf-8")).hexdigest(), data


def _counts(scan: Any, changes: list[dict]) -> dict[str, int]:
    """The open rows per light after the changes (the scan counted the lights before them)."""
    counts = Counter({k: int(getattr(scan, k)) for k in ("green", "yellow", "red")})
    for c in changes:
        counts[c["light"]] -= 1
        counts[c["new_light"]] += 1
    return {k: counts.get(k, 0) for k in ("green", "yellow", "red")}


def _record_run(conn: Connection, day: date, actor: str, summary: dict) -> None:
    now = utcnow()
    text = json.dumps(summary, ensure_ascii=False)
    updated = conn.execute(
        sweep_t.update().where(sweep_t.c.day == day).values(
            finished_at=now, summary=text, actor=actor
        )
    ).rowcount
    if not updated:
        conn.execute(
            sweep_t.insert().values(
                day=day, started_at=now, finished_at=now, actor=actor, summary=text
            )
        )
