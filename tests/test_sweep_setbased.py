"""The set-based sweep agrees with the domain clock, permit by permit, on random populations."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import as_actor, project
from workflow import permits
from workflow.domain.clock import read_clock
from workflow.rebuild import rebuild
from workflow.store.events import event_t, make_event, permit_t
from workflow.store.models import Project
from workflow.sweep import light_hashes, sweep

FAR_TODAY = date(2027, 12, 31)
TYPES = ["approval", "eia", "energy", "safety", "power", "stability", "land_prereview"]
codes = itertools.count(1)
# Sweeps go forward in time, as the daily job does: a sweep as of a day before a permit's last
# light event would read it as of another day than its row (and its rebuild) holds.
latest_sweep = [date.min]

lights = st.sampled_from(["none", "green", "yellow", "red"])


@given(
    permit_id=st.integers(1, 10**9), version=st.integers(0, 10**4),
    head=st.one_of(st.just(""), st.text("0123456789abcdef", min_size=64, max_size=64)),
    old=lights, new=lights, remaining=st.integers(-500, 500),
    day=st.dates(date(2000, 1, 1), date(2060, 12, 31)),
    actor=st.text(min_size=1, max_size=20),
    micro=st.integers(0, 999_999),
)
def test_light_hashes_are_the_bytes_make_event_makes(
    permit_id, version, head, old, new, remaining, day, actor, micro
):
    recorded = datetime(2026, 11, 20, 3, 4, 5, micro)
    change = {"id": permit_id, "version": version, "head_hash": head, "light": old,
              "new_light": new, "remaining": remaining}
    [(prev, digest, data)] = light_hashes([change], day, actor, recorded)
    ev = make_event(
        permit_id=permit_id, seq=version + 1, prev_hash=head, kind="light", event="light",
        on=day, actor=actor, data={"from": old, "to": new, "remaining_days": remaining},
        recorded_at=recorded,
    )
    assert (prev, digest, data) == (ev["prev_hash"], ev["hash"], ev["data"])


def _life(draw, start: date) -> list[tuple]:
    """Moves of one permit: accept, maybe suspend/resume and extend, maybe approve."""
    gap = st.integers(0, 25)
    on = start + timedelta(days=draw(gap))
    moves: list[tuple] = [("accept", on, {})]
    suspended = False
    if draw(st.booleans()):
        on += timedelta(days=draw(gap))
        moves.append(("suspend", on, {"reason": "补正"}))
        suspended = not draw(st.booleans())
        if not suspended:
            on += timedelta(days=draw(gap))
            moves.append(("resume", on, {}))
    if draw(st.booleans()):
        on += timedelta(days=draw(gap))
        moves.append(("extend", on, {"reason": "评审", "days": draw(st.integers(1, 5))}))
    if not suspended and draw(st.integers(0, 3)) == 0:
        on += timedelta(days=draw(gap))
        moves.append(("approve", on, {}))
    return moves


@st.composite
def populations(draw):
    start = draw(st.dates(date(2025, 1, 1), date(2026, 12, 1)))
    chosen = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True))
    lives = {t: _life(draw, start) for t in chosen}
    last = max(m[1] for moves in lives.values() for m in moves)
    day = last + timedelta(days=draw(st.integers(0, 90)))
    level = draw(st.sampled_from(["county", "municipal", "provincial"]))
    return lives, day, level


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(population=populations())
def test_sweep_sets_the_light_read_clock_reads(app, population):
    lives, day, level = population
    day = latest_sweep[0] = max(day, latest_sweep[0])
    app = as_actor(app, "admin", today=FAR_TODAY)  # moves and sweeps on any day up to 2027
    code = f"S{next(codes)}"
    project(app, code)
    for type_, moves in lives.items():
        permits.add(app, code, type_, level=level)
        for event, on, kw in moves:
            permits.advance(app, f"{code}/{type_}", event, on=on, **kw)

    summary = sweep(app, day=day)

    policy, cal = app.policy, app.calendar
    with app.db.connect() as conn:
        rows = conn.execute(
            permits._select_permits().where(Project.__table__.c.code == code)
        ).all()
        for row in rows:
            reading = read_clock(permits.row_clock(row), cal,
                                 policy.permit_type(row.type).warning, day)
            if row.phase in ("running", "paused"):
                assert row.light == reading.light.value, (row.type, lives[row.type], day)
                last = conn.execute(
                    sa.select(event_t).where(event_t.c.permit_id == row.id)
                    .order_by(event_t.c.seq.desc()).limit(1)
                ).one()
                if last.kind == "light" and last.on == day:
                    assert json.loads(last.data)["remaining_days"] == reading.remaining_days
        open_lights = conn.execute(
            sa.select(permit_t.c.light, sa.func.count()).where(
                permit_t.c.phase.in_(["running", "paused"])).group_by(permit_t.c.light)
        ).all()
    assert summary["lights"] == {k: dict(open_lights).get(k, 0) for k in ("green", "yellow", "red")}
    # every row is still exactly what its events say, new light events included
    assert rebuild(app, check_only=True)["differing"] == 0
    assert sweep(app, day=day)["changed"] == 0
