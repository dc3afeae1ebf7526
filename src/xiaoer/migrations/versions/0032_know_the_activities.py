"""Activities every agent knows (D2): each promotion's rules as data, and the quiz.

``activity_rules`` is keyed by the promotion it describes, so ``promotion`` itself is
not rebuilt; ``activity_quiz_attempt`` keeps each agent's scored answers.

Revision ID: 0032
Revises: 0031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_rules",
        sa.Column("promotion_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ended_early_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["promotion_id"], ["promotion.id"],
                                name=op.f("fk_activity_rules_promotion_id_promotion"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"],
                                name=op.f("fk_activity_rules_shop_id_shop"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_activity_rules")),
    )  # fmt: skip
    with op.batch_alter_table("activity_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_rules_shop_id"), ["shop_id"], unique=False)
    op.create_table(
        "activity_quiz_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("covers", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("missed", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"],
                                name=op.f("fk_activity_quiz_attempt_shop_id_shop"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_account.id"],
                                name=op.f("fk_activity_quiz_attempt_staff_id_staff_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_quiz_attempt")),
    )  # fmt: skip
    op.create_index("ix_activity_quiz_attempt_staff", "activity_quiz_attempt",
                    ["shop_id", "staff_id", "taken_at"], unique=False)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_activity_quiz_attempt_staff", table_name="activity_quiz_attempt")
    op.drop_table("activity_quiz_attempt")
    with op.batch_alter_table("activity_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_rules_shop_id"))
    op.drop_table("activity_rules")
