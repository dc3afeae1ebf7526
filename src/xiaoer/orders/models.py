"""Orders as the platform knows them, amounts in fen, times in UTC."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaoer.core.clock import utcnow
from xiaoer.core.db import STATEMENT_CHECKED, Base, BigId, UTCDateTime


class TradeStatus(enum.StrEnum):
    """The platform's trade states (DOMAIN.md)."""

    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    WAIT_SELLER_SEND_GOODS = "WAIT_SELLER_SEND_GOODS"
    SELLER_CONSIGNED_PART = "SELLER_CONSIGNED_PART"
    WAIT_BUYER_CONFIRM_GOODS = "WAIT_BUYER_CONFIRM_GOODS"
    TRADE_BUYER_SIGNED = "TRADE_BUYER_SIGNED"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"
    TRADE_CLOSED_BY_TAOBAO = "TRADE_CLOSED_BY_TAOBAO"


# The texts seller-centre exports use for each state.
STATUS_TEXTS: dict[str, TradeStatus] = {
    "等待买家付款": TradeStatus.WAIT_BUYER_PAY,
    "等待买家确认货到付款订单信息": TradeStatus.WAIT_BUYER_PAY,
    "买家已付款，等待卖家发货": TradeStatus.WAIT_SELLER_SEND_GOODS,
    "买家已确认，等待卖家发货": TradeStatus.WAIT_SELLER_SEND_GOODS,
    "卖家部分发货": TradeStatus.SELLER_CONSIGNED_PART,
    "卖家已发货，等待买家确认": TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
    "卖家已发货，等待买家确认收货并付款": TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
    "买家已签收": TradeStatus.TRADE_BUYER_SIGNED,
    "买家已签收，回款至卖家": TradeStatus.TRADE_BUYER_SIGNED,
    "交易成功": TradeStatus.TRADE_FINISHED,
    "交易关闭": TradeStatus.TRADE_CLOSED,
    "交易被淘宝关闭": TradeStatus.TRADE_CLOSED_BY_TAOBAO,
}

PAID_STATUSES = frozenset(
    {
        TradeStatus.WAIT_SELLER_SEND_GOODS,
        TradeStatus.SELLER_CONSIGNED_PART,
        TradeStatus.WAIT_BUYER_CONFIRM_GOODS,
        TradeStatus.TRADE_BUYER_SIGNED,
        TradeStatus.TRADE_FINISHED,
    }
)


class Flag(enum.IntEnum):
    """The platform's order flags (插旗); what each colour means is the shop's choice."""

    grey = 0
    red = 1
    yellow = 2
    green = 3
    blue = 4
    purple = 5


# The orders list's marks kept on the order row (see Order.channel), each with its index:
# the channel in full (the list asks for each value), the others over the orders that
# carry them, so that an order without them (every imported one) writes no entry. The
# list's "no reminder" and "no refund" read ``ix_order_list_created``, which carries
# those two marks (see ``orders.listing``).
LIST_MARKS = ("channel",)
RARE_MARKS = (
    "note_late", "remind_open", "remind_done", "recovered", "reminded", "refunded",
)  # fmt: skip
# What ``ix_order_list_created`` carries besides the amount (PostgreSQL), so that "no
# reminder", "no refund" and the grey flag, which most orders meet, read that index only.
CARRIED = ["total_fen", "reminded", "refunded", "flag"]
# The flag's list index holds only the orders with a colour (an order from an export
# has none); grey is read from ``ix_order_list_created``, which carries the flag.
FLAGGED = text(f"flag <> {Flag.grey.value}")


