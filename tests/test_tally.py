"""The completion report's kept counts (store/tally.py): whatever writes the permits, the
counts the triggers keep equal a count of the rows, and a report read from them equals the
report counted from the rows."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import Runner, make_app
from tests.helpers import as_actor, setup_departments
from workflow import permits, seed
from workflow.domain.calendar import from_day_number
from workflow.errors import WorkflowError
from workflow.rebuild import rebuild
from workflow.report.completion import completion
from workflow.store import tally
from workflow.sweep import sweep

DESC = seed.load_description()
DAY = DESC.demo_day
GROUPINGS = ("type", "department", "district")


def seeded(url: str, projects: int = 12, seed_: int = 5):
    from workflow.setup import init

    app = make_app(url, today=DAY)
    init(app)
    seed.seed(app, projects=projects, seed=seed_)
    setup_departments(app)
    return app


def without_source(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "from_kept_counts"}


def assert_kept_equals_recount(app) -> bool:
    """The kept counts equal the rows, and every grouping reads the same either way; returns
    whether the report read the kept counts."""
    with app.db.connect() as conn:
        assert tally.differences(conn) == []
    used = set()
    for by in GROUPINGS:
        kept = completion(app, by=by)
        counted = completion(app, by=by, recount=True)
        assert counted["from_kept_counts"] is False
        assert without_source(kept) == without_source(counted), by
        used.add(kept["from_kept_counts"])
    assert len(used) == 1  # the three groupings decide alike
    return used.pop()


def test_a_seeded_ledger_reads_its_report_from_the_kept_counts_after_the_sweep(backend_url):
    app = seeded(backend_url)
    assert assert_kept_equals_recount(app) is True  # the seed's last act is the day's sweep
    with app.db.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM permit_tally")).scalar()
        buckets = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM permit_tally "
            "GROUP BY type, department, district, phase, light) g")).scalar()
    assert rows == buckets  # the sweep folded the day's rows, one per bucket
    run = Runner(backend_url, today=DAY)
    kept = json.loads(run("report", "completion", "--by", "district", "--json").output)
    counted = json.loads(run("report", "completion", "--by", "district", "--recount",
                             "--json").output)
    assert (kept["from_kept_counts"], counted["from_kept_counts"]) == (True, False)
    assert without_source(kept) == without_source(counted)
    # the next day, before its sweep, the lights are yesterday's: counted from the rows
    later = make_app(backend_url, today=DAY + timedelta(days=1))
    assert completion(later, by="type")["from_kept_counts"] is False
    sweep(later)
    assert assert_kept_equals_recount(later) is True
    later.db.dispose()


def _random_move(rng: random.Random, app, today) -> None:
    policy = app.policy
    with app.db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT p.id, pr.code, p.type, p.department, p.state, p.last_move_on "
            "FROM permit p JOIN project pr ON pr.id = p.project_id ORDER BY p.id")).all()
    pid, code, type_, department, state, last = rng.choice(rows)
    last = from_day_number(last) if last is not None else None
    events = [e for e in policy.lifecycle.events.values() if state in e.sources]
    if not events:
        return
    spec = rng.choice(events)
    earliest = max(last or today - timedelta(days=20), today - timedelta(days=20))
    on = earliest + timedelta(days=rng.randint(0, max(0, (today - earliest).days)))
    mover = as_actor(app, f"clerk.{department}", today)
    try:
        permits.advance(mover, f"{code}/{type_}", spec.name, on=min(on, today),
                        reason="检查" if spec.reason else None,
                        days=rng.randint(1, 4) if spec.days else None)
    except WorkflowError:
        pass  # a move the policy refuses changes nothing
    finally:
        mover.db.dispose()


@pytest.mark.parametrize("walk", [1, 2, 3])
def test_any_sequence_of_writes_keeps_the_counts_equal_to_the_rows(backend_url, walk):
    """A random walk through moves (some dated back), district changes by plain SQL, days
    passing, sweeps and rebuilds: after every step the kept counts equal the rows, and the
    report reads them exactly when the lights are as of its day."""
    rng = random.Random(walk)
    app = seeded(backend_url, seed_=walk)
    today = DAY
    kept_reads = 0
    for _ in range(60):
        op = rng.choices(["move", "district", "sweep", "day", "rebuild"], [10, 2, 3, 2, 1])[0]
        if op == "move":
            _random_move(rng, app, today)
        elif op == "district":
            with app.db.connect(write=True) as conn:
                ids = conn.execute(sa.text("SELECT id FROM project ORDER BY id")).scalars().all()
                conn.execute(sa.text("UPDATE project SET district = :d WHERE id = :id"),
                             {"d": rng.choice(["东区", "西区", "新区", None]),
                              "id": rng.choice(ids)})
        elif op == "day":
            today += timedelta(days=rng.randint(1, 2))
            app.db.dispose()
            app = make_app(backend_url, today=today)
        elif op == "sweep":
            sweep(app)
        else:
            rebuild(app)
        kept_reads += assert_kept_equals_recount(app)
    assert kept_reads > 0  # the walk did read the kept counts
    app.db.dispose()


def _pending_without_prerequisites(app) -> tuple[str, str, str]:
    """A project code, type and department of a pending permit any clerk may accept."""
    free = [c for c, t in app.policy.permit_types.items() if not t.prerequisites]
    with app.db.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT pr.code, p.type, p.department FROM permit p "
            "JOIN project pr ON pr.id = p.project_id WHERE p.phase = 'pending' "
            "AND p.type IN :free AND p.last_move_on IS NULL ORDER BY p.id LIMIT 1"
        ).bindparams(sa.bindparam("free", expanding=True)), {"free": free}).one())


def test_a_move_dated_back_after_the_sweep_sends_the_report_to_the_rows(backend_url):
    """A move dated back stores its light as of its own day; the kept counts may no longer be
    the report day's lights, so the report counts the rows until the next sweep."""
    app = seeded(backend_url)
    code, type_, department = _pending_without_prerequisites(app)
    assert completion(app, by="type")["from_kept_counts"] is True
    clerk = as_actor(app, f"clerk.{department}")
    permits.advance(clerk, f"{code}/{type_}", "accept", on=DAY - timedelta(days=14))
    assert assert_kept_equals_recount(app) is False
    sweep(app)
    assert assert_kept_equals_recount(app) is True
    clerk.db.dispose()


