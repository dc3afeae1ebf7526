"""Indexes for the orders list: newest first under each filter, and its search.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTS = {
    "ix_order_list_created": [],
    "ix_order_list_status": ["status"],
    "ix_order_list_owner": ["owner_id"],
    "ix_order_list_flag": ["flag"],
}
SEARCHES = {
    "ix_order_search_number": "platform_order_id",
    "ix_order_search_nick": "buyer_nick",
    "ix_order_search_receiver": "receiver_name",
    "ix_order_search_waybill": "tracking_number",
}
PHONE_TAIL = "substr(receiver_phone, length(receiver_phone) - 3)"


def upgrade() -> None:
    # (shop_id, created_at) is the first columns of ix_order_list_created.
    op.drop_index("ix_order_shop_created", table_name="order")
    for name, columns in LISTS.items():
        op.create_index(
            name,
            "order",
            ["shop_id", *columns, "created_at", "id"],
            postgresql_include=["total_fen"],
        )
    for name, column in SEARCHES.items():
        op.create_index(
            name, "order", ["shop_id", column], postgresql_ops={column: "varchar_pattern_ops"}
        )
    op.create_index("ix_order_search_phone", "order", ["shop_id", sa.text(PHONE_TAIL)])


def downgrade() -> None:
    op.drop_index("ix_order_search_phone", table_name="order")
    for name in [*SEARCHES, *LISTS]:
        op.drop_index(name, table_name="order")
    op.create_index("ix_order_shop_created", "order", ["shop_id", "created_at"])
