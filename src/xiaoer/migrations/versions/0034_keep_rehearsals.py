"""The load rehearsals' records (peak day).

Revision ID: 0034
Revises: 0033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xiaoer.core.db import UTCDateTime

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rehearsal_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scratch_code", sa.String(length=32), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("forecast_name", sa.String(length=255), nullable=False),
        sa.Column("peak_start", UTCDateTime(timezone=True), nullable=False),
        sa.Column("peak_sessions", sa.Integer(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_rehearsal_run_shop_id_shop")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rehearsal_run")),
    )
    op.create_index(
        "ix_rehearsal_run_shop_started", "rehearsal_run", ["shop_id", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rehearsal_run_shop_started", table_name="rehearsal_run")
    op.drop_table("rehearsal_run")