def test_a_move_on_the_sweep_day_keeps_the_kept_counts_in_use(backend_url):
    app = seeded(backend_url)
    code, type_, department = _pending_without_prerequisites(app)
    before = completion(app, by="type")
    clerk = as_actor(app, f"clerk.{department}")
    permits.advance(clerk, f"{code}/{type_}", "accept")
    permits.advance(clerk, f"{code}/{type_}", "approve")
    after = completion(app, by="type")
    assert after["from_kept_counts"] is True
    assert after["total"]["closed"] == before["total"]["closed"] + 1
    assert after["total"]["pending"] == before["total"]["pending"] - 1
    assert assert_kept_equals_recount(app) is True
    clerk.db.dispose()


def test_a_ledger_import_after_the_sweep_is_counted_and_its_lights_wait_for_the_next(
        backend_url):
    from tests.report_helpers import load, row

    app = seeded(backend_url)
    # an imported open permit's light is as of its last move: counted, but not as of today
    load(app, [row("N1", "energy", "accepted", accepted=DAY - timedelta(days=40),
                   district="东区")])
    assert assert_kept_equals_recount(app) is False
    sweep(app)
    assert assert_kept_equals_recount(app) is True


def test_rebuild_check_finds_tampered_counts_and_rebuild_recounts_them(backend_url):
    app = seeded(backend_url)
    with app.db.connect(write=True) as conn:
        conn.execute(sa.text("UPDATE permit_tally SET n = n + 3 WHERE id = "
                             "(SELECT min(id) FROM permit_tally)"))
    run = Runner(backend_url, today=DAY)
    checked = run("rebuild", "--check")
    assert checked.exit_code == 1
    assert "1 buckets of the completion report's kept counts differ" in checked.output
    fixed = run("rebuild")
    assert fixed.exit_code == 0, fixed.output
    assert rebuild(app, check_only=True)["tally_differing"] == 0
    assert assert_kept_equals_recount(app) is True


def test_concurrent_moves_and_district_changes_keep_the_counts(backend_url):
    """Moves in several sessions at once, with district changes between them: no deadlock,
    no lost row, the counts equal the permits."""
    app = seeded(backend_url, projects=20)
    with app.db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT pr.code, p.type, p.department, p.state FROM permit p "
            "JOIN project pr ON pr.id = p.project_id ORDER BY p.id")).all()
        project_ids = conn.execute(sa.text("SELECT id FROM project")).scalars().all()
    free = {c for c, t in app.policy.permit_types.items() if not t.prerequisites}
    targets = [r for r in rows if r.state == "accepted" or (r.state in ("draft", "preparing")
                                                            and r.type in free)]
    assert len(targets) >= 8
    errors: list[BaseException] = []

    def mover(chunk):
        for code, type_, department, state in chunk:
            clerk = as_actor(app, f"clerk.{department}")
            try:
                event = "approve" if state == "accepted" else "accept"
                permits.advance(clerk, f"{code}/{type_}", event)
            except BaseException as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
            finally:
                clerk.db.dispose()

    def redistrict():
        for i, pid in enumerate(project_ids):
            with app.db.connect(write=True) as conn:
                conn.execute(sa.text("UPDATE project SET district = :d WHERE id = :id"),
                             {"d": f"区{i % 3}", "id": pid})

    threads = [threading.Thread(target=mover, args=(targets[i::4],)) for i in range(4)]
    threads.append(threading.Thread(target=redistrict))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert assert_kept_equals_recount(app) is True


def test_a_district_change_waits_for_a_permit_write_in_progress(backend_url):
    """A permit written in one transaction while another changes its project's district: the
    district change counts the permit as the first transaction leaves it, not as it stood."""
    app = seeded(backend_url)
    with app.db.connect() as conn:
        permit_id, project_id = conn.execute(sa.text(
            "SELECT id, project_id FROM permit WHERE phase = 'running' ORDER BY id LIMIT 1")
        ).one()
    moved = threading.Event()
    done = threading.Event()

    def change_district():
        moved.wait()
        with app.db.connect(write=True) as conn:
            conn.execute(sa.text("UPDATE project SET district = '新区' WHERE id = :id"),
                         {"id": project_id})
        done.set()

    other = threading.Thread(target=change_district)
    other.start()
    with app.db.connect(write=True) as conn:  # a close written by plain SQL, not committed yet
        conn.execute(sa.text("UPDATE permit SET phase = 'closed', state = 'approved', "
                             "closed_on = accepted_on + 1 WHERE id = :id"), {"id": permit_id})
        moved.set()
        assert not done.wait(1.0)  # the district change waits for this write
    other.join()
    with app.db.connect() as conn:
        assert tally.differences(conn) == []
