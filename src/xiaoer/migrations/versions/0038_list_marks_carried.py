""""No reminder" and "no refund" read the list's main index; the reminder and refund
indexes hold only the orders that have one.

An imported order has no reminder and no refund: before this, each of those wrote an
entry in a full index of its own, ``(shop_id, mark, created_at, id)``, for every
order. Now ``ix_order_list_created`` carries ``reminded`` and ``refunded`` besides the
amount (PostgreSQL; two booleans fit in the room its entries leave for alignment, so it
grows by nothing), and ``ix_order_list_reminded`` and ``ix_order_list_refunded`` become
``(shop_id, created_at, id) WHERE mark IS true`` like the rare marks of 0036. "No
reminder" and "no refund" count the whole range less the orders that have one (see
``orders.listing``). Two index entries less for every order written without them.

Revision ID: 0038
Revises: 0037
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS = ("reminded", "refunded")


def _true(mark: str) -> sa.TextClause:
    postgres = op.get_bind().dialect.name == "postgresql"
    return sa.text(f"{mark} IS true" if postgres else f"{mark} IS 1")


def _list_index(name: str, columns: list[str], **options: Any) -> None:
    op.create_index(f"ix_order_list_{name}", "order", ["shop_id", *columns, "created_at", "id"],
                    **options)  # fmt: skip


def upgrade() -> None:
    for name in ("created", *MARKS):
        op.drop_index(f"ix_order_list_{name}", table_name="order")
    _list_index("created", [], postgresql_include=["total_fen", *MARKS])
    for mark in MARKS:
        where = _true(mark)
        _list_index(mark, [], postgresql_include=["total_fen"], postgresql_where=where,
                    sqlite_where=where)  # fmt: skip


def downgrade() -> None:
    for name in ("created", *MARKS):
        op.drop_index(f"ix_order_list_{name}", table_name="order")
    _list_index("created", [], postgresql_include=["total_fen"])
    for mark in MARKS:
        _list_index(mark, [mark], postgresql_include=["total_fen"])
