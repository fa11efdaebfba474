"""The sweep: set-based lights agree with the pure clock, idempotent, gap-safe; rebuild."""

import json
import random
from dataclasses import replace
from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_app
from tests.helpers import as_actor, permit, project, setup_departments
from workflow import permits
from workflow.app import App, Settings
from workflow.domain.clock import read_clock
from workflow.errors import WorkflowError
from workflow.rebuild import rebuild
from workflow.store.events import event_t, permit_t
from workflow.sweep import sweep

TYPES = ["approval", "land_prereview", "eia", "energy", "stability", "safety", "power"]


def random_population(app, rng: random.Random, n_projects: int, start: date, end: date):
    """Projects with permits moved at random through valid events on random days."""
    setup_departments(app)
    clerks = {code: as_actor(app, f"clerk.{code}", today=end) for code in app.policy.departments}
    office = as_actor(app, "office", today=end)
    span = (end - start).days
    for i in range(n_projects):
        code = f"R{i:04d}"
        project(app, code)
        for t in rng.sample(TYPES, rng.randint(1, len(TYPES))):
            dept = app.policy.permit_types[t].department
            permits.add(app, code, t)
            day = start + timedelta(days=rng.randint(0, span // 2))
            ref = f"{code}/{t}"
            for _ in range(rng.randint(0, 6)):
                state = permits.show(clerks[dept], ref)["state"]
                choices = {
                    "draft": ["accept", "prepare", "waive"],
                    "preparing": ["accept"],
                    "accepted": ["suspend", "extend", "approve", "approve", "reject", None, None],
                    "suspended": ["resume", "resume", "reject"],
                }.get(state, [None])
                event = rng.choice(choices)
                if event is None or day > end:
                    break
                actor = office if event == "waive" else clerks[dept]
                kw = {"on": day}
                if event in ("suspend", "extend", "reject", "waive"):
                    kw["reason"] = "test"
                if event == "extend":
                    kw["days"] = rng.randint(1, 3)
                try:
                    permits.advance(actor, ref, event, **kw)
                except WorkflowError:
                    break
                day += timedelta(days=rng.randint(0, 25))


def stored(app) -> dict[int, str]:
    with app.db.connect() as conn:
        return dict(conn.execute(sa.select(permit_t.c.id, permit_t.c.light)).all())


def pure_lights(app, day: date) -> dict[int, str]:
    """Each permit's light from the pure per-permit function."""
    out = {}
    with app.db.connect() as conn:
        rows = conn.execute(sa.select(permit_t)).all()
    for r in rows:
        facts = permits.row_clock(r)
        rule = app.policy.permit_types[r.type].warning
        if r.phase in ("running", "paused"):
            out[r.id] = read_clock(facts, app.calendar, rule, day).light.value
        else:
            out[r.id] = r.light
    return out


def test_sweep_agrees_with_the_pure_clock_is_idempotent_and_gap_safe(app, tmp_path):
    rng = random.Random(7)
    random_population(app, rng, 40, date(2026, 8, 1), date(2026, 10, 20))
    daily_app = app
    # a second database with the same history, swept only once after a gap
    days = [date(2026, 10, 20) + timedelta(days=i) for i in range(0, 22)]
    for d in days:
        s = sweep(daily_app, day=d)
        assert stored(daily_app) == pure_lights(daily_app, d), d
        again = sweep(daily_app, day=d)
        assert again["changed"] == 0
        assert again["lights"] == s["lights"]
    final = stored(daily_app)
    # gap: rebuild the light rows as of the first day, then jump straight to the last day
    check = rebuild(app, check_only=True)
    assert check["differing"] == 0
    assert final == pure_lights(app, days[-1])


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), gap=st.integers(1, 40))
def test_a_gap_gives_the_same_lights_as_every_day(tmp_path_factory, seed, gap):
    from workflow.setup import init

    base = tmp_path_factory.mktemp("gap")
    apps = []
    for name in ("daily", "gap"):
        a = make_app(f"sqlite:///{base / name}.db", today=date(2026, 10, 20))
        init(a)
        random_population(a, random.Random(seed), 6, date(2026, 8, 1), date(2026, 10, 20))
        apps.append(a)
    daily, gapped = apps
    last = date(2026, 10, 20) + timedelta(days=gap)
    d = date(2026, 10, 20)
    while d <= last:
        sweep(daily, day=d)
        d += timedelta(days=1)
    sweep(gapped, day=last)
    assert stored(daily) == stored(gapped)
    for a in apps:
        a.db.dispose()


