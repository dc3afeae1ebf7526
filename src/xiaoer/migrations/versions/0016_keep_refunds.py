"""Keep refunds: a buyer's request on an order, with its money and goods states.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:29:26.782288
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refund",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform_refund_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("goods", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("refusal", sa.String(length=500), nullable=False),
        sa.Column("return_carrier", sa.String(length=32), nullable=False),
        sa.Column("return_waybill", sa.String(length=64), nullable=False),
        sa.Column("deadline_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["staff_account.id"],
            name=op.f("fk_refund_opened_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.id"], name=op.f("fk_refund_order_id_order"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_refund_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
        sa.UniqueConstraint(
            "shop_id", "platform_refund_id", name=op.f("uq_refund_shop_id_platform_refund_id")
        ),
    )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_refund_shop_status", ["shop_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index("ix_refund_shop_status")
        batch_op.drop_index(batch_op.f("ix_refund_order_id"))

    op.drop_table("refund")
