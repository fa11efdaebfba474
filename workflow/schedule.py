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
  `job_run`; so exactly one process does each piece of work.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from workflow import actors
from workflow.app import App
from workflow.store.models import JobRun, SchedulerJob, SweepRun, utcnow

job_run_t = JobRun.__table__
job_t = SchedulerJob.__table__
sweep_t = SweepRun.__table__
SCHEDULER_ACTOR = "scheduler"
JOB_IDS = ("daily", "deliver", "weekly")
WEEKLY_LOCK = 7_310_422

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
        _done(app, run_id, "error", error=safe_error(e))
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


# -- the APScheduler process ---------------------------------------------------------------------

class _Registry:
    """The app of this scheduler process: stored jobs name a function and a job name only, so
    the job store never holds settings or secrets."""

    app: App | None = None
    clock: Any = None


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


def _job(name: str) -> None:
    app = _Registry.app
    if app is None:  # pragma: no cover - a stored job fired in a process that is not ours
        raise RuntimeError("no workflow app in this process")
    if name == "weekly":
        JOBS[name](app)
    else:
        JOBS[name](app, clock=_Registry.clock)


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


def build(app: App):
    """A BackgroundScheduler on the project's database with the policy's jobs."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.base import ConflictingIdError
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    sch = app.policy.escalation.schedule
    store = SQLAlchemyJobStore(engine=app.db.engine, tablename=job_t.name)
    scheduler = BackgroundScheduler(
        timezone=sch.timezone,
        jobstores={"default": store, "memory": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(2)},
        # Deliberate: a run missed while down runs once (coalesce) if within the grace time;
        # never two daily runs at once in one process.
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": int(sch.misfire_grace_hours * 3600)},
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
    scheduler = build(app)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    scheduler.start(paused=True)
    _install_jobs(scheduler, app)
    caught_up = False
    if catch_up and due_today(app, clock.now()):
        scheduler.add_job(_job, args=["daily"], id="catch-up", jobstore="memory")
        caught_up = True
    scheduler.resume()
    if on_ready:
        on_ready()
    try:
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
