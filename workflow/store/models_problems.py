"""Tables of the problem ledger: problems and their append-only, hash-chained log."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.store.models import Day, UTCTimestamp, _day, utcnow  # noqa: F401


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
    light: str = Field(default="none",
                       sa_column=sa.Column(sa.String(10), nullable=False, index=True))
    light_on: date | None = _day()
    last_move_on: date | None = _day()
    version: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    head_hash: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(UTCTimestamp(), nullable=False))


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
