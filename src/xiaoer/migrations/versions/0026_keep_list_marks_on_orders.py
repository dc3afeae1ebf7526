"""Keep the orders list's marks on the order row, so its count and total read one index.

The channel (from the buyer), whether the order has a seller note, a late-note task, a
payment reminder (any, open, done), a reminder's credit and a refund become columns of
``order``, filled from the existing rows and kept by triggers on every write of
``customer``, ``order``, ``seller_note``, ``order_task``, ``sales_credit`` and ``refund``
— whatever writes them (services, imports' COPY, the demo's bulk inserts, plain SQL).
On PostgreSQL the marks of notes, tasks, credits and refunds are statement triggers over
the changed rows (one update for a bulk insert); SQLite's are row triggers. Each mark
has its list index, carrying the amount (and, for ``noted``, the status) so a count and
total is an index-only scan.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS = ("noted", "note_late", "reminded", "remind_open", "remind_done", "recovered",
         "refunded")  # fmt: skip
LISTED = ("channel", "note_late", "reminded", "remind_open", "remind_done", "recovered",
          "refunded")  # fmt: skip
# Each mark as the EXISTS over the rows that make it, for the order ``{o}.id``.
_TASK = "SELECT 1 FROM order_task t WHERE t.order_id = {o}.id AND t.kind = "
EXISTS = {
    "noted": "EXISTS (SELECT 1 FROM seller_note n WHERE n.order_id = {o}.id)",
    "note_late": "EXISTS (" + _TASK + "'late_note')",
    "reminded": "EXISTS (" + _TASK + "'remind')",
    "remind_open": "EXISTS (" + _TASK + "'remind' AND t.status = 'open')",
    "remind_done": "EXISTS (" + _TASK + "'remind' AND t.status = 'done')",
    "recovered": "EXISTS (SELECT 1 FROM sales_credit c WHERE c.order_id = {o}.id "
    "AND c.role = 'assist')",
    "refunded": "EXISTS (SELECT 1 FROM refund r WHERE r.order_id = {o}.id)",
}
CHANNEL = "COALESCE((SELECT c.channel FROM customer c WHERE c.id = {o}.customer_id), '')"
SOURCES = {"seller_note": ("noted",), "order_task": ("note_late", "reminded", "remind_open",
           "remind_done"), "sales_credit": ("recovered",), "refund": ("refunded",)}  # fmt: skip


def _marks_of(alias: str) -> str:
    return ", ".join(f"{mark} = {EXISTS[mark].format(o=alias)}" for mark in MARKS)


def _pg_mark_function(source: str, changed: str) -> str:
    """The statement trigger's function: re-mark the orders of the rows in ``changed``
    (a transition table, or two), writing only an order whose marks differ."""
    marks = ", ".join(f"{EXISTS[m].format(o='i')} AS {m}" for m in MARKS)
    now = ", ".join(f"o.{m}" for m in MARKS)
    then = ", ".join(f"m.{m}" for m in MARKS)
    sets = ", ".join(f"{m} = m.{m}" for m in MARKS)
    return f"""
CREATE FUNCTION xiaoer_mark_orders_{source}_{changed.replace(" ", "_")}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "order" o SET {sets}
    FROM (SELECT i.id, {marks}
          FROM (SELECT order_id AS id FROM {" UNION SELECT order_id FROM ".join(changed.split())}
               ) i) m
    WHERE o.id = m.id AND ({now}) IS DISTINCT FROM ({then});
    RETURN NULL;
END
$$"""  # noqa: S608 (constants only, as in every statement here)


PG_CHANNEL = f"""
CREATE FUNCTION xiaoer_order_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.channel := {CHANNEL.format(o="NEW")};
    RETURN NEW;
END
$$"""
PG_BUYER_CHANNEL = """
CREATE FUNCTION xiaoer_buyer_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE "order" SET channel = NEW.channel WHERE customer_id = NEW.id;
    RETURN NULL;
