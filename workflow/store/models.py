"""Tables. Dates that the sweep joins on are integer day numbers (days since 1970-01-01) on
both sides of every join, so SQLite's type affinity never hides an index (see DESIGN.md).

The permit row is a cached projection of its events; `workflow rebuild` recomputes it from the
log. The event log is append-only and hash-chained per permit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

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
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _day(nullable: bool = True, index: bool = False) -> Field:
    return Field(default=None, sa_column=sa.Column(Day(), nullable=nullable, index=index))


class Actor(SQLModel, table=True):
    __tablename__ = "actor"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), unique=True, nullable=False))
    role: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    department: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(UTCTimestamp(), nullable=False))


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
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(UTCTimestamp(), nullable=False))


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
    light: str = Field(default="none",
                       sa_column=sa.Column(sa.String(10), nullable=False, index=True))
    light_on: date | None = _day()
    last_move_on: date | None = _day()
    version: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    head_hash: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(UTCTimestamp(), nullable=False))


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


# Tables the start-up of a command like `permit show` does not need live in their own modules
# (each SQLModel table costs a cold start about 4 ms); `from workflow.store.models import Notice`
# still works and loads them on first use.
ELSEWHERE = {
    "Campaign": "models_campaigns", "ProjectCampaign": "models_campaigns",
    "SweepRun": "models_supervision", "Notice": "models_supervision",
    "NoticeMatter": "models_supervision", "Delivery": "models_supervision",
    "DeliveryAttempt": "models_supervision", "JobRun": "models_supervision",
    "SchedulerJob": "models_supervision",
    "Problem": "models_problems", "ProblemEvent": "models_problems",
    "PermitTally": "models_tally",
}


def __getattr__(name: str):
    module = ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"workflow.store.{module}"), name)


def load_all() -> None:
    """Register every table in SQLModel.metadata (migrations, dropping the schema)."""
    import importlib

    for module in set(ELSEWHERE.values()):
        importlib.import_module(f"workflow.store.{module}")
