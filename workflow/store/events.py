"""Appending to the event log, and reading it back, with the hash chain kept."""

from __future__ import annotations

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
) -> dict[str, Any]:
    """Return an event row (as a dict for a bulk insert) with its chained hash."""
    recorded_at = (recorded_at or utcnow()).replace(tzinfo=None)
    text = dump_data(data)
    digest = event_hash(
        prev_hash or GENESIS, subject=permit_id, seq=seq, kind=kind, event=event, on=on,
        actor=actor, reason=reason, data=text, recorded_at=recorded_at,
    )
    return {
        "permit_id": permit_id, "seq": seq, "kind": kind, "event": event, "on": on,
        "actor": actor, "reason": reason, "data": text, "recorded_at": recorded_at,
        "prev_hash": prev_hash or GENESIS, "hash": digest,
    }


def write_permit(
    conn: Connection, permit_id: int, version: int, values: dict[str, Any], event: dict[str, Any],
    ref: str = "permit",
) -> None:
    """Store a permit's new cached fields and its event, or raise Conflict if it moved meanwhile."""
    updated = conn.execute(
        permit_t.update()
        .where(permit_t.c.id == permit_id, permit_t.c.version == version)
        .values(**values, version=event["seq"], head_hash=event["hash"])
    ).rowcount
    if updated != 1:
        raise Conflict(
            f"{ref} is at a version other than {version}: someone moved it first; "
            "look again and retry"
        )
    conn.execute(event_t.insert(), [event])


def read_events(conn: Connection, permit_id: int) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.select(event_t).where(event_t.c.permit_id == permit_id).order_by(event_t.c.seq)
        )
    )
