"""Peak mode: the prepared switch, the shop's state while it is on, and the automatic
replies and quick phrases kept for it.

The new columns of ``shop``, ``auto_reply`` and ``quick_phrase`` are added in place
(ALTER TABLE … ADD COLUMN) with their server defaults: on SQLite a table rebuild
would drop and re-create tables other rows point at.

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xiaoer.core.db import UTCDateTime

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shop", sa.Column("peak_mode_id", sa.Integer(), nullable=True))
    op.add_column("shop", sa.Column("peak_agent_cap", sa.Integer(), nullable=True))
    op.add_column("shop", sa.Column("peak_refund_blackout", sa.Boolean(), nullable=False,
                                    server_default=sa.false()))  # fmt: skip
    for table in ("auto_reply", "quick_phrase"):
        op.add_column(table, sa.Column("peak", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))  # fmt: skip
    op.create_table(
        "peak_mode",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("shop.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_cap", sa.Integer(), nullable=True),
        sa.Column("refund_blackout", sa.Boolean(), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("saved_teams", sa.JSON(), nullable=False),
        sa.Column("forecast_id", sa.Integer(),
                  sa.ForeignKey("peak_forecast.id", ondelete="SET NULL"), nullable=True),
        sa.Column("phrases_reviewed_by", sa.Integer(),
                  sa.ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True),
        sa.Column("phrases_reviewed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("switched_on_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("switched_off_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(),
                  sa.ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_peak_mode_shop_status", "peak_mode", ["shop_id", "status"])


def downgrade() -> None:
    op.drop_table("peak_mode")
    for table in ("quick_phrase", "auto_reply"):
        op.drop_column(table, "peak")
    for column in ("peak_refund_blackout", "peak_agent_cap", "peak_mode_id"):
        op.drop_column("shop", column)
