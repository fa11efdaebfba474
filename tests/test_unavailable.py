"""Database unreachable, refused or gone mid-transaction: every command fails with one clear
`Error:` line and exit status 1, never a traceback, never a password; nothing partial is written.
The scheduler logs such a failure as one line, keeps running, and its next try does the day."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.cli_tree import leaf_commands, minimal_argv
from tests.conftest import PG_URL, dump
from workflow.cli import cli
from workflow.store.db import Database

SECRET = "s3cret-pw"
# Commands that never open the database.
NO_DATABASE = {("policy", "check"), ("policy", "show")}
# Commands that refuse a PostgreSQL URL before connecting (they point to pg_dump instead).
SQLITE_ONLY = {("backup",), ("restore",)}
COMMANDS = list(leaf_commands(long_running=True))  # a daemon too: it must fail at once


def unreachable_urls() -> list[tuple[str, str]]:
    urls = [("closed port", f"postgresql+psycopg://workflow:{SECRET}@127.0.0.1:1/workflow"),
            ("no such directory", "sqlite:////nonexistent-dir/for/sure/workflow.db")]
    if PG_URL:
        server = PG_URL.split("@", 1)[1].rsplit("/", 1)[0]
        urls += [("unknown user", f"postgresql+psycopg://nosuchuser:{SECRET}@{server}/test"),
                 ("no such database", f"postgresql+psycopg://postgres:{SECRET}@{server}/nodb_x")]
    return urls


def invoke(url: str, argv: list[str]):
    env = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
           "WORKFLOW_POLICIES": None}
    return CliRunner().invoke(cli, ["--db", url, "--as", "admin", *argv], env=env,
                              catch_exceptions=True)


@pytest.mark.parametrize("case, url", unreachable_urls(), ids=[c for c, _ in unreachable_urls()])
def test_every_command_fails_with_one_clear_line(case, url, tmp_path):
    failures = []
    for path, cmd in COMMANDS:
        argv = minimal_argv(path, cmd, tmp_path)
        result = invoke(url, argv)
        out = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            failures.append(f"{argv}: crashed with {result.exception!r}")
            continue
        if SECRET in out or "Traceback" in out:
            failures.append(f"{argv}: leaks {out!r}")
        if path in NO_DATABASE:
            if result.exit_code != 0:
                failures.append(f"{argv}: needs no database but exited {result.exit_code}: {out}")
            continue
        lines = out.strip().splitlines()
        expected = "database unavailable" if path not in SQLITE_ONLY or "sqlite" in url else ""
        if (result.exit_code != 1 or len(lines) != 1 or not lines[0].startswith("Error: ")
                or expected not in out):
            failures.append(f"{argv}: exit {result.exit_code}: {out!r}")
    assert not failures, "\n".join(failures)
    assert len(COMMANDS) >= 20


def test_a_file_that_is_not_a_database_is_one_clear_line(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are meeting notes, not a database" * 100)
    result = invoke(f"sqlite:///{junk}", ["permit", "list"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert junk.read_bytes() == b"these are meeting notes, not a database" * 100


def test_a_connection_lost_mid_sweep_writes_nothing_and_the_next_run_succeeds(app, run):
    """The server drops the sweep's connection after its light changes are written but before
    they commit: the command fails with one line and the ledger is as before."""
    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only: a SQLite database cannot drop a connection")
    from datetime import date

    from tests.helpers import permit, project
    from workflow import sweep

    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    before = dump(app.settings.db_url)

    def drop_connection(app_, conn, day, changed):
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        killer = sa.create_engine(app_.db.url, isolation_level="AUTOCOMMIT")
        with killer.connect() as k:
            k.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        killer.dispose()
        conn.exec_driver_sql("SELECT 1")
        return {}

    sweep.AFTER_CHANGES.append(drop_connection)
    try:
        result = CliRunner().invoke(cli, ["--db", app.settings.db_url, "--today", "2026-11-20",
                                          "sweep"], catch_exceptions=True)
    finally:
        sweep.AFTER_CHANGES.remove(drop_connection)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: database unavailable")
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1
    assert dump(app.settings.db_url) == before
    assert run("sweep", actor=None).exit_code == 0
    assert dump(app.settings.db_url) != before


# -- the scheduler during an outage ----------------------------------------------------------

DAY = "2026-11-20"  # TODAY, the day the scheduler's daily job sweeps


@pytest.fixture(params=["sqlite"] + (["postgres"] if PG_URL else []))
def outage(request, tmp_path, monkeypatch):
    """A database that `down()` makes unreachable and `up()` brings back, initialised, with three
    red projects (two notices, six matters) to sweep; notices are delivered as files."""
    from tests.conftest import _fresh_pg_database, make_app
    from tests.helpers import setup_departments
    from tests.outage import PostgresOutage, SqliteOutage
    from tests.test_supervision import red_permits
    from workflow.setup import init

    monkeypatch.setenv("WORKFLOW_NOTICE_DIR", str(tmp_path / "notices"))
    drop = None
    if request.param == "sqlite":
        o = SqliteOutage(tmp_path)
    else:
        direct, drop = _fresh_pg_database(PG_URL)
        o = PostgresOutage(direct)
    app = make_app(o.url)
    init(app)
    setup_departments(app)
    red_permits(app, 3, dept_types=("eia", "approval"))
    app.db.dispose()
    yield o
    for a in o.apps:
        if "db" in vars(a):
            a.db.dispose()
    if drop:
        o.down()
        drop()


def scheduler_app(o, tmp_path, **schedule):
    """An app on the outage's database whose scheduler retries every `retry_minutes`."""
    from tests.conftest import make_app
    from tests.test_supervision import policies_with

    pol = policies_with(tmp_path, {"schedule": {"retry_minutes": 0.01, **schedule}})
    app = make_app(o.url, actor=None, policies=pol)
    o.apps.append(app)
    return app


