"""Drop the buyers' equality indexes on phone and nick.

``ix_customer_search_phone`` and ``ix_customer_search_nick`` (migration 0029) hold the
same columns, with pattern operators on PostgreSQL, and those answer ``=`` as well as
``LIKE 'start%'`` (on SQLite the two pairs were the same index twice). Every buyer
written, by an import above all, wrote two index entries for nothing.

Revision ID: 0039
Revises: 0038
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_customer_shop_phone", table_name="customer")
    op.drop_index("ix_customer_shop_nick", table_name="customer")


def downgrade() -> None:
    op.create_index("ix_customer_shop_nick", "customer", ["shop_id", "nick"])
    op.create_index("ix_customer_shop_phone", "customer", ["shop_id", "phone"])
