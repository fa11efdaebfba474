"""The scheduler: the daily sweep + notices + delivery, delivery retries, the weekly report.

Jobs are plain functions that take `app` (`daily`, `deliver_due`, `weekly`), so a cron line, a
test with a controllable clock, or `workflow scheduler run daily` can drive them. The APScheduler
3.x process (`workflow scheduler start`) only decides when to call them:

* its job store is the project's database (table `scheduler_job`); a stored job keeps its next
  run time across restarts, and with ``coalesce=True`` and a grace time of hours (policy) a run
  missed while the process was down runs once on start, not once per missed day;
* on start it also runs today's daily job if today's time has passed and the day was not swept
  (APScheduler saves the next run time before a job finishes, so a crash mid-run loses that run);
* several schedulers may share one database: each day's sweep is claimed under the sweep's lock
  (a unique `sweep_run` row), deliveries are claimed row by row, the weekly job is claimed in
  `job_run`; so exactly one process does each piece of work;
* the database may go away while it runs: a job that fails is logged as one line naming the job
  and the day, and the daily and weekly jobs are tried again every `retry_minutes` until they
  succeed or the day is over; a round of the job store that fails is logged and retried at the
  same pace. The process never dies of it, and a failed run leaves no partial work (the sweep
  and its notices are one transaction), so the next try does the whole day.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from workflow import actors
from workflow.app import App
from workflow.errors import WorkflowError
from workflow.store.models import JobRun, SchedulerJob, SweepRun, utcnow

job_run_t = JobRun.__table__
job_t = SchedulerJob.__table__
sweep_t = SweepRun.__table__
SCHEDULER_ACTOR = "scheduler"
JOB_IDS = ("daily", "deliver", "weekly")
WEEKLY_LOCK = 7_310_422
# A failed run of these is tried again the same day (`deliver` runs every few minutes anyway).
RETRIED = ("daily", "weekly")
log = logging.getLogger("workflow.schedule")

# Further weekly jobs: called with (app, day) after the weekly report, return a summary.
WEEKLY: list[Callable[[App, date], dict]] = []


def weekly_report(app: App, day: date) -> dict:
    """Write the weekly report as of `day` into the policy's directory, in each format."""
    import os
    from pathlib import Path

    from workflow.report.weekly import write_weekly

    cfg = app.policy.escalation.schedule.weekly_report
    folder = Path(os.environ.get("WORKFLOW_REPORT_DIR") or cfg.directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in cfg.formats:
        path = folder / f"weekly-{day.isoformat()}.{fmt}"
        write_weekly(app, path, as_of=day)
        paths.append(str(path))
    return {"report": "weekly", "paths": paths}


def _record(app: App, job: str, day: date, owner: str) -> int:
    with app.db.connect(write=True) as conn:
        return conn.execute(job_run_t.insert().values(
            job=job, day=day, owner=owner, started_at=utcnow(), status="running", summary="{}",
        )).inserted_primary_key[0]


def _done(app: App, run_id: int, status: str, summary: dict | None = None,
          error: str | None = None) -> None:
    with app.db.connect(write=True) as conn:
        conn.execute(job_run_t.update().where(job_run_t.c.id == run_id).values(
            finished_at=utcnow(), status=status, error=error,
            summary=json.dumps(summary or {}, ensure_ascii=False, default=str),
        ))


def _run(app: App, job: str, day: date, body: Callable[[], dict]) -> dict:
    from workflow.notify.outbox import owner_name, safe_error

    run_id = _record(app, job, day, owner_name())
    try:
        summary = body()
    except Exception as e:
        try:
            _done(app, run_id, "error", error=safe_error(e))
        except Exception:  # the database went away: the job's own error is the one to report
            pass
        raise
    _done(app, run_id, "skipped" if summary.get("skipped") else "ok", summary)
    return summary


def daily(app: App, *, day: date | None = None, clock: Any = None, wait: bool = True) -> dict:
    """The daily job: sweep `day` (default today) unless a sweep of that day exists, which
    issues and queues notices in the same transaction; then deliver what is due."""
    from workflow.notify.outbox import deliver
    from workflow.sweep import sweep

    day = day or app.today()

    def body() -> dict:
        swept = sweep(app, day=day, once=True, actor=SCHEDULER_ACTOR)
        delivered = deliver(app, clock=clock, wait=wait)
        return {"skipped": bool(swept.get("skipped")), "sweep": swept, "delivery": delivered}

    return _run(app, "daily", day, body)


def deliver_due(app: App, *, clock: Any = None) -> dict:
    """The retry job: send deliveries that are due (throttled ones wait for the next run)."""
    from workflow.notify.outbox import deliver

    return deliver(app, clock=clock, wait=False)


def weekly(app: App, *, day: date | None = None) -> dict:
    """The weekly job: write the weekly report (and run any registered weekly hook), once per
    day across schedulers."""
    day = day or app.today()
    with app.db.connect(write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WEEKLY_LOCK})
        # done, or running in a process that has not been silent for an hour (else it died)
        done = conn.execute(sa.select(job_run_t.c.id).where(
            job_run_t.c.job == "weekly", job_run_t.c.day == day,
            sa.or_(job_run_t.c.status == "ok",
                   sa.and_(job_run_t.c.status == "running",
                           job_run_t.c.started_at > utcnow() - timedelta(hours=1))),
        )).first()
        if done:
            return {"skipped": True, "day": day.isoformat()}
        from workflow.notify.outbox import owner_name

        run_id = conn.execute(job_run_t.insert().values(
            job="weekly", day=day, owner=owner_name(), started_at=utcnow(), status="running",
            summary="{}",
        )).inserted_primary_key[0]
    try:
        results = [weekly_report(app, day)] + [hook(app, day) or {} for hook in WEEKLY]
        if app.policy.problems.agenda_directory:  # the joint meeting's agenda, when wanted
            from workflow.report.agenda import scheduled_agenda

            results.append(scheduled_agenda(app, day))
    except Exception as e:
        from workflow.notify.outbox import safe_error

        _done(app, run_id, "error", error=safe_error(e))
        raise
    summary = {"day": day.isoformat(), "reports": results}
    _done(app, run_id, "ok", summary)
    return summary