END
$$"""
# (event, transition tables, their names as the function reads them)
PG_EVENTS = (
    ("INSERT", "NEW TABLE AS new_rows", "new_rows"),
    ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", "old_rows new_rows"),
    ("DELETE", "OLD TABLE AS old_rows", "old_rows"),
)


def _postgresql_triggers() -> None:
    op.execute(PG_CHANNEL)
    op.execute(
        'CREATE TRIGGER order_channel BEFORE INSERT OR UPDATE OF customer_id ON "order" '
        "FOR EACH ROW EXECUTE FUNCTION xiaoer_order_channel()"
    )
    op.execute(PG_BUYER_CHANNEL)
    op.execute(
        "CREATE TRIGGER buyer_channel AFTER UPDATE OF channel ON customer FOR EACH ROW "
        "WHEN (OLD.channel IS DISTINCT FROM NEW.channel) "
        "EXECUTE FUNCTION xiaoer_buyer_channel()"
    )
    for source in SOURCES:
        for event, tables, names in PG_EVENTS:
            op.execute(_pg_mark_function(source, names))
            op.execute(
                f"CREATE TRIGGER {source}_marks_{event.lower()} AFTER {event} ON {source} "
                f"REFERENCING {tables} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION xiaoer_mark_orders_{source}_{names.replace(' ', '_')}()"
            )


def _sqlite_triggers() -> None:
    channel = f'UPDATE "order" SET channel = {CHANNEL.format(o="NEW")} WHERE id = NEW.id;'  # noqa: S608
    op.execute(f'CREATE TRIGGER order_channel_insert AFTER INSERT ON "order" BEGIN {channel} END')
    op.execute(
        'CREATE TRIGGER order_channel_update AFTER UPDATE OF customer_id ON "order" '
        f"BEGIN {channel} END"
    )
    op.execute(
        "CREATE TRIGGER buyer_channel AFTER UPDATE OF channel ON customer "
        "WHEN OLD.channel IS NOT NEW.channel BEGIN "
        'UPDATE "order" SET channel = NEW.channel WHERE customer_id = NEW.id; END'
    )
    marks = _marks_of('"order"')
    for source in SOURCES:
        for event, rows in (("insert", ("NEW",)), ("update", ("OLD", "NEW")),
                            ("delete", ("OLD",))):  # fmt: skip
            body = " ".join(
                f'UPDATE "order" SET {marks} WHERE id = {row}.order_id;'  # noqa: S608
                for row in rows
            )
            op.execute(
                f"CREATE TRIGGER {source}_marks_{event} AFTER {event.upper()} ON {source} "
                f"FOR EACH ROW BEGIN {body} END"
            )


def upgrade() -> None:
    # Plain ADD COLUMN: on SQLite a batch would copy the table, and dropping the old
    # copy would cascade to its notes, tasks and credits.
    op.add_column(
        "order", sa.Column("channel", sa.String(length=16), server_default="", nullable=False)
    )
    for mark in MARKS:
        op.add_column(
            "order", sa.Column(mark, sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    order = '"order"'
    op.execute(f"UPDATE {order} SET channel = {CHANNEL.format(o=order)}, {_marks_of(order)}")  # noqa: S608
    for name in LISTED:
        op.create_index(
            f"ix_order_list_{name}",
            "order",
            ["shop_id", name, "created_at", "id"],
            postgresql_include=["total_fen"],
        )
    op.create_index(
        "ix_order_list_noted",
        "order",
        ["shop_id", "noted", "created_at", "id"],
        postgresql_include=["total_fen", "status"],
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for source in SOURCES:
            for event, _, names in PG_EVENTS:
                function = f"xiaoer_mark_orders_{source}_{names.replace(' ', '_')}"
                op.execute(f"DROP TRIGGER {source}_marks_{event.lower()} ON {source}")
                op.execute(f"DROP FUNCTION {function}()")
        op.execute("DROP TRIGGER buyer_channel ON customer")
        op.execute("DROP FUNCTION xiaoer_buyer_channel()")
        op.execute('DROP TRIGGER order_channel ON "order"')
        op.execute("DROP FUNCTION xiaoer_order_channel()")
    else:
        for source in SOURCES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {source}_marks_{event}")
        op.execute("DROP TRIGGER buyer_channel")
        op.execute("DROP TRIGGER order_channel_update")
        op.execute("DROP TRIGGER order_channel_insert")
    for name in ("noted", *LISTED):
        op.drop_index(f"ix_order_list_{name}", table_name="order")
    for column in ("channel", *MARKS):  # plain DROP COLUMN, as the upgrade's ADD
        op.execute(f'ALTER TABLE "order" DROP COLUMN {column}')
