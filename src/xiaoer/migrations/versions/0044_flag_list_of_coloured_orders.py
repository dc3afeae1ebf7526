"""The orders list's flag index holds only the orders with a colour; grey is carried.

An order from a seller-centre export has no colour (grey), and each still wrote an entry
in the flag's index, at a place of its own in every page of it, a million on a
million-order import. The index now holds only coloured orders, and
``ix_order_list_created`` carries the flag on PostgreSQL, so the count and total of the
grey ones, most of a shop's, still read one index only.

Revision ID: 0044
Revises: 0043
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIED = ["total_fen", "reminded", "refunded"]


def _create(coloured: sa.TextClause | None, carried: list[str]) -> None:
    op.create_index(
        "ix_order_list_flag", "order", ["shop_id", "flag", "created_at", "id"],
        postgresql_include=["total_fen"], postgresql_where=coloured, sqlite_where=coloured,
    )  # fmt: skip
    op.create_index(
        "ix_order_list_created", "order", ["shop_id", "created_at", "id"],
        postgresql_include=carried,
    )  # fmt: skip


def _drop() -> None:
    op.drop_index("ix_order_list_flag", table_name="order")
    op.drop_index("ix_order_list_created", table_name="order")


def upgrade() -> None:
    _drop()
    _create(sa.text("flag <> 0"), [*CARRIED, "flag"])


def downgrade() -> None:
    _drop()
    _create(None, CARRIED)