JOBS: dict[str, Callable[..., dict]] = {"daily": daily, "deliver": deliver_due, "weekly": weekly}


def run_job(app: App, name: str, **kw) -> dict:
    """Run one job now, as the scheduler would (`workflow scheduler run daily`)."""
    from workflow.errors import BadData

    if name not in JOBS:
        raise BadData(f"unknown job {name!r} (jobs: {', '.join(JOBS)})")
    actors.require_job_runner(app, f"run the {name} job")  # before its run is recorded
    return JOBS[name](app, **kw)


def run_scheduled(app: App, name: str, *, day: date | None = None, clock: Any = None,
                  retry_in: float | None = None) -> dict | None:
    """Run one job as the scheduler process does: never raise; log a failure as one line naming
    the job, the day and the reason (and `retry_in` seconds, when it will be tried again).

    Returns the job's summary, or None when it failed. A failed run leaves no partial work: the
    sweep and its notices are one transaction, deliveries are marked one by one.
    """
    # a scheduler runs for months: read the policy and the calendar loaded into the database
    # afresh for each job, or a `calendar load` meanwhile would be undone by the next sweep
    app.reset()
    day = day or app.today()
    kw: dict[str, Any] = {} if name == "deliver" else {"day": day}
    if name != "weekly":
        kw["clock"] = clock
    try:
        return run_job(app, name, **kw)
    except Exception as e:
        again = f"; trying again in {_duration(retry_in)}" if retry_in else ""
        log.error("%s job of %s failed: %s%s", name, day.isoformat(), one_line(e), again)
        log.debug("%s job of %s failed", name, day.isoformat(), exc_info=True)
        return None


def one_line(e: BaseException) -> str:
    """The reason of a failure in one line without a password: the library's own message, else
    the exception's type and first line, URLs and DSN passwords masked."""
    from workflow.notify.outbox import safe_error
    from workflow.store.db import redact_text

    text = str(e).strip() if isinstance(e, WorkflowError) else safe_error(e)
    return redact_text(text.splitlines()[0] if text else type(e).__name__)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


# -- the APScheduler process ---------------------------------------------------------------------

