"""Many writers at once: 8 processes make random moves on a shared set of permits, with
expect_version, while the sweep runs. Every move lands or is refused as a Conflict; the log holds
exactly the moves that landed; every row equals its rebuild; nothing deadlocks or crashes.

WORKFLOW_TRIAL_MOVES sets the moves per process: 60 in CI, 200 for the full trial
(docs/reliability.md has the figures of both)."""

from __future__ import annotations

import multiprocessing
import os
from datetime import date

import pytest
import sqlalchemy as sa

from tests.helpers import permit, project
from tests.workers import mover, sweeper
from workflow.audit import verify
from workflow.rebuild import rebuild

PROCESSES = 8
MOVES = int(os.environ.get("WORKFLOW_TRIAL_MOVES", "60"))
PERMITS = 24


def count(app, kind: str) -> int:
    with app.db.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM permit_event WHERE kind = :k"), {"k": kind}
        ).scalar()


@pytest.mark.slow
def test_concurrent_moves_and_sweeps_lose_nothing(app):
    refs = []
    for i in range(PERMITS):
        project(app, f"P{i:02}")
        # a third starts running, so lights move from the first sweep on
        moves = [("accept", date(2026, 11, 2))] if i % 3 == 0 else []
        permit(app, f"P{i:02}", "eia", *moves)
        refs.append(f"P{i:02}/eia")
    moves_before, lights_before = count(app, "move"), count(app, "light")
    url = app.settings.db_url

    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    sweeping = ctx.Process(target=sweeper, args=(url, stop, out))
    sweeping.start()
    with ctx.Pool(PROCESSES) as pool:
        jobs = [pool.apply_async(mover, (url, refs, MOVES, seed)) for seed in range(PROCESSES)]
        results = [job.get(timeout=600) for job in jobs]  # a deadlock fails here
    stop.set()
    swept = out.get(timeout=120)
    sweeping.join(timeout=60)

    unexpected = [u for r in results for u in r["unexpected"]] + swept["unexpected"]
    assert not unexpected, unexpected[0]
    tried = sum(r["tried"] for r in results)
    landed = sum(r["landed"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    assert tried == PROCESSES * MOVES
    assert landed + conflicts == tried
    assert landed > 0 and swept["runs"] > 0
    assert count(app, "move") - moves_before == landed
    assert count(app, "light") - lights_before == swept["changed"]
    assert rebuild(app, check_only=True)["differing"] == 0
    assert verify(app)["ok"]
    print(f"\n{app.db.dialect}: {tried} moves tried, {landed} landed, {conflicts} conflicts; "
          f"{swept['runs']} sweeps, {swept['changed']} light changes")
