"""Appending to the event log, and reading it back, with the hash chain kept."""

from __future__ import annotations

import functools
import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.domain.chain import GENESIS, event_hash
from workflow.errors import Conflict
from workflow.store.models import Permit, PermitEvent, utcnow

permit_t = Permit.__table__
event_t = PermitEvent.__table__


def dump_data(data: dict[str, Any] | None) -> str:
    return json.dumps(data or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def make_event(
    *,
    permit_id: int,
    seq: int,
    prev_hash: str,
    kind: str,
    event: str,
    on: date,
    actor: str,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    recorded_at: datetime | None = None,
    subject_column: str = "permit_id",
) -> dict[str, Any]:
    """Return an event row (as a dict for a bulk insert) with its chained hash.

    `permit_id` is the item's id; a problem's event names its key column `problem_id`.
    """
    recorded_at = (recorded_at or utcnow()).replace(tzinfo=None)
    text = dump_data(data)
    digest = event_hash(
        prev_hash or GENESIS, subject=permit_id, seq=seq, kind=kind, event=event, on=on,
        actor=actor, reason=reason, data=text, recorded_at=recorded_at,
    )
    return {
        subject_column: permit_id, "seq": seq, "kind": kind, "event": event, "on": on,
        "actor": actor, "reason": reason, "data": text, "recorded_at": recorded_at,
        "prev_hash": prev_hash or GENESIS, "hash": digest,
    }


def write_permit(
    conn: Connection, permit_id: int, version: int, values: dict[str, Any], event: dict[str, Any],
    ref: str = "permit",
) -> None:
    """Store a permit's new cached fields and its event, or raise Conflict if it moved meanwhile."""
    write_item(conn, permit_t, event_t, permit_id, version, values, event, ref)


def write_item(
    conn: Connection, table: sa.Table, events: sa.Table, item_id: int, version: int,
    values: dict[str, Any], event: dict[str, Any], ref: str,
) -> None:
    """Store an item's new cached fields and its event, or raise Conflict if it moved meanwhile."""
    params = {f"new_{k}": v for k, v in values.items()}
    params.update(item_id=item_id, old_version=version, new_version=event["seq"],
                  new_head_hash=event["hash"])
    updated = conn.execute(_update(table, tuple(values)), params).rowcount
    if updated != 1:
        raise Conflict(
            f"{ref} is at a version other than {version}: someone moved it first; "
            "look again and retry"
        )
    conn.execute(events.insert(), [event])


@functools.cache
def _update(table: sa.Table, columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE of a move, built once per table and set of columns: building and hashing a
    statement per move cost more than running it."""
    return (
        table.update()
        .where(table.c.id == sa.bindparam("item_id"),
               table.c.version == sa.bindparam("old_version"))
        .values({c: sa.bindparam(f"new_{c}") for c in (*columns, "version", "head_hash")})
    )


# built once: building and hashing the statement cost more than running it, once per move
_READ_EVENTS = (sa.select(event_t).where(event_t.c.permit_id == sa.bindparam("permit_id"))
                .order_by(event_t.c.seq))


def read_events(conn: Connection, permit_id: int) -> list[sa.Row]:
    return list(conn.execute(_READ_EVENTS, {"permit_id": permit_id}))