class _Registry:
    """The app of this scheduler process: stored jobs name a function and a job name only, so
    the job store never holds settings or secrets."""

    app: App | None = None
    clock: Any = None
    scheduler: Any = None


class StoppableClock:
    """Real time whose sleep ends early on shutdown, so a job waiting out a robot's rate limit
    lets SIGTERM stop the process promptly (what is left is sent by the next run)."""

    def __init__(self, stop: threading.Event):
        from workflow.notify.outbox import SystemClock

        self._stop = stop
        self._real = SystemClock()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def now(self) -> datetime:
        return self._real.now()

    def sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)


def _job(name: str, day: str | None = None) -> None:
    """What APScheduler calls: run the job (a retry names the day it retries); on failure,
    schedule a retry in this process's memory store instead of raising into APScheduler, which
    would log a traceback and wait for the next day."""
    app, clock = _Registry.app, _Registry.clock
    if app is None:  # pragma: no cover - a stored job fired in a process that is not ours
        raise RuntimeError("no workflow app in this process")
    on = date.fromisoformat(day) if day else app.today()
    if day and app.today() != on:
        # after midnight the next daily run covers the missed day (lights and matters follow
        # from the day, not from the runs before it)
        log.warning("%s job of %s not tried again: the day is over", name, day)
        return
    stopping = getattr(clock, "stopping", False)
    retry = retry_seconds(app) if name in RETRIED and not stopping else None
    if run_scheduled(app, name, day=on, clock=clock, retry_in=retry) is None and retry:
        _Registry.scheduler.add_job(
            _job, "date", run_date=datetime.now(UTC) + timedelta(seconds=retry),
            args=[name, on.isoformat()], id=f"{name}-retry", jobstore="memory",
            replace_existing=True, misfire_grace_time=None,
        )


def retry_seconds(app: App) -> float:
    return app.policy.escalation.schedule.retry_minutes * 60


def daily_time(app: App) -> time:
    hh, mm = app.policy.escalation.schedule.daily.split(":")
    return time(int(hh), int(mm))


def due_today(app: App, now: datetime) -> bool:
    """True when today's daily time has passed (in the schedule's zone) and today is unswept."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(app.policy.escalation.schedule.timezone)
    local = now.astimezone(tz)
    if local.time() < daily_time(app):
        return False
    with app.db.connect() as conn:
        return conn.execute(
            sa.select(sweep_t.c.id).where(sweep_t.c.day == app.today())
        ).first() is None


class OneLine(logging.Filter):
    """Make APScheduler's warnings and errors one line without a password or a traceback: its
    job store reports a lost database with the driver's multi-line message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            from workflow.store.db import redact_text

            text = record.getMessage().strip()
            record.msg = redact_text(text.splitlines()[0] if text else "")
            record.args = None
            record.exc_info = record.exc_text = None
        return True


ONE_LINE = OneLine()
APSCHEDULER_LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default",
                       "apscheduler.jobstores.default", "apscheduler.jobstores.memory")


