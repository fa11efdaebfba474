"""The hash chain that makes the event log tamper-evident.

Each event's hash covers its content and the hash of the item's previous event, so altering or
removing an event breaks every later link; `workflow audit verify` walks the chains.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

GENESIS = "0" * 64


def canonical(value: object) -> object:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def event_hash(
    prev_hash: str,
    *,
    subject: int,
    seq: int,
    kind: str,
    event: str,
    on: date,
    actor: str,
    reason: str | None,
    data: str,
    recorded_at: datetime,
) -> str:
    """Return the SHA-256 of an event's content chained to `prev_hash`."""
    body = json.dumps(
        [subject, seq, kind, event, canonical(on), actor, reason, data, canonical(recorded_at)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()