class Order(Base):
    __tablename__ = "order"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_order_shop_paid", "shop_id", "paid_at"),
        # The orders list (orders.listing): newest first by (created_at, id) under each
        # equality filter, carrying the amount so the count and total read the index only.
        *(
            Index(
                f"ix_order_list_{name}",
                "shop_id",
                *columns,
                "created_at",
                "id",
                postgresql_include=["total_fen"],
                postgresql_where=where,
                sqlite_where=where,
            )
            for name, columns, where in (
                ("status", ("status",), None),
                ("owner", ("owner_id",), None),
                ("flag", ("flag",), FLAGGED),
                *((name, (name,), None) for name in LIST_MARKS),
            )
        ),
        Index(
            "ix_order_list_created", "shop_id", "created_at", "id", postgresql_include=CARRIED
        ),
        # The note filter's "missing" is paid and not noted: it reads the status here.
        Index(
            "ix_order_list_noted",
            "shop_id",
            "noted",
            "created_at",
            "id",
            postgresql_include=["total_fen", "status"],
        ),
        # Its search: each by the start of what was typed (pattern ops, whatever the
        # database's collation). The order number's is the unique key's (its column
        # compares bytes, see ``platform_order_id``); the waybill's, below, holds only
        # orders that have one.
        *(
            Index(
                f"ix_order_search_{name}",
                "shop_id",
                column,
                postgresql_ops={column: "varchar_pattern_ops"},
            )
            for name, column in (
                ("nick", "buyer_nick"),
                ("receiver", "receiver_name"),
            )
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The order's shop and buyer, and an item's order, are checked per statement on
    # PostgreSQL (``core.db.STATEMENT_CHECKED``).
    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shop.id", ondelete="CASCADE", info=STATEMENT_CHECKED)
    )
    # Text: 15–19 digits (the platform's), or letters, digits and '-' (a site's). On
    # PostgreSQL it compares bytes (collation "C"), so the unique key also serves the
    # list's search by the start of a number, and an import writes one index entry less.
    platform_order_id: Mapped[str] = mapped_column(
        String(32).with_variant(String(32, collation="C"), "postgresql")
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL", info=STATEMENT_CHECKED),
        nullable=True,
        index=True,
    )
    buyer_nick: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default=TradeStatus.WAIT_BUYER_PAY.value)
    source: Mapped[str] = mapped_column(String(16), default="api")  # import, api, demo
    goods_fen: Mapped[int] = mapped_column(Integer, default=0)
    postage_fen: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    receiver_name: Mapped[str] = mapped_column(String(64), default="")
    receiver_phone: Mapped[str] = mapped_column(String(32), default="")
    receiver_address: Mapped[str] = mapped_column(Text, default="")
    buyer_message: Mapped[str] = mapped_column(Text, default="")
    shipping_method: Mapped[str] = mapped_column(String(32), default="")
    courier: Mapped[str] = mapped_column(String(32), default="")
    tracking_number: Mapped[str] = mapped_column(String(64), default="")
    cash_on_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    close_reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The agent who owns the sale (O4, O5) and the flag that says so.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    flag: Mapped[int] = mapped_column(Integer, default=Flag.grey.value, server_default="0")
    # The buyer confirmed recipient, address and items (O2); a cash-on-delivery order was
    # confirmed by phone (O7).
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cod_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A fingerprint of the order row as last imported, so that an unchanged row is
    # recognised without comparing every column (O1).
    import_digest: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What the orders list filters by, kept on the row by the database's triggers
    # (migration 0026) on every write of a buyer, note, task, credit or refund, so a filter
    # is one index range: the buyer's channel, whether the order has a seller note,
    # a late-note task, a payment reminder (any, open, done), a reminder's credit and a
    # refund (after-sales' table).
    # Never written by the ORM (server defaults only).
    channel: Mapped[str] = mapped_column(String(16), server_default="")
    noted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    note_late: Mapped[bool] = mapped_column(Boolean, server_default=false())
    reminded: Mapped[bool] = mapped_column(Boolean, server_default=false())
    remind_open: Mapped[bool] = mapped_column(Boolean, server_default=false())
    remind_done: Mapped[bool] = mapped_column(Boolean, server_default=false())
    recovered: Mapped[bool] = mapped_column(Boolean, server_default=false())
    refunded: Mapped[bool] = mapped_column(Boolean, server_default=false())  # after-sales'

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )


def phone_tail() -> ColumnElement[str]:
    """The receiver phone's last four characters, as ``ix_order_search_phone`` holds them
    (the 3 written out, so that a query's expression is the index's)."""
    return func.substr(
        Order.receiver_phone, func.length(Order.receiver_phone) - literal_column("3")
    )


Index("ix_order_search_phone", Order.shop_id, phone_tail())
# An order not shipped (a third of an export: unpaid, closed, waiting) has no waybill, and
# a search never looks for an empty one (``orders.listing``): its index leaves them out.
Index(
    "ix_order_search_waybill",
    Order.shop_id,
    Order.tracking_number,
    postgresql_ops={"tracking_number": "varchar_pattern_ops"},
    postgresql_where=Order.tracking_number != "",
    sqlite_where=Order.tracking_number != "",
)
for _mark in RARE_MARKS:
    _carried = getattr(Order, _mark).is_(True)
    Index(
        f"ix_order_list_{_mark}",
        Order.shop_id,
        Order.created_at,
        Order.id,
        postgresql_include=["total_fen"],
        postgresql_where=_carried,
        sqlite_where=_carried,
    )
