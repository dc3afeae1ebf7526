"""Add the knowledge base and suggestion feedback.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:02:30.353852
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("bargain_type", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shop.id"],
            name=op.f("fk_knowledge_entry_shop_id_shop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entry")),
    )
    with op.batch_alter_table("knowledge_entry", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_entry_intent", ["shop_id", "intent"], unique=False)

    op.create_table(
        "suggestion_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("buyer_text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("sent_text", sa.Text(), nullable=False),
        sa.Column("learned", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["staff_account.id"],
            name=op.f("fk_suggestion_feedback_agent_id_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entry.id"],
            name=op.f("fk_suggestion_feedback_entry_id_knowledge_entry"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shop.id"],
            name=op.f("fk_suggestion_feedback_shop_id_shop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_feedback")),
    )
    with op.batch_alter_table("suggestion_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_suggestion_feedback_shop", ["shop_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestion_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_suggestion_feedback_shop")

    op.drop_table("suggestion_feedback")
    with op.batch_alter_table("knowledge_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_entry_intent")

    op.drop_table("knowledge_entry")
