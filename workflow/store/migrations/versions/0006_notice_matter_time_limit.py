"""index of the matters' time limits per level

The sweep asks every day which matters of a level passed their time limit (an escalation is
called for when a supervision matter's limit passed with its item still open). Through
`ix_notice_matter_level_open` that read every matter of the level, open or ended, on every
sweep, re-runs included; by (level, time_limit) it reads only those past their limit
(docs/performance.md). A day's matters share their level and limit, so the index grows at its
end.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notice_matter_level_limit", "notice_matter", ["level", "time_limit"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_notice_matter_level_limit", table_name="notice_matter")
