"""Add the order workflow: owners and flags, seller notes, tasks, the sales ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:14:37.566351
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff_account.id"],
            name=op.f("fk_order_task_assignee_id_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["done_by"],
            ["staff_account.id"],
            name=op.f("fk_order_task_done_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order.id"],
            name=op.f("fk_order_task_order_id_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_order_task_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_task")),
    )
    with op.batch_alter_table("order_task", schema=None) as batch_op:
        batch_op.create_index("ix_order_task_assignee", ["assignee_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_task_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_order_task_shop_status", ["shop_id", "status", "kind"], unique=False
        )

    op.create_table(
        "sales_credit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("paid_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["staff_account.id"],
            name=op.f("fk_sales_credit_agent_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order.id"],
            name=op.f("fk_sales_credit_order_id_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_sales_credit_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_credit")),
        sa.UniqueConstraint("order_id", "role", name=op.f("uq_sales_credit_order_id_role")),
    )
    with op.batch_alter_table("sales_credit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_credit_agent", ["shop_id", "agent_id", "paid_at"], unique=False
        )

    op.create_table(
        "seller_note",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_number", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["staff_account.id"],
            name=op.f("fk_seller_note_author_id_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order.id"],
            name=op.f("fk_seller_note_order_id_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_seller_note_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seller_note")),
        sa.UniqueConstraint("order_id", "version", name=op.f("uq_seller_note_order_id_version")),
    )
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("flag", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("confirmed_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cod_confirmed_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("import_digest", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_order_owner_id"), ["owner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_order_owner_id_staff_account"),
            "staff_account",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_order_owner_id_staff_account"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_order_owner_id"))
        batch_op.drop_column("import_digest")
        batch_op.drop_column("cod_confirmed_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("flag")
        batch_op.drop_column("owner_id")

    op.drop_table("seller_note")
    with op.batch_alter_table("sales_credit", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_credit_agent")

    op.drop_table("sales_credit")
    with op.batch_alter_table("order_task", schema=None) as batch_op:
        batch_op.drop_index("ix_order_task_shop_status")
        batch_op.drop_index(batch_op.f("ix_order_task_order_id"))
        batch_op.drop_index("ix_order_task_assignee")

    op.drop_table("order_task")
