"""Write an order with fewer index entries and no trigger when its channel is given.

* The list indexes of the marks few orders carry (a late-note task, an open or done
  reminder, a reminder's credit) hold only the orders that carry them: the list
  filters on these marks being set, never on their absence (unlike "no reminder" and
  "no refund"). An order without any of them — every order an import creates — writes
  none of these four entries.
* ``ix_order_shop_status`` goes: ``ix_order_list_status`` begins with the same columns.
* ``ix_order_owner_id`` (for the staff foreign key's ``SET NULL``) holds only orders
  with an owner.
* A new buyer writes two index entries less: ``ix_customer_shop_id`` goes (the unique
  key and the other indexes begin with the shop), and ``ix_customer_merged_into_id``
  holds only merged buyers.
* The channel trigger on insert fires only for an order inserted without a channel:
  an import that knows its buyers' channel writes it with the row (one plpgsql call
  and one lookup of the buyer a row less). A change of buyer sets it as before.

Revision ID: 0036
Revises: 0035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RARE = ("note_late", "remind_open", "remind_done", "recovered")
# The channel from the buyer, as migration 0026 sets it (SQLite's trigger body).
_SQLITE_CHANNEL = (
    'UPDATE "order" SET channel = COALESCE((SELECT c.channel FROM customer c '
    "WHERE c.id = NEW.customer_id), '') WHERE id = NEW.id;"
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _list_index(mark: str, *, partial: bool) -> None:
    name = f"ix_order_list_{mark}"
    if partial:
        where = sa.text(f"{mark} IS true" if _postgres() else f"{mark} IS 1")
        op.create_index(
            name, "order", ["shop_id", "created_at", "id"], postgresql_include=["total_fen"],
            postgresql_where=where, sqlite_where=where,
        )  # fmt: skip
    else:
        op.create_index(
            name, "order", ["shop_id", mark, "created_at", "id"], postgresql_include=["total_fen"]
        )


def _channel_triggers(*, given: bool) -> None:
    """The insert trigger skipping rows with a channel (``given``), or firing for all."""
    if _postgres():
        op.execute('DROP TRIGGER order_channel ON "order"')
        op.execute('DROP TRIGGER IF EXISTS order_channel_update ON "order"')
        if given:
            op.execute(
                'CREATE TRIGGER order_channel BEFORE INSERT ON "order" FOR EACH ROW '
                "WHEN (NEW.channel = '' AND NEW.customer_id IS NOT NULL) "
                "EXECUTE FUNCTION xiaoer_order_channel()"
            )
            op.execute(
                'CREATE TRIGGER order_channel_update BEFORE UPDATE OF customer_id ON "order" '
                "FOR EACH ROW EXECUTE FUNCTION xiaoer_order_channel()"
            )
        else:
            op.execute(
                'CREATE TRIGGER order_channel BEFORE INSERT OR UPDATE OF customer_id ON "order" '
                "FOR EACH ROW EXECUTE FUNCTION xiaoer_order_channel()"
            )
        return
    op.execute("DROP TRIGGER order_channel_insert")
    when = "WHEN NEW.channel = '' AND NEW.customer_id IS NOT NULL " if given else ""
    op.execute(
        f'CREATE TRIGGER order_channel_insert AFTER INSERT ON "order" {when}'
        f"BEGIN {_SQLITE_CHANNEL} END"
    )


def _set_only(table: str, column: str) -> None:
    """``ix_<table>_<column>`` again over the rows where the column is set."""
    name = f"ix_{table}_{column}"
    op.drop_index(name, table_name=table)
    where = sa.text(f"{column} IS NOT NULL")
    op.create_index(name, table, [column], postgresql_where=where, sqlite_where=where)


def upgrade() -> None:
    op.drop_index("ix_order_shop_status", table_name="order")
    for mark in RARE:
        op.drop_index(f"ix_order_list_{mark}", table_name="order")
        _list_index(mark, partial=True)
    _set_only("order", "owner_id")
    op.drop_index("ix_customer_shop_id", table_name="customer")
    _set_only("customer", "merged_into_id")
    _channel_triggers(given=True)


def downgrade() -> None:
    _channel_triggers(given=False)
    op.drop_index("ix_customer_merged_into_id", table_name="customer")
    op.create_index("ix_customer_merged_into_id", "customer", ["merged_into_id"])
    op.create_index("ix_customer_shop_id", "customer", ["shop_id"])
    op.drop_index("ix_order_owner_id", table_name="order")
    op.create_index("ix_order_owner_id", "order", ["owner_id"])
    for mark in RARE:
        op.drop_index(f"ix_order_list_{mark}", table_name="order")
        _list_index(mark, partial=False)
    op.create_index("ix_order_shop_status", "order", ["shop_id", "status"])
