"""Index only the orders with a waybill for the orders list's search by waybill.

A third of an export's orders have none (unpaid, closed, not yet shipped), and the
search never looks for an empty one; each wrote an entry all the same, at a random
place of the index, on a million-order import a third of a million.

Revision ID: 0042
Revises: 0041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(where: sa.TextClause | None) -> None:
    op.create_index(
        "ix_order_search_waybill",
        "order",
        ["shop_id", "tracking_number"],
        postgresql_ops={"tracking_number": "varchar_pattern_ops"},
        postgresql_where=where,
        sqlite_where=where,
    )


def upgrade() -> None:
    op.drop_index("ix_order_search_waybill", table_name="order")
    _create(sa.text("tracking_number <> ''"))


def downgrade() -> None:
    op.drop_index("ix_order_search_waybill", table_name="order")
    _create(None)
