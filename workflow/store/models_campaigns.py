"""Tables of campaigns (a hundred-day push) and the projects in them."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.store.models import Day, UTCTimestamp, _day, utcnow  # noqa: F401


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    starts_on: date | None = _day()
    ends_on: date | None = _day()


class ProjectCampaign(SQLModel, table=True):
    __tablename__ = "project_campaign"
    project_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    )
    campaign_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True)
    )