def test_light_changes_are_events_and_a_rerun_writes_nothing(app):
    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb")
    permit(clerk, "P1", "eia", ("accept", date(2026, 11, 2)))  # due 2026-11-16
    s = sweep(app, day=date(2026, 11, 10))
    assert s["lights"] == {"green": 1, "yellow": 0, "red": 0}
    s = sweep(app, day=date(2026, 11, 11))
    assert s["changed"] == 1 and s["transitions"] == {"green->yellow": 1}
    s = sweep(app, day=date(2026, 11, 17))
    assert s["transitions"] == {"yellow->red": 1}
    with app.db.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(event_t)).scalar()
    assert sweep(app, day=date(2026, 11, 17))["changed"] == 0
    with app.db.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(event_t)).scalar()
        lights = conn.execute(
            sa.select(event_t.c.on, event_t.c.data).where(event_t.c.kind == "light")
            .order_by(event_t.c.seq)
        ).all()
    assert after == before
    # acceptance itself set the light green; the sweep logs each later change once
    assert [(d.isoformat(), json.loads(x)["to"]) for d, x in lights] == [
        ("2026-11-11", "yellow"), ("2026-11-17", "red")]


def test_dry_run_reports_and_writes_nothing(app):
    from tests.conftest import dump

    setup_departments(app)
    project(app, "P1")
    permit(as_actor(app, "clerk.eeb"), "P1", "eia", ("accept", date(2026, 9, 1)))
    before = dump(app.settings.db_url)
    s = sweep(app, day=date(2026, 11, 20), dry_run=True)
    assert s["lights"]["red"] == 1 and s["changed"] == 1
    assert dump(app.settings.db_url) == before


def test_suspended_permit_stays_frozen_through_sweeps(app):
    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb")
    permit(clerk, "P1", "eia", ("accept", date(2026, 11, 2)),
           ("suspend", date(2026, 11, 11), {"reason": "补正"}))
    for d in (date(2026, 11, 12), date(2026, 11, 20), date(2026, 12, 31)):
        sweep(app, day=d)
        assert stored(app) == pure_lights(app, d)
    # 6 working days elapsed (3..10 Nov), suspended on the 11th: 4 left, green
    assert list(stored(app).values()) == ["green"]


def test_rebuild_restores_a_corrupted_row_exactly(app):
    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb")
    permit(clerk, "P1", "eia", ("accept", date(2026, 10, 12)),
           ("suspend", date(2026, 10, 14), {"reason": "x"}), ("resume", date(2026, 10, 19)),
           ("extend", date(2026, 10, 20), {"days": 2, "reason": "y"}))
    sweep(app, day=date(2026, 11, 20))
    with app.db.connect() as conn:
        good = conn.execute(sa.select(permit_t)).one()._asdict()
    with app.db.connect(write=True) as conn:
        conn.execute(permit_t.update().values(
            state="approved", phase="closed", due_on=date(2020, 1, 1), paused_days=99,
            extension_days=0, light="green", accepted_on=None, warn_at=42))
    assert rebuild(app, check_only=True)["differing"] == 1
    assert rebuild(app, "P1/eia")["rebuilt"] == 1
    with app.db.connect() as conn:
        assert conn.execute(sa.select(permit_t)).one()._asdict() == good
    assert rebuild(app, check_only=True)["differing"] == 0


def test_calendar_load_recomputes_open_permits(app, tmp_path):
    from workflow.calendars import load

    setup_departments(app)
    project(app, "P1")
    clerk = as_actor(app, "clerk.eeb", today=date(2026, 12, 28))
    permit(clerk, "P1", "eia", ("accept", date(2026, 12, 24)))
    before = permits.show(clerk, "P1/eia")
    assert before["provisional"] and before["due_on"] == "2027-01-07"
    (tmp_path / "cn-2027.yaml").write_text(
        "name: cn-mainland\nyears:\n  2027:\n    holidays:\n      2027-01-01: New Year's Day\n"
        "    workdays: {}\n", encoding="utf-8")
    result = load(app, tmp_path / "cn-2027.yaml")
    assert result["years"] == [2027] and result["rebuilt"] == 1
    after = permits.show(make_app(app.settings.db_url, today=date(2026, 12, 28)), "P1/eia")
    assert after["due_on"] == "2027-01-08" and not after["provisional"]
    assert rebuild(app, check_only=True)["differing"] == 0


def test_a_running_scheduler_sweeps_with_a_calendar_loaded_meanwhile(app, tmp_path):
    """The scheduler process keeps its App for months; a calendar loaded by an admin in another
    process must hold at its next sweep, not be replaced by the calendar it started with."""
    from workflow.calendars import load
    from workflow.schedule import run_scheduled

    setup_departments(app)
    project(app, "P1")
    late = date(2026, 12, 28)
    scheduler = make_app(app.settings.db_url, today=late)
    permit(as_actor(app, "clerk.eeb", today=late), "P1", "eia", ("accept", date(2026, 12, 24)))
    assert run_scheduled(scheduler, "daily") is not None  # starts with the shipped calendar
    (tmp_path / "cn-2027.yaml").write_text(
        "name: cn-mainland\nyears:\n  2027:\n    holidays:\n      2027-01-01: New Year's Day\n"
        "    workdays: {}\n", encoding="utf-8")
    load(make_app(app.settings.db_url, today=late), tmp_path / "cn-2027.yaml")
    scheduler.settings = replace(scheduler.settings, today=date(2026, 12, 29))  # a day later
    assert run_scheduled(scheduler, "daily") is not None
    shown = permits.show(make_app(app.settings.db_url, today=date(2026, 12, 29)), "P1/eia")
    assert shown["due_on"] == "2027-01-08" and not shown["provisional"]


