"""Resume interrupted imports: a heartbeat and a run number on the job.

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-25 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("runs", sa.Integer(), server_default="1", nullable=False))
    # Jobs from before have no heartbeat: their last sign of life is their end, or start.
    op.execute("UPDATE import_job SET heartbeat_at = COALESCE(finished_at, created_at)")
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.alter_column(
            "heartbeat_at",
            existing_type=xiaoer.core.db.UTCDateTime(timezone=True),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.drop_column("runs")
        batch_op.drop_column("heartbeat_at")