def tally(url: str) -> dict:
    """What the daily job of DAY leaves: sweeps, notices, deliveries, sends, its job_run rows."""
    db = Database(url)
    queries = {
        "sweeps": "SELECT count(*) FROM sweep_run",
        "light events": "SELECT count(*) FROM permit_event WHERE kind = 'light'",
        "notices": "SELECT count(*) FROM notice",
        "matters": "SELECT count(*) FROM notice_matter",
        "sent": "SELECT count(*) FROM delivery WHERE status = 'sent'",
        "not sent": "SELECT count(*) FROM delivery WHERE status != 'sent'",
        "attempts": "SELECT count(*) FROM delivery_attempt",
        "daily runs": "SELECT count(*) FROM job_run WHERE job = 'daily'",
        "daily ok": "SELECT count(*) FROM job_run WHERE job = 'daily' AND status = 'ok'",
    }
    with db.connect() as conn:
        out = {k: conn.execute(sa.text(q)).scalar() for k, q in queries.items()}
    db.dispose()
    return out


def domain_dump(url: str) -> list:
    """Every row but the scheduler's own bookkeeping (its job store and run log)."""
    return [t for t in dump(url) if t[0] not in ("scheduler_job", "job_run")]


def notice_files(tmp_path) -> list[str]:
    folder = tmp_path / "notices"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


SWEPT_ONCE = {"sweeps": 1, "notices": 2, "matters": 6, "sent": 2, "not sent": 0, "attempts": 2}
FILES = [f"2026/supervision-2026-0000{n}.zh.{ext}" for n in (1, 2) for ext in ("html", "md")]


def problems(records) -> list[str]:
    """Warnings and errors that are not one clean line: a traceback, a password, a newline."""
    from tests.outage import SECRET

    bad = []
    for r in records:
        text = r.getMessage()
        if r.exc_info or r.exc_text or "\n" in text or SECRET in text or "Traceback" in text:
            bad.append(f"{r.name}: {text!r} exc_info={bool(r.exc_info)}")
    return bad


@pytest.mark.parametrize("when", ["before the job", "mid-sweep"])
def test_a_daily_job_in_an_outage_logs_one_line_writes_nothing_and_the_next_run_does_the_day(
        outage, when, tmp_path, caplog):
    from workflow import schedule, sweep

    if when == "mid-sweep" and outage.direct.startswith("sqlite"):
        pytest.skip("a SQLite connection already open keeps its file: nothing to cut mid-sweep")
    app = scheduler_app(outage, tmp_path)
    before = domain_dump(outage.direct)

    def cut(app_, conn, day, changed):  # lights, notices and deliveries written, not committed
        outage.down()
        return {}

    if when == "before the job":
        outage.down()
    else:
        sweep.AFTER_CHANGES.append(cut)
    try:
        assert schedule.run_scheduled(app, "daily") is None
    finally:
        if cut in sweep.AFTER_CHANGES:
            sweep.AFTER_CHANGES.remove(cut)
        outage.up()
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].getMessage().startswith(f"daily job of {DAY} failed: database unavailable")
    assert problems(caplog.records) == []
    assert domain_dump(outage.direct) == before  # no sweep, light event, notice or delivery
    assert tally(outage.direct)["daily ok"] == 0 and notice_files(tmp_path) == []

    assert "skipped" not in schedule.run_scheduled(app, "daily")["sweep"]  # the next run
    assert schedule.run_scheduled(app, "daily")["sweep"]["skipped"]  # and the one after it
    assert tally(outage.direct) | SWEPT_ONCE == tally(outage.direct)
    assert tally(outage.direct)["daily ok"] == 1 and notice_files(tmp_path) == FILES


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class AtNine:
    """The start-up check's clock: 09:00 in Shanghai on DAY, after the daily time (08:30)."""

    def now(self):
        from datetime import datetime, timedelta, timezone

        return datetime(2026, 11, 20, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def run_scheduler(app, until, *, catch_up: bool = True):
    """Run `workflow.schedule.start` in a thread until `until()` holds; return what it returned."""
    from workflow.schedule import start

    stop, out = threading.Event(), {}
    thread = threading.Thread(target=lambda: out.update(
        start(app, stop=stop, catch_up=catch_up, clock=AtNine())))
    thread.start()
    try:
        assert wait_for(until), "the scheduler did not get there in time"
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive(), "the scheduler did not stop"
    return out


def test_the_scheduler_outlives_an_outage_and_its_retry_sweeps_the_day_once(
        outage, tmp_path, caplog, monkeypatch):
    """The database goes away right after the start-up check found today unswept: the catch-up
    run fails, is logged and tried again every `retry_minutes` (the job store's rounds fail
    too); once the database is back the next try sweeps the day and sends its notices, once."""
    from workflow import schedule

    app = scheduler_app(outage, tmp_path, deliver_every_minutes=0)
    due_today = schedule.due_today

    def due_then_down(app_, now):
        due = due_today(app_, now)
        outage.down()
        return due

    monkeypatch.setattr(schedule, "due_today", due_then_down)

    def failed() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.getMessage().startswith(f"daily job of {DAY} failed")]

    def back_after_three_failures() -> bool:
        if len(failed()) >= 3 and outage_state["down"]:
            outage.up()
            outage_state["down"] = False
        return not outage_state["down"] and tally(outage.direct)["sent"] == 2

    outage_state = {"down": True}
    out = run_scheduler(app, back_after_three_failures)
    assert out == {"caught_up": True}
    assert all("database unavailable" in m and "trying again in 0.6 s" in m for m in failed())
    assert problems(caplog.records) == []
    assert tally(outage.direct) | SWEPT_ONCE == tally(outage.direct)
    # the failed tries wrote nothing, not even their job_run row; the retries stopped at success
    assert tally(outage.direct)["daily runs"] == 1
    assert notice_files(tmp_path) == FILES


