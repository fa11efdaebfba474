"""Tables of supervision: the sweep's runs, notices, their matters, the outbox, the scheduler."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.store import models_problems  # noqa: F401  (matters refer to problems)
from workflow.store.models import Day, UTCTimestamp, _day, utcnow  # noqa: F401


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
        # escalations: the matters of a level past their time limit (0006)
        sa.Index("ix_notice_matter_level_limit", "level", "time_limit"),
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
