"""Verify the tamper-evident event log: every permit's hash chain, end to end.

Each event's hash covers its content and its predecessor's hash (workflow/domain/chain.py), and
the permit row keeps the chain's head (`version` = last seq, `head_hash` = last hash). Walking a
chain therefore catches:
- an event whose content was altered (its hash no longer matches its content);
- an event altered together with its hash, or replaced (the next event's `prev_hash` disagrees);
- an event removed from the middle (a gap in `seq`) or from the end (the permit's head points
  past the last event that is left);
- every event of a permit removed.
What a chain cannot catch on its own is a rewrite of a whole chain *and* its head by someone who
can write to the database; record the `digest` printed by `workflow audit verify` outside the
database (a weekly report, a signed mail) to anchor it (see docs/reliability.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App
from workflow.domain.chain import GENESIS, event_hash
from workflow.store.events import event_t, permit_t
from workflow.store.models import Project

project_t = Project.__table__
MAX_LISTED = 100  # broken chains listed in full; the count is always exact


@dataclass(frozen=True, kw_only=True)
class Break:
    """The first broken link of one permit's chain."""

    ref: str
    permit_id: int
    seq: int | None  # the event altered or removed (None: the whole chain)
    problem: str


def _hash_of(e: Any) -> str:
    return event_hash(
        e.prev_hash, subject=e.permit_id, seq=e.seq, kind=e.kind, event=e.event, on=e.on,
        actor=e.actor, reason=e.reason, data=e.data, recorded_at=e.recorded_at,
    )


def check_chain(version: int, head_hash: str, events: list[Any]) -> tuple[int | None, str] | None:
    """Return (seq, problem) for the first broken link of one chain, or None when intact.

    `events` are the permit's events ordered by seq; `version` and `head_hash` its row's head.
    """
    if not events:
        return None, f"every event removed (the permit is at version {version})"
    prev = GENESIS
    expected = 1
    for e in events:
        if e.seq != expected:
            missing = expected if e.seq == expected + 1 else f"{expected}-{e.seq - 1}"
            jump = f"the log jumps from {expected - 1} to {e.seq}"
            return expected, f"event {missing} removed ({jump})"
        if _hash_of(e) != e.hash:
            return e.seq, f"event {e.seq} altered (its content does not match its hash)"
        if e.prev_hash != prev:
            return e.seq - 1, (
                f"event {e.seq - 1} altered or replaced (event {e.seq} was chained to another)"
            )
        prev = e.hash
        expected += 1
    last = events[-1]
    if version > last.seq:
        gone = last.seq + 1 if version == last.seq + 1 else f"{last.seq + 1}-{version}"
        return last.seq + 1, f"event {gone} removed (the permit is at version {version})"
    if version < last.seq:
        return version + 1, (
            f"event {version + 1} not recorded on the permit (the permit is at version {version},"
            f" its log at {last.seq}): run `workflow rebuild --check`"
        )
    if head_hash != last.hash:
        return last.seq, f"event {last.seq} altered or replaced (the permit's head hash differs)"
    return None


def _heads(conn: Connection) -> dict[int, tuple[str, int, str]]:
    rows = conn.execute(
        sa.select(permit_t.c.id, project_t.c.code, permit_t.c.type, permit_t.c.version,
                  permit_t.c.head_hash)
        .join(project_t, project_t.c.id == permit_t.c.project_id)
        .order_by(permit_t.c.id)
    )
    return {r.id: (f"{r.code}/{r.type}", r.version, r.head_hash) for r in rows}


def verify(app: App) -> dict[str, Any]:
    """Walk every permit's chain in one read transaction; report the first break of each.

    The result holds `ok`, counts of permits and events, the `broken` chains (first break each,
    at most MAX_LISTED listed, `broken_count` exact) and a `digest` of every chain head, which
    changes with every new event and can be recorded elsewhere to anchor the log.
    """
    broken: list[Break] = []
    count = 0
    events_seen = 0
    digest = hashlib.sha256()
    with app.db.connect() as conn:
        heads = _heads(conn)
        seen: set[int] = set()

        def close(permit_id: int, chain: list[Any]) -> None:
            nonlocal count
            ref, version, head_hash = heads.get(permit_id, (f"#{permit_id}", -1, ""))
            seen.add(permit_id)
            found = check_chain(version, head_hash, chain)
            if found is not None:
                count += 1
                if len(broken) < MAX_LISTED:
                    broken.append(Break(ref=ref, permit_id=permit_id, seq=found[0],
                                        problem=found[1]))

        result = conn.execution_options(stream_results=True, yield_per=5000).execute(
            sa.select(event_t).order_by(event_t.c.permit_id, event_t.c.seq)
        )
        current: int | None = None
        chain: list[Any] = []
        for e in result:
            events_seen += 1
            if e.permit_id != current:
                if current is not None:
                    close(current, chain)
                current, chain = e.permit_id, []
            chain.append(e)
        if current is not None:
            close(current, chain)
        for permit_id in heads.keys() - seen:
            close(permit_id, [])
        for permit_id, (_ref, version, head_hash) in sorted(heads.items()):
            digest.update(f"{permit_id}:{version}:{head_hash}\n".encode())
    broken.sort(key=lambda b: b.permit_id)
    return {
        "ok": count == 0,
        "permits": len(heads),
        "events": events_seen,
        "broken_count": count,
        "broken": [asdict(b) for b in broken],
        "digest": digest.hexdigest(),
    }