def test_a_job_store_round_that_loses_the_database_does_not_stop_the_scheduler(
        outage, tmp_path, caplog, monkeypatch):
    """APScheduler saves a due job's next run time after handing it out; the database goes away
    just then. The round is logged as one line and tried again; the day is swept once the
    database is back, and the stored next run time moves on."""
    from datetime import UTC, datetime, timedelta

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from tests.helpers import make_daily_job_due

    app = scheduler_app(outage, tmp_path, deliver_every_minutes=0)
    stored = "SELECT count(*) FROM scheduler_job WHERE id = 'daily'"
    run_scheduler(app, lambda: scalar(outage.direct, stored) == 1, catch_up=False)
    missed = datetime.now(UTC) - timedelta(minutes=1)  # the daily run is due
    db = Database(outage.direct)
    with db.connect(write=True) as conn:
        make_daily_job_due(conn, missed)
    db.dispose()
    update_job = SQLAlchemyJobStore.update_job
    cuts = []

    def down_then_update(store, job):
        if not cuts:
            outage.down()
            cuts.append(time.monotonic())
        return update_job(store, job)

    monkeypatch.setattr(SQLAlchemyJobStore, "update_job", down_then_update)

    def back_after_a_second() -> bool:
        if cuts and len(cuts) == 1 and time.monotonic() - cuts[0] > 1:
            outage.up()
            cuts.append(time.monotonic())
        return len(cuts) == 2 and tally(outage.direct)["sent"] == 2 and scalar(
            outage.direct, "SELECT next_run_time FROM scheduler_job WHERE id = 'daily'"
        ) > datetime.now(UTC).timestamp()

    run_scheduler(app, back_after_a_second, catch_up=False)
    rounds = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("scheduler: job store round failed")]
    assert len(rounds) == 1 and "trying again in 0.6 s" in rounds[0]
    assert problems(caplog.records) == []
    assert tally(outage.direct) | SWEPT_ONCE == tally(outage.direct)
    assert notice_files(tmp_path) == FILES


def scalar(url: str, sql: str):
    db = Database(url)
    with db.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    db.dispose()
    return value


def test_a_sqlite_file_gone_missing_is_not_recreated_empty_by_any_connection(sqlite_app):
    """The scheduler's job store connects without `Database.connect` (and its check that the
    file exists): it must fail too, not leave an empty database where the real one was."""
    db = Database(sqlite_app.settings.db_url)  # as any command but `init` opens it
    with db.engine.connect():
        pass
    db.dispose()
    sqlite_app.db.dispose()
    db.path.rename(db.path.with_suffix(".away"))
    with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
        with db.engine.connect():
            pass
    assert not db.path.exists()


def test_a_bulk_write_fails_as_any_other_database_error(app):
    """Bulk rows go straight to the driver (COPY on PostgreSQL); its errors still arrive as
    SQLAlchemy's, so the CLI says one line and a lost server reads "database unavailable"."""
    from workflow.cli.common import database_error
    from workflow.store.db import insert_plain
    from workflow.store.models import Meta

    with pytest.raises(sa.exc.IntegrityError) as raised:
        with app.db.connect(write=True) as conn:
            insert_plain(conn, Meta.__table__, ("key", "value"), [("k", "1"), ("k", "2")])
    assert database_error(raised.value).startswith("database error: ")
    assert app.meta("k") is None  # nothing of the batch was written
