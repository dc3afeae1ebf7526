"""Add KPI days, rosters, leave, payroll, exams, work logs and presence logs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 02:45:20.379747
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kpi_day",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("inquiring_buyers", sa.Integer(), nullable=False),
        sa.Column("ordering_buyers", sa.Integer(), nullable=False),
        sa.Column("paying_buyers", sa.Integer(), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("replied_conversations", sa.Integer(), nullable=False),
        sa.Column("unanswered_conversations", sa.Integer(), nullable=False),
        sa.Column("long_conversations", sa.Integer(), nullable=False),
        sa.Column("peak_concurrent", sa.Integer(), nullable=False),
        sa.Column("buyer_messages", sa.Integer(), nullable=False),
        sa.Column("agent_messages", sa.Integer(), nullable=False),
        sa.Column("first_rounds", sa.Integer(), nullable=False),
        sa.Column("first_response_seconds", sa.BigInteger(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("response_seconds", sa.BigInteger(), nullable=False),
        sa.Column("fast_rounds", sa.Integer(), nullable=False),
        sa.Column("slow_rounds", sa.Integer(), nullable=False),
        sa.Column("unanswered_rounds", sa.Integer(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_buyers", sa.Integer(), nullable=False),
        sa.Column("service_orders", sa.Integer(), nullable=False),
        sa.Column("service_fen", sa.BigInteger(), nullable=False),
        sa.Column("service_buyers", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminders_recovered", sa.Integer(), nullable=False),
        sa.Column("notes_due", sa.Integer(), nullable=False),
        sa.Column("notes_on_time", sa.Integer(), nullable=False),
        sa.Column("computed_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_kpi_day_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_day")),
        sa.UniqueConstraint(
            "shop_id", "scope", "subject", "day", name=op.f("uq_kpi_day_shop_id_scope_subject_day")
        ),
    )
    op.create_table(
        "exam_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("to_level", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff_account.id"],
            name=op.f("fk_exam_result_recorded_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_exam_result_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_account.id"],
            name=op.f("fk_exam_result_staff_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_result")),
    )
    with op.batch_alter_table("exam_result", schema=None) as batch_op:
        batch_op.create_index("ix_exam_staff", ["shop_id", "staff_id"], unique=False)

    op.create_table(
        "leave_request",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["staff_account.id"],
            name=op.f("fk_leave_request_decided_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_leave_request_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_account.id"],
            name=op.f("fk_leave_request_staff_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leave_request")),
    )
    with op.batch_alter_table("leave_request", schema=None) as batch_op:
        batch_op.create_index("ix_leave_staff", ["shop_id", "staff_id", "starts_at"], unique=False)

    op.create_table(
        "payroll_month",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("locked_by", sa.Integer(), nullable=True),
        sa.Column("locked_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locked_by"],
            ["staff_account.id"],
            name=op.f("fk_payroll_month_locked_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_payroll_month_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_month")),
        sa.UniqueConstraint("shop_id", "month", name=op.f("uq_payroll_month_shop_id_month")),
    )
    op.create_table(
        "presence_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_presence_log_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_account.id"],
            name=op.f("fk_presence_log_staff_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_log")),
    )
    with op.batch_alter_table("presence_log", schema=None) as batch_op:
        batch_op.create_index("ix_presence_log_staff", ["shop_id", "staff_id", "at"], unique=False)

    op.create_table(
        "work_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("solutions", sa.Text(), nullable=False),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_work_log_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_account.id"],
            name=op.f("fk_work_log_staff_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_log")),
        sa.UniqueConstraint(
            "shop_id", "staff_id", "day", name=op.f("uq_work_log_shop_id_staff_id_day")
        ),
    )
    op.create_table(
        "pay_adjustment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["staff_account.id"],
            name=op.f("fk_pay_adjustment_agent_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_account.id"],
            name=op.f("fk_pay_adjustment_created_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order.id"],
            name=op.f("fk_pay_adjustment_order_id_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shop.id"],
            name=op.f("fk_pay_adjustment_shop_id_shop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_adjustment")),
    )
    with op.batch_alter_table("pay_adjustment", schema=None) as batch_op:
        batch_op.create_index("ix_pay_adjustment_month", ["shop_id", "month"], unique=False)

    op.create_table(
        "roster_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shift", sa.String(length=16), nullable=False),
        sa.Column("starts_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("clock_in_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clock_out_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("late_minutes", sa.Integer(), nullable=False),
        sa.Column("online_minutes", sa.Integer(), nullable=False),
        sa.Column("leave_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("judged_at", xiaoer.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff_account.id"],
            name=op.f("fk_roster_entry_created_by_staff_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["leave_id"],
            ["leave_request.id"],
            name=op.f("fk_roster_entry_leave_id_leave_request"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_roster_entry_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_account.id"],
            name=op.f("fk_roster_entry_staff_id_staff_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_entry")),
        sa.UniqueConstraint(
            "shop_id",
            "staff_id",
            "day",
            "shift",
            name=op.f("uq_roster_entry_shop_id_staff_id_day_shift"),
        ),
    )
    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.create_index("ix_roster_day", ["shop_id", "day"], unique=False)

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_shop_opened", ["shop_id", "opened_at"], unique=False)

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_shop_created", ["shop_id", "created_at"], unique=False)

    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.create_index("ix_order_shop_paid", ["shop_id", "paid_at"], unique=False)

    with op.batch_alter_table("response_round", schema=None) as batch_op:
        batch_op.create_index("ix_response_round_started", ["shop_id", "started_at"], unique=False)

    with op.batch_alter_table("sales_credit", schema=None) as batch_op:
        batch_op.create_index("ix_sales_credit_paid", ["shop_id", "paid_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales_credit", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_credit_paid")

    with op.batch_alter_table("response_round", schema=None) as batch_op:
        batch_op.drop_index("ix_response_round_started")

    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_index("ix_order_shop_paid")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_shop_created")

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_shop_opened")

    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_day")

    op.drop_table("roster_entry")
    with op.batch_alter_table("pay_adjustment", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_adjustment_month")

    op.drop_table("pay_adjustment")
    op.drop_table("work_log")
    with op.batch_alter_table("presence_log", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_log_staff")

    op.drop_table("presence_log")
    op.drop_table("payroll_month")
    with op.batch_alter_table("leave_request", schema=None) as batch_op:
        batch_op.drop_index("ix_leave_staff")

    op.drop_table("leave_request")
    with op.batch_alter_table("exam_result", schema=None) as batch_op:
        batch_op.drop_index("ix_exam_staff")

    op.drop_table("exam_result")
    op.drop_table("kpi_day")
