"""Add shop classifiers and the bargain type of suggestion feedback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:16:30.610410
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shop_classifier",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("learned", sa.Integer(), nullable=False),
        sa.Column("trained_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shop.id"],
            name=op.f("fk_shop_classifier_shop_id_shop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_classifier")),
    )
    with op.batch_alter_table("suggestion_feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bargain_type", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suggestion_feedback", schema=None) as batch_op:
        batch_op.drop_column("bargain_type")

    op.drop_table("shop_classifier")