# -- the sweep only goes forward ----------------------------------------------------------------

def test_a_sweep_of_a_day_before_the_last_is_refused(app, run):
    """Lights as of 2026-11-20 logged after those of 2026-11-27 would overwrite newer ones (and
    the rows would then differ from their log); the sweep refuses and writes nothing."""
    from tests.conftest import dump

    setup_departments(app)
    project(app, "P1")
    permit(as_actor(app, "clerk.eeb"), "P1", "eia", ("accept", date(2026, 11, 10)))  # due 11-24
    assert sweep(app, day=date(2026, 11, 27))["transitions"] == {"green->red": 1}
    before = dump(app.settings.db_url)
    for dry in ((), ("--dry-run",)):
        result = run("sweep", "--today", "2026-11-20", *dry)
        assert result.exit_code == 1, result.output
        assert result.output.splitlines() == [
            "Error: cannot sweep 2026-11-20: the last sweep was of 2026-11-27 and lights never "
            "go back; read an earlier day with `--today 2026-11-20` (list, show), "
            "correct the ledger with `workflow rebuild`"]
    assert dump(app.settings.db_url) == before
    check = run("rebuild", "--check")
    assert check.exit_code == 0 and "0 differing" in check.output
    # an earlier day is read, not swept: the permit was yellow then
    shown = run("permit", "show", "P1/eia", "--json", today=date(2026, 11, 20))
    assert json.loads(shown.output)["light"] == "yellow"
    # the last day again, and later days, are swept as before
    assert run("sweep", "--today", "2026-11-27").exit_code == 0
    assert run("sweep", "--today", "2026-11-30").exit_code == 0
    assert run("sweep", "--today", "2026-11-27").exit_code == 1


def test_the_sweep_leaves_rows_moved_after_the_swept_day(app, run):
    """A move recorded after the swept day (here: an extension on 11-26, before anyone swept
    11-23) already set the row's light as of that later day; the sweep of 11-23 leaves the row
    as it is, permits and problems alike, so every row still equals its rebuild from the log."""
    from workflow import problems

    setup_departments(app)
    project(app, "P1")
    project(app, "P2")
    clerk = as_actor(app, "clerk.eeb", today=date(2026, 11, 26))
    office = as_actor(app, "office", today=date(2026, 11, 26))
    permit(clerk, "P1", "eia", ("accept", date(2026, 11, 2)))  # due 11-16
    permit(clerk, "P2", "eia", ("accept", date(2026, 11, 6)))  # due 11-20, not moved later
    q = problems.add(office, "P1", category="power", owner="eeb", days=5, text="Poles",
                     on=date(2026, 11, 2))
    sweep(app, day=date(2026, 11, 20))
    permits.advance(clerk, "P1/eia", "extend", on=date(2026, 11, 26), days=10, reason="hearing")
    problems.advance(office, q["ref"], "extend", on=date(2026, 11, 26), days=15, reason="funds")
    moved = {"eia": permits.show(clerk, "P1/eia"), "problem": problems.show(office, q["ref"])}
    assert [v["light"] for v in moved.values()] == ["yellow", "yellow"]  # as of 11-26
    summary = sweep(app, day=date(2026, 11, 23))  # both would be green as of 11-23
    assert summary["transitions"] == {"yellow->red": 1}  # P2 only
    assert summary["problems"]["changed"] == 0
    assert permits.show(clerk, "P1/eia")["light"] == "yellow"
    assert problems.show(office, q["ref"])["light"] == "yellow"
    check = run("rebuild", "--check")
    assert check.exit_code == 0, check.output
    assert "0 differing" in check.output


def test_init_with_a_corrected_calendar_recomputes_the_clocks(app, tmp_path):
    """An upgrade ships a corrected calendar and the admin runs `workflow init`: the permits'
    due dates follow it at once, as after `calendar load`."""
    import shutil

    from workflow.policy import default_policy_dir
    from workflow.setup import init

    setup_departments(app)
    project(app, "P1")
    permit(as_actor(app, "clerk.eeb"), "P1", "eia", ("accept", date(2026, 11, 2)))
    before = permits.show(app, "P1/eia")["due_on"]
    corrected = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), corrected)
    path = corrected / "calendars" / "cn-mainland.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "      2026-01-01: New Year's Day\n",
        "      2026-01-01: New Year's Day\n      2026-11-10: Local holiday\n", 1), encoding="utf-8")
    upgraded = App(Settings(db_url=app.settings.db_url, policies=corrected, actor="admin",
                            today=app.settings.today))
    assert init(upgraded)["calendar_written"]
    after = permits.show(upgraded, "P1/eia")["due_on"]
    assert date.fromisoformat(after) > date.fromisoformat(before)  # one working day less
    assert rebuild(upgraded, check_only=True)["differing"] == 0
