"""Indexes for the customer list's search on a million buyers.

The start of a nick, a name or a phone (``LIKE 'x%'``, which a plain index serves on
PostgreSQL only under the C collation), and a phone's last four digits.

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHES = ("nick", "name", "phone")
PHONE_TAIL = "substr(phone, length(phone) - 3)"


def upgrade() -> None:
    for column in SEARCHES:
        op.create_index(
            f"ix_customer_search_{column}",
            "customer",
            ["shop_id", column],
            postgresql_ops={column: "varchar_pattern_ops"},
        )
    op.create_index("ix_customer_search_tail", "customer", ["shop_id", sa.text(PHONE_TAIL)])


def downgrade() -> None:
    op.drop_index("ix_customer_search_tail", table_name="customer")
    for column in SEARCHES:
        op.drop_index(f"ix_customer_search_{column}", table_name="customer")
