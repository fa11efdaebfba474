"""Tables. Dates that the sweep joins on are integer day numbers (days since 1970-01-01) on
both sides of every join, so SQLite's type affinity never hides an index (see DESIGN.md).

The permit row is a cached projection of its events; `workflow rebuild` recomputes it from the
log. The event log is append-only and hash-chained per permit.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from workflow.domain.calendar import day_number, from_day_number


class Day(TypeDecorator):
    """A calendar date stored as an integer day number."""

    impl = sa.Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, int):
            return value
        return day_number(value)

    def process_result_value(self, value, dialect):
        return None if value is None else from_day_number(value)


class UTCTimestamp(TypeDecorator):
    """A UTC timestamp; stored naive in UTC, returned aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _day(nullable: bool = True, index: bool = False) -> Field:
    return Field(default=None, sa_column=sa.Column(Day(), nullable=nullable, index=index))


class Actor(SQLModel, table=True):
    __tablename__ = "actor"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), unique=True, nullable=False))
    role: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    department: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False))


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    starts_on: date | None = _day()
    ends_on: date | None = _day()


class Project(SQLModel, table=True):
    __tablename__ = "project"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    district: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), index=True))
    park: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    investment: float | None = Field(default=None, sa_column=sa.Column(sa.Float))  # 万元
    planned_start: date | None = _day()
    leader: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    contact: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False))


class ProjectCampaign(SQLModel, table=True):
    __tablename__ = "project_campaign"
    project_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    )
    campaign_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    )


SWEEP_INDEX = ("phase", "accepted_on", "suspended_since", "paused_days", "promised_days",
               "extension_days", "warn_at", "light")


class Permit(SQLModel, table=True):
    """One approval a project needs; every clock field is a cache of its events."""

    __tablename__ = "permit"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "type", name="uq_permit_project_type"),
        # Covers every column the sweep's light needs: the sweep and the light counts read this
        # index only, never the wide rows (docs/performance.md).
        sa.Index("ix_permit_sweep", *SWEEP_INDEX),
    )
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(sa.ForeignKey("project.id"), nullable=False))
    type: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    department: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    level: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    responsible: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    state: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    phase: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    promised_override: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    promised_days: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    extension_days: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    paused_days: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    accepted_on: date | None = _day()
    suspended_since: date | None = _day()
    closed_on: date | None = _day()
    # Due date as of the last move; while suspended the live due date moves on (see clock.py).
    due_on: date | None = _day()
    warn_at: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    light: str = Field(default="none", sa_column=sa.Column(sa.String(10), nullable=False, index=True))
    light_on: date | None = _day()
    last_move_on: date | None = _day()
    version: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    head_hash: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False))


class PermitEvent(SQLModel, table=True):
    """The append-only log: every move (`kind` move), creation, and light change (`kind` light)."""

    __tablename__ = "permit_event"
    # Migration 0005 also adds the partial index ix_permit_event_moved_on ("on") WHERE kind <>
    # 'light'. It is not declared here: dialect-specific arguments make SQLAlchemy import the
    # PostgreSQL dialect on every start, even on SQLite (30 ms of each command).
    __table_args__ = (sa.UniqueConstraint("permit_id", "seq", name="uq_permit_event_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(sa_column=sa.Column(sa.ForeignKey("permit.id"), nullable=False))
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    event: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    on: date = Field(sa_column=sa.Column("on", Day(), nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    data: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class CalendarDay(SQLModel, table=True):
    """The materialised calendar: one row per day, with the working-day ordinal."""

    __tablename__ = "calendar_day"
    day: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    is_workday: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    ordinal: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    covered: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))


class Meta(SQLModel, table=True):
    """Small settings the database remembers: calendar digest, policy digest."""

    __tablename__ = "meta"
    key: str = Field(sa_column=sa.Column(sa.String(60), primary_key=True))
    value: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class SweepRun(SQLModel, table=True):
    """One row per swept day: claims the day so that one scheduler runs it, records counts."""

    __tablename__ = "sweep_run"
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(sa_column=sa.Column(Day(), nullable=False, unique=True))
    started_at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    actor: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    summary: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))


# -- supervision: notices, their matters, the delivery outbox, scheduler runs ------------------

class Notice(SQLModel, table=True):
    """A numbered notice from the supervision office to one addressee, listing its matters."""

    __tablename__ = "notice"
    __table_args__ = (
        sa.UniqueConstraint("series", "year", "seq", name="uq_notice_series_year_seq"),
        sa.Index("ix_notice_status_level", "status", "level"),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(sa_column=sa.Column(sa.String(80), unique=True, nullable=False))
    series: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    year: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    level: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    addressee_kind: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    addressee: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    department: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), index=True))
    issued_on: date = Field(sa_column=sa.Column(Day(), nullable=False))
    time_limit: date | None = _day()
    bulletin: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    acknowledged_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    response: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    responded_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    responded_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    close_note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    closed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False)
    )


