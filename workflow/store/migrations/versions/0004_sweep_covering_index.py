"""sweep covering index

Replace ix_permit_phase_due (phase, due_on) by ix_permit_sweep (phase, accepted_on,
suspended_since, paused_days, promised_days, extension_days, warn_at, light): every column the
sweep reads to find changed lights, so it scans this index instead of the permit rows
(docs/performance.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"  # the lead re-chains it after the other open migrations
branch_labels = None
depends_on = None

COLUMNS = ["phase", "accepted_on", "suspended_since", "paused_days", "promised_days",
           "extension_days", "warn_at", "light"]


def upgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_phase_due")
        batch_op.create_index("ix_permit_sweep", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_sweep")
        batch_op.create_index("ix_permit_phase_due", ["phase", "due_on"], unique=False)
