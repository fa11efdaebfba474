"""index of the days of creations and moves

A partial index on permit_event("on") over every event but light changes: the completion report
asks whether anything changed a permit after its report day, which otherwise scans the whole log
(docs/performance.md). Light events, most of the log and all of the sweep's writes, stay out of
it, so the sweep pays nothing for it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOT_LIGHT = sa.text("kind <> 'light'")


def upgrade() -> None:
    op.create_index("ix_permit_event_moved_on", "permit_event", ["on"], unique=False,
                    sqlite_where=NOT_LIGHT, postgresql_where=NOT_LIGHT)


def downgrade() -> None:
    op.drop_index("ix_permit_event_moved_on", table_name="permit_event")
