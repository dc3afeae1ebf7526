"""Import refunds and reviews: the refund report's times, responsibility, phase and
arbitration on refunds, a fingerprint of the row last imported, and buyers' reviews.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 05:40:32.633093
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform_sub_order_id", sa.String(length=32), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("content", sa.String(length=500), nullable=False),
        sa.Column("item_title", sa.String(length=200), nullable=False),
        sa.Column("buyer_nick", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("follow_up", sa.String(length=500), nullable=False),
        sa.Column("follow_up_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.String(length=500), nullable=False),
        sa.Column("import_digest", sa.BigInteger(), nullable=True),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.id"], name=op.f("fk_review_order_id_order"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_review_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
        sa.UniqueConstraint(
            "shop_id",
            "order_id",
            "platform_sub_order_id",
            name=op.f("uq_review_shop_id_order_id_platform_sub_order_id"),
        ),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_review_shop_rating", ["shop_id", "rating"], unique=False)

    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("applied_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("finished_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("responsible", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("phase", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("intervention", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("import_digest", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_column("import_digest")
        batch_op.drop_column("intervention")
        batch_op.drop_column("phase")
        batch_op.drop_column("responsible")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("applied_at")

    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index("ix_review_shop_rating")
        batch_op.drop_index(batch_op.f("ix_review_order_id"))

    op.drop_table("review")
