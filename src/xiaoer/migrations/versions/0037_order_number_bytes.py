"""Search orders by number through their unique key.

On PostgreSQL the order number compares bytes (collation "C"): a number is digits, or
letters, digits and '-', so nothing sorts differently that anyone sees, and the unique
key (shop, number) then answers ``LIKE 'start%'`` as well as ``pattern_ops`` did. The
search index of its own (``ix_order_search_number``) goes: one index entry less for
every order written, and a random one at that (numbers come in no order).

On SQLite ``LIKE`` ignores case and so no index serves it; the index goes there too.

Revision ID: 0037
Revises: 0036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index("ix_order_search_number", table_name="order")
    if _postgres():
        op.alter_column(
            "order",
            "platform_order_id",
            type_=sa.String(32, collation="C"),
            existing_type=sa.String(32),
            existing_nullable=False,
        )


def downgrade() -> None:
    if _postgres():
        op.alter_column(
            "order",
            "platform_order_id",
            type_=sa.String(32),
            existing_type=sa.String(32, collation="C"),
            existing_nullable=False,
        )
    op.create_index(
        "ix_order_search_number",
        "order",
        ["shop_id", "platform_order_id"],
        postgresql_ops={"platform_order_id": "varchar_pattern_ops"},
    )
