"""Verify the tamper-evident event logs: every permit's and every problem's hash chain, end to
end.

Each event's hash covers its content and its predecessor's hash (workflow/domain/chain.py), and
the item's row (a permit, a problem) keeps the chain's head (`version` = last seq, `head_hash` =
last hash). Walking a chain therefore catches:
- an event whose content was altered (its hash no longer matches its content);
- an event altered together with its hash, or replaced (the next event's `prev_hash` disagrees);
- an event removed from the middle (a gap in `seq`) or from the end (the item's head points
  past the last event that is left);
- every event of an item removed.
What a chain cannot catch on its own is a rewrite of a whole chain *and* its head by someone who
can write to the database; record the `digest` printed by `workflow audit verify` outside the
database (a weekly report, a signed mail) to anchor it (see docs/reliability.md).
Notices have no event log of their own (a notice's status is a row, its matters point at the
permits' and problems' chains), so there is no notice chain to walk.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.app import App
from workflow.domain.chain import GENESIS, event_hash
from workflow.store.models import Project
from workflow.store.queries import PERMITS, TRACKED, Clocked

project_t = Project.__table__
MAX_LISTED = 100  # broken chains listed in full; the count is always exact


@dataclass(frozen=True, kw_only=True)
class Break:
    """The first broken link of one item's chain."""

    kind: str  # "permit" or "problem"
    ref: str  # a permit's CODE/TYPE, a problem's Q<id>
    id: int
    seq: int | None  # the event altered or removed (None: the whole chain)
    finding: str


def _hash_of(e: Any, subject: str) -> str:
    return event_hash(
        e.prev_hash, subject=getattr(e, subject), seq=e.seq, kind=e.kind, event=e.event,
        on=e.on, actor=e.actor, reason=e.reason, data=e.data, recorded_at=e.recorded_at,
    )


def check_chain(version: int, head_hash: str, events: list[Any], subject: str = "permit_id",
                noun: str = "permit") -> tuple[int | None, str] | None:
    """Return (seq, finding) for the first broken link of one chain, or None when intact.

    `events` are the item's events ordered by seq (`subject` names their key column);
    `version` and `head_hash` its row's head; `noun` what the item is (permit, problem).
    """
    if not events:
        return None, f"every event removed (the {noun} is at version {version})"
    prev = GENESIS
    expected = 1
    for e in events:
        if e.seq != expected:
            missing = expected if e.seq == expected + 1 else f"{expected}-{e.seq - 1}"
            jump = f"the log jumps from {expected - 1} to {e.seq}"
            return expected, f"event {missing} removed ({jump})"
        if _hash_of(e, subject) != e.hash:
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
        return last.seq + 1, f"event {gone} removed (the {noun} is at version {version})"
    if version < last.seq:
        return version + 1, (
            f"event {version + 1} not recorded on the {noun} (the {noun} is at version"
            f" {version}, its log at {last.seq}): run `workflow rebuild --check`"
        )
    if head_hash != last.hash:
        return last.seq, f"event {last.seq} altered or replaced (the {noun}'s head hash differs)"
    return None


def _heads(conn: Connection, item: Clocked) -> dict[int, tuple[str, int, str]]:
    """id -> (reference, version, head hash) of every row: a permit's CODE/TYPE, a problem's
    Q<id> (as `problem show` takes it)."""
    t = item.table
    rows = conn.execute(
        sa.select(t.c.id, project_t.c.code, t.c[item.detail], t.c.version, t.c.head_hash)
        .join(project_t, project_t.c.id == t.c.project_id)
        .order_by(t.c.id)
    )
    if item is PERMITS:
        return {r.id: (f"{r.code}/{r.type}", r.version, r.head_hash) for r in rows}
    return {r.id: (f"Q{r.id}", r.version, r.head_hash) for r in rows}


def _walk(conn: Connection, item: Clocked, found: list[Break]) -> tuple[int, int, int, list]:
    """Check every chain of one clocked table; return (items, events, broken, heads)."""
    heads = _heads(conn, item)
    seen: set[int] = set()
    broken = 0

    def close(item_id: int, chain: list[Any]) -> None:
        nonlocal broken
        ref, version, head_hash = heads.get(item_id, (f"#{item_id}", -1, ""))
        seen.add(item_id)
        result = check_chain(version, head_hash, chain, item.subject, item.kind)
        if result is not None:
            broken += 1
            if len(found) < MAX_LISTED:
                found.append(Break(kind=item.kind, ref=ref, id=item_id, seq=result[0],
                                   finding=result[1]))

    key = item.events.c[item.subject]
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(
        sa.select(item.events).order_by(key, item.events.c.seq)
    )
    events = 0
    current: int | None = None
    chain: list[Any] = []
    for e in result:
        events += 1
        subject = getattr(e, item.subject)
        if subject != current:
            if current is not None:
                close(current, chain)
            current, chain = subject, []
        chain.append(e)
    if current is not None:
        close(current, chain)
    for item_id in sorted(heads.keys() - seen):
        close(item_id, [])
    return len(heads), events, broken, sorted(heads.items())


def verify(app: App) -> dict[str, Any]:
    """Walk every permit's and every problem's chain in one read transaction; report the
    first break of each.

    The result holds `ok`, counts of permits, problems and events, the `broken` chains (first
    break each, permits first, at most MAX_LISTED listed, `broken_count` exact) and a `digest`
    of every chain head, which changes with every new event and can be recorded elsewhere to
    anchor the logs.
    """
    found: list[Break] = []
    counts: dict[str, int] = {}
    events = broken = 0
    digest = hashlib.sha256()
    with app.db.connect() as conn:
        for item in TRACKED:
            items, n_events, n_broken, heads = _walk(conn, item, found)
            counts[item.kind] = items
            events += n_events
            broken += n_broken
            # permits' lines as before problems were chained (a ledger without problems keeps
            # its digest); problems' lines are tagged so that no two heads read alike
            tag = "" if item is PERMITS else f"{item.kind}:"
            for item_id, (_ref, version, head_hash) in heads:
                digest.update(f"{tag}{item_id}:{version}:{head_hash}\n".encode())
    found.sort(key=lambda b: ([i.kind for i in TRACKED].index(b.kind), b.id))
    return {
        "ok": broken == 0,
        "permits": counts[PERMITS.kind],
        "problems": counts["problem"],
        "events": events,
        "broken_count": broken,
        "broken": [asdict(b) for b in found],
        "digest": digest.hexdigest(),
    }