def build(app: App):
    """A BackgroundScheduler on the project's database with the policy's jobs."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.base import ConflictingIdError
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    class Scheduler(BackgroundScheduler):
        def _process_jobs(self):
            # APScheduler 3.x saves a job's next run time and asks the store for the next wakeup
            # outside its own error handling: the database going away between its reads and
            # writes would end the scheduler's thread while the process lives on, doing nothing.
            try:
                return super()._process_jobs()
            except Exception as e:
                log.error("scheduler: job store round failed: %s; trying again in %s",
                          one_line(e), _duration(self.jobstore_retry_interval))
                return self.jobstore_retry_interval

    sch = app.policy.escalation.schedule
    for name in APSCHEDULER_LOGGERS:
        logging.getLogger(name).addFilter(ONE_LINE)
    store = SQLAlchemyJobStore(engine=app.db.engine, tablename=job_t.name)
    scheduler = Scheduler(
        timezone=sch.timezone,
        jobstores={"default": store, "memory": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(2)},
        # Deliberate: a run missed while down runs once (coalesce) if within the grace time;
        # never two daily runs at once in one process.
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": int(sch.misfire_grace_hours * 3600)},
        # an unreachable job store is asked again at the pace of the jobs' own retries
        jobstore_retry_interval=retry_seconds(app),
    )
    t = daily_time(app)
    wk = sch.weekly_report
    wh, wm = wk.time.split(":")
    triggers = {
        "daily": CronTrigger(hour=t.hour, minute=t.minute, timezone=sch.timezone),
        "weekly": CronTrigger(day_of_week=",".join(wk.days), hour=int(wh), minute=int(wm),
                              timezone=sch.timezone),
    }
    if sch.deliver_every_minutes:
        triggers["deliver"] = IntervalTrigger(minutes=sch.deliver_every_minutes,
                                              timezone=sch.timezone)
    scheduler._workflow_triggers = triggers  # applied in start(), once the store is open
    scheduler._workflow_conflict = ConflictingIdError
    return scheduler


def _install_jobs(scheduler, app: App) -> None:
    """Add the policy's jobs, keeping a stored job whose trigger is unchanged (its saved next
    run time is what lets a run missed while down be caught up)."""
    from sqlalchemy.exc import IntegrityError

    triggers = scheduler._workflow_triggers
    for job_id in JOB_IDS:
        existing = scheduler.get_job(job_id, jobstore="default")
        trigger = triggers.get(job_id)
        if trigger is None:
            if existing is not None:
                existing.remove()
            continue
        if existing is not None and str(existing.trigger) == str(trigger):
            continue
        try:
            scheduler.add_job(_job, trigger, args=[job_id], id=job_id, name=job_id,
                              jobstore="default", replace_existing=True)
        except (scheduler._workflow_conflict, IntegrityError):
            pass  # another scheduler added it at the same moment


def start(app: App, *, stop: threading.Event | None = None, catch_up: bool = True,
          clock: Any = None, on_ready: Callable[[], None] | None = None) -> dict:
    """Run the scheduler until SIGTERM/SIGINT (or `stop` is set); return what it did."""
    from workflow.notify.outbox import SystemClock

    actors.require_job_runner(app, "run the scheduler")
    clock = clock or SystemClock()
    stop = stop or threading.Event()
    _Registry.app = app
    _Registry.clock = StoppableClock(stop)
    scheduler = _Registry.scheduler = build(app)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    # an unreachable database at start fails here, with one line (the service manager restarts)
    scheduler.start(paused=True)
    try:
        _install_jobs(scheduler, app)
        caught_up = False
        if catch_up and due_today(app, clock.now()):
            scheduler.add_job(_job, args=["daily"], id="catch-up", jobstore="memory")
            caught_up = True
        scheduler.resume()
        if on_ready:
            on_ready()
        while not stop.wait(0.5):
            pass
    finally:
        scheduler.shutdown(wait=True)  # a running job finishes; nothing is cut half-way
        app.db.dispose()
    return {"caught_up": caught_up}


def status(app: App) -> dict[str, Any]:
    """The stored jobs with their next run, and each job's last run and last error."""

    with app.db.connect() as conn:
        jobs = {r.id: r.next_run_time for r in conn.execute(sa.select(job_t.c.id,
                                                                       job_t.c.next_run_time))}
        rows = []
        for job_id in JOB_IDS:
            last = conn.execute(
                sa.select(job_run_t).where(job_run_t.c.job == job_id)
                .order_by(job_run_t.c.id.desc()).limit(1)
            ).first()
            err = conn.execute(
                sa.select(job_run_t).where(job_run_t.c.job == job_id,
                                           job_run_t.c.status == "error")
                .order_by(job_run_t.c.id.desc()).limit(1)
            ).first()
            nxt = jobs.get(job_id)
            rows.append({
                "job": job_id, "scheduled": job_id in jobs,
                "next_run": datetime.fromtimestamp(nxt, UTC).isoformat() if nxt else None,
                "last_run": last.started_at.isoformat() if last else None,
                "last_status": last.status if last else None,
                "last_owner": last.owner if last else None,
                "last_error": err.error if err else None,
                "last_error_at": err.started_at.isoformat() if err else None,
            })
        swept = conn.execute(
            sa.select(sweep_t.c.day, sweep_t.c.actor).order_by(sweep_t.c.day.desc()).limit(1)
        ).first()
    return {"jobs": rows, "last_sweep": swept.day.isoformat() if swept else None,
            "last_sweep_by": swept.actor if swept else None}