# The staff member's orders, for the foreign key's SET NULL: only orders with an owner.
Index("ix_order_owner_id", Order.owner_id, postgresql_where=Order.owner_id.isnot(None),
      sqlite_where=Order.owner_id.isnot(None))  # fmt: skip


class OrderItem(Base):
    __tablename__ = "order_item"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("order.id", ondelete="CASCADE", info=STATEMENT_CHECKED), index=True
    )
    # Its index holds only items matched to a catalogue SKU (``ix_order_item_sku_id``,
    # below): every look-up and join is by a SKU, and an import of a shop without a
    # catalogue would otherwise write an entry of NULL for each of its items.
    sku_id: Mapped[int | None] = mapped_column(
        ForeignKey("sku.id", ondelete="SET NULL"), nullable=True
    )
    sku_code: Mapped[str] = mapped_column(String(64), default="")  # 商家编码
    title: Mapped[str] = mapped_column(String(200))
    sku_text: Mapped[str] = mapped_column(String(200), default="")  # 颜色分类：黑色;尺码：L
    price_fen: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer, default=1)

    order: Mapped[Order] = relationship(back_populates="items")


_matched = OrderItem.sku_id.isnot(None)
Index("ix_order_item_sku_id", OrderItem.sku_id, postgresql_where=_matched, sqlite_where=_matched)


class SellerNote(Base):
    """One version of an order's seller note (O3); a change adds a version."""

    __tablename__ = "seller_note"
    __table_args__ = (UniqueConstraint("order_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # The parsed fields when the text is valid, else None and the errors say why.
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Each {"field", "message" (English), "data" (the message to translate; not in older rows)}.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    author_number: Mapped[str] = mapped_column(String(16), default="")  # 工号 at the time
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskKind(enum.StrEnum):
    confirm = "confirm"  # O2: confirm the paid order with the buyer
    remind = "remind"  # O6: remind an unpaid buyer
    cod_call = "cod_call"  # O7: phone the buyer of a cash-on-delivery order
    late_note = "late_note"  # O3: the note deadline passed
    late_ship = "late_ship"  # O10: not shipped in time
    late_delivery = "late_delivery"  # O10: not delivered in time
    duplicate = "duplicate"  # O6: the buyer placed the same order twice


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class OrderTask(Base):
    """Something an agent has to do about an order, with its outcome."""

    __tablename__ = "order_task"
    __table_args__ = (
        Index("ix_order_task_shop_status", "shop_id", "status", "kind"),
        Index("ix_order_task_assignee", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.open.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    outcome: Mapped[str] = mapped_column(String(32), default="")
    # What was sent and what came back: message ids and texts, kept as evidence.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CreditRole(enum.StrEnum):
    owner = "owner"  # the agent who owns the sale (O5)
    assist = "assist"  # a reminder that recovered the payment (O6)


class SalesCredit(Base):
    """A row of the sales ledger: which agent is credited with a paid order, and why."""

    __tablename__ = "sales_credit"
    __table_args__ = (
        UniqueConstraint("order_id", "role"),
        Index("ix_sales_credit_agent", "shop_id", "agent_id", "paid_at"),
        Index("ix_sales_credit_paid", "shop_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff_account.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))  # flag, chase, reminder
    amount_fen: Mapped[int] = mapped_column(Integer)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChangeStatus(enum.StrEnum):
    applied = "applied"  # within the agent's authority: made at once
    pending = "pending"  # beyond it: waits for the supervisor
    approved = "approved"  # the supervisor let it through; it was made then
    refused = "refused"


class OrderChange(Base):
    """A change of price, shipping fee or address asked for by an agent (O8)."""

    __tablename__ = "order_change"
    __table_args__ = (Index("ix_order_change_shop_status", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Why it needs the supervisor: the limits of the agent's level it goes past, each kept
    # as a message to translate (core.texts.to_data); older rows keep English strings.
    beyond: Mapped[list[str | dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
