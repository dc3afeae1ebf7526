"""The peak day's forecasts: sessions per quarter-hour and team, with their band.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xiaoer.core.db import BigId, UTCDateTime

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peak_forecast",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("shop.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("spike", sa.Float(), nullable=False),
        sa.Column("spike_minutes", sa.Integer(), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("measured", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(),
                  sa.ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_peak_forecast_shop_day", "peak_forecast", ["shop_id", "day"])
    op.create_table(
        "peak_forecast_interval",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("forecast_id", sa.Integer(),
                  sa.ForeignKey("peak_forecast.id", ondelete="CASCADE"), nullable=False),
        sa.Column("team", sa.String(16), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sessions", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("last_year", sa.Float(), nullable=True),
        sa.UniqueConstraint("forecast_id", "team", "slot"),
    )  # fmt: skip
    op.create_index(
        "ix_peak_forecast_interval_forecast_id", "peak_forecast_interval", ["forecast_id"]
    )


def downgrade() -> None:
    op.drop_table("peak_forecast_interval")
    op.drop_table("peak_forecast")
