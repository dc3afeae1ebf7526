"""The orders list's default-valued filters read one index; the others hold only the
orders that differ.

An imported order has no agent, the grey flag, no reminder and no refund: before this,
each of those four wrote an entry in a full index of its own, `(shop_id, column,
created_at, id)`, for every order. Now:

* ``ix_order_list_created`` carries ``owner_id``, ``flag``, ``reminded`` and
  ``refunded`` besides the amount (PostgreSQL), so that "no agent", "grey", "no
  reminder" and "no refund" read that index alone ("no reminder" and "no refund"
  count the whole range less the few orders that differ, see ``orders.listing``);
* ``ix_order_list_owner`` and ``ix_order_list_flag`` hold only orders with an agent,
  or with a flag other than grey;
* ``ix_order_list_reminded`` and ``ix_order_list_refunded`` become
  ``(shop_id, created_at, id) WHERE mark IS true``, like the rare marks of 0036.

Four index entries less for every order written without them.

Revision ID: 0038
Revises: 0037
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS = ("reminded", "refunded")
CARRIED = ["total_fen", "owner_id", "flag", "reminded", "refunded"]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _index(
    name: str, columns: list[str], where: str | None = None, *, carried: list[str] | None = None
) -> None:
    condition = None if where is None else sa.text(where)
    op.create_index(
        name, "order", columns, postgresql_include=carried or ["total_fen"],
        postgresql_where=condition, sqlite_where=condition,
    )  # fmt: skip


def _true(mark: str) -> str:
    return f"{mark} IS true" if _postgres() else f"{mark} IS 1"


def upgrade() -> None:
    for name in ("created", "owner", "flag", *MARKS):
        op.drop_index(f"ix_order_list_{name}", table_name="order")
    _index("ix_order_list_created", ["shop_id", "created_at", "id"], carried=CARRIED)
    _index(
        "ix_order_list_owner", ["shop_id", "owner_id", "created_at", "id"], "owner_id IS NOT NULL"
    )
    _index("ix_order_list_flag", ["shop_id", "flag", "created_at", "id"], "flag <> 0")
    for mark in MARKS:
        _index(f"ix_order_list_{mark}", ["shop_id", "created_at", "id"], _true(mark))


def downgrade() -> None:
    for name in ("created", "owner", "flag", *MARKS):
        op.drop_index(f"ix_order_list_{name}", table_name="order")
    _index("ix_order_list_created", ["shop_id", "created_at", "id"])
    for name, column in (("owner", "owner_id"), ("flag", "flag"), *((m, m) for m in MARKS)):
        _index(f"ix_order_list_{name}", ["shop_id", column, "created_at", "id"])