class NoticeMatter(SQLModel, table=True):
    """One permit or problem called for at one level in one episode: the unique keys make it
    happen once. Exactly one of `permit_id`, `problem_id` is set (0003)."""

    __tablename__ = "notice_matter"
    __table_args__ = (
        sa.UniqueConstraint("permit_id", "level", "episode", name="uq_notice_matter_episode"),
        sa.UniqueConstraint("problem_id", "level", "episode",
                            name="uq_notice_matter_problem_episode"),
        sa.CheckConstraint("(permit_id IS NULL) <> (problem_id IS NULL)",
                           name="ck_notice_matter_one_item"),
        sa.Index("ix_notice_matter_level_open", "level", "ended_on"),
    )
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("notice.id"), nullable=False, index=True)
    )
    permit_id: int | None = Field(default=None,
                                  sa_column=sa.Column(sa.ForeignKey("permit.id"), nullable=True))
    problem_id: int | None = Field(default=None,
                                   sa_column=sa.Column(sa.ForeignKey("problem.id"), nullable=True))
    level: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    episode: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    basis_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))  # matter escalated
    department: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    light: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    due_on: date | None = _day()
    remaining_days: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    overdue_days: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    time_limit: date | None = _day()
    responsible: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    issued_on: date = Field(sa_column=sa.Column(Day(), nullable=False))
    ended_on: date | None = _day()  # the episode ended: the light left, or the permit closed


class Delivery(SQLModel, table=True):
    """The outbox: one row per notice, channel and target; sent by the deliverer, retried."""

    __tablename__ = "delivery"
    __table_args__ = (sa.Index("ix_delivery_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("notice.id"), nullable=False, index=True)
    )
    channel: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    target: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    message_key: str = Field(sa_column=sa.Column(sa.String(120), unique=True, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    claimed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    claimed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False)
    )


class DeliveryAttempt(SQLModel, table=True):
    """Every send attempt; a robot's rate limit counts these over the last minute."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (sa.Index("ix_delivery_attempt_target_at", "channel", "target", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(sa_column=sa.Column(sa.ForeignKey("delivery.id"), nullable=False))
    channel: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    target: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    ok: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class JobRun(SQLModel, table=True):
    """One run of a scheduler job: for `scheduler status` (last run, last error)."""

    __tablename__ = "job_run"
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    day: date = Field(sa_column=sa.Column(Day(), nullable=False))
    owner: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    started_at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCTimestamp()))
    status: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    summary: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))


class SchedulerJob(SQLModel, table=True):
    """APScheduler's job store (its own layout), created here so that several schedulers
    starting at once never race to create it."""

    __tablename__ = "scheduler_job"
    id: str = Field(sa_column=sa.Column(sa.Unicode(191), primary_key=True))
    next_run_time: float | None = Field(
        default=None, sa_column=sa.Column(sa.Float(25), index=True)
    )
    job_state: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


# -- the problem ledger (问题清单): problems run on the permit clock, with their own event log ----

class Problem(SQLModel, table=True):
    """A problem blocking a project; every clock field is a cache of its events, named as on
    the permit row so that one set-based light query serves both (`raised_on` starts the clock
    as `accepted_on` does for a permit)."""

    __tablename__ = "problem"
    __table_args__ = (sa.Index("ix_problem_phase_due", "phase", "due_on"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=sa.Column(sa.ForeignKey("project.id"), nullable=False,
                                                index=True))
    category: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    department: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, index=True))
    responsible: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    promised_by: date | None = _day()  # the promised date, when given as a date (--by)
    state: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    phase: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    promised_days: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    extension_days: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    paused_days: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    raised_on: date | None = _day()
    suspended_since: date | None = _day()
    closed_on: date | None = _day()
    due_on: date | None = _day()
    warn_at: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    light: str = Field(default="none", sa_column=sa.Column(sa.String(10), nullable=False, index=True))
    light_on: date | None = _day()
    last_move_on: date | None = _day()
    version: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    head_hash: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCTimestamp(), nullable=False))


class ProblemEvent(SQLModel, table=True):
    """The problem's append-only, hash-chained log: same shape as `permit_event`."""

    __tablename__ = "problem_event"
    __table_args__ = (sa.UniqueConstraint("problem_id", "seq", name="uq_problem_event_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    problem_id: int = Field(sa_column=sa.Column(sa.ForeignKey("problem.id"), nullable=False))
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    event: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    on: date = Field(sa_column=sa.Column("on", Day(), nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    data: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column(UTCTimestamp(), nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
