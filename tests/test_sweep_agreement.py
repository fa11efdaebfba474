"""The set-based sweep and the pure per-permit clock agree on thousands of random permits."""

import random
from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow.domain.clock import Phase, read_clock
from workflow.domain.lifecycle import ClockEffect
from workflow.domain.projection import Facts, apply_move
from workflow.permits import cached_fields, row_clock
from workflow.store.events import permit_t
from workflow.store.models import Project, SweepRun, utcnow
from workflow.sweep import sweep

N = 3000


def random_facts(rng: random.Random, cal, types) -> tuple[str, Facts]:
    t = rng.choice(types)
    start = date(2025, 9, 1) + timedelta(days=rng.randint(0, 420))
    f = Facts(state="draft", phase=Phase.PENDING)
    f = apply_move(f, cal=cal, effect=ClockEffect.START, state="accepted", phase=Phase.RUNNING,
                   on=start, promised_days=rng.randint(1, 45))
    day = start
    for _ in range(rng.randint(0, 5)):
        day += timedelta(days=rng.randint(0, 20))
        if f.phase == Phase.RUNNING:
            kind = rng.choice(["pause", "extend", "stay"])
            if kind == "pause":
                f = apply_move(f, cal=cal, effect=ClockEffect.PAUSE, state="suspended",
                               phase=Phase.PAUSED, on=day)
            elif kind == "extend":
                f = apply_move(f, cal=cal, effect=ClockEffect.EXTEND, state=f.state,
                               phase=f.phase, on=day, days=rng.randint(1, 10))
        else:
            f = apply_move(f, cal=cal, effect=ClockEffect.RESUME, state="accepted",
                           phase=Phase.RUNNING, on=day)
    return t, f


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), offset=st.integers(0, 500))
def test_sweep_matches_read_clock_on_every_permit(app, seed, offset):
    rng = random.Random(seed)
    policy, cal = app.policy, app.calendar
    types = list(policy.permit_types)
    with app.db.connect(write=True) as conn:
        # examples share the database: each brings its own project
        pid = conn.execute(Project.__table__.insert().values(
            code=f"X{seed}-{offset}-{rng.random()}", name="x", created_at=utcnow())
        ).inserted_primary_key[0]
        rows = []
        for _ in range(N):
            t, f = random_facts(rng, cal, types)
            # stale lights on purpose: as of the last move, or nothing
            values = cached_fields(f, policy.permit_types[t], cal, f.last_move_on)
            if rng.random() < 0.3:
                values["light"] = rng.choice(["green", "yellow", "red"])
            rows.append({**values, "project_id": pid, "type": f"{t}", "department": "x",
                         "level": "county", "version": 1, "head_hash": "", "created_at": utcnow()})
        # one project holds one permit per type, so spread rows over synthetic type names
        for i, r in enumerate(rows):
            r["type"] = f"{r['type']}#{i}"
        conn.execute(permit_t.insert(), rows)
    day = date(2025, 10, 1) + timedelta(days=offset)
    with app.db.connect(write=True) as conn:
        # examples share the database and each sweeps its own day, earlier or later than the
        # last example's: forget earlier sweeps, as the sweep refuses to go back in time
        conn.execute(SweepRun.__table__.delete())
    sweep(app, day=day)
    with app.db.connect() as conn:
        stored = conn.execute(sa.select(permit_t).where(permit_t.c.project_id == pid)).all()
    mismatches = []
    for r in stored:
        rule = policy.permit_types[r.type.split("#")[0]].warning
        expected = read_clock(row_clock(r), cal, rule, day).light.value
        if r.last_move_on and r.last_move_on > day:
            continue  # moved after the swept day: the sweep leaves the row as it is
        if r.light != expected:
            mismatches.append((r.id, r.light, expected))
    assert len(stored) == N
    assert not mismatches[:5]
