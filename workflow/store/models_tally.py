"""The completion report's kept counts: permits per bucket, written by the database itself.

Triggers on `permit` and `project` (migration 0007) append one signed row per bucket a write
changes; the sweep folds them (`store.tally.compact`). A report sums the rows of a grouping
instead of reading every permit (docs/reports.md, docs/performance.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class PermitTally(SQLModel, table=True):
    """Signed counts of permits per (type, department, district, phase, light)."""

    __tablename__ = "permit_tally"
    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    department: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    district: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    phase: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    # the stored light of open and closed permits, 'none' for pending and void ones
    light: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    n: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    # closed permits whose working days to close are known, and the sum of those days
    close_n: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    close_days: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
