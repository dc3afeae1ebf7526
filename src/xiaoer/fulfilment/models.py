"""Fulfilment's tables: the audit queue, one stock ledger, parcels and their tracking.

Stock has one truth, the append-only ledger (``stock_move``). ``stock_level`` (per SKU
and location) and ``sku.stock`` (what the catalog may sell) are projections of it,
written in the same statement as each move and recomputed and checked by
``xiaoer stock rebuild``: never a second book that may drift from the first.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, BigId, UTCDateTime


class LocationKind(enum.StrEnum):
    stock = "stock"  # sellable: counted in what the channels may list
    damaged = "damaged"  # returned broken, waiting for repair or write-off: never sold


class StockLocation(Base):
    """A place goods are kept (a warehouse, a shelf zone, the damaged corner)."""

    __tablename__ = "stock_location"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default=LocationKind.stock.value)
    # Orders ship from the lowest position that holds their goods; pick lists walk it.
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MoveKind(enum.StrEnum):
    receive = "receive"  # goods in: a purchase receipt (on hand +)
    reserve = "reserve"  # an audited order holds units (reserved +)
    release = "release"  # an order no longer holds them (reserved −)
    ship = "ship"  # the parcel left (on hand −, reserved −)
    return_ = "return"  # goods back from a buyer (on hand + at a stock or damaged place)
    adjust = "adjust"  # a stock-take's difference, a write-off, a correction (on hand ±)


class StockMove(Base):
    """One line of the ledger. Rows are only ever inserted, at the server's time."""

    __tablename__ = "stock_move"
    __table_args__ = (
        Index("ix_stock_move_shop_sku", "shop_id", "sku_id", "id"),
        Index("ix_stock_move_document", "shop_id", "document_kind", "document_id"),
        Index("ix_stock_move_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    # The document the move belongs to: "order", "shipment", "receipt", "take", "return",
    # "adjust" — with its id, and the text a person sees (a receipt's number, an order's).
    document_kind: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    document_ref: Mapped[str] = mapped_column(String(64), default="")
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(32), default="")  # 工号, "system", "import"
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(Base):
    """The ledger summed per SKU and location; the row a move locks."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("sku_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("reserved <= on_hand", name="oversold"),
        Index("ix_stock_level_shop", "shop_id", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SafetyStock(Base):
    """Units held back from a channel's listing, over the policy's default: for a whole
    channel (``sku_id`` empty) or one SKU on one channel (``channel`` empty: every one)."""

    __tablename__ = "safety_stock"
    __table_args__ = (Index("ix_safety_stock_shop", "shop_id", "channel", "sku_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16), default="")
    sku_id: Mapped[int | None] = mapped_column(
        ForeignKey("sku.id", ondelete="CASCADE"), nullable=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockReceipt(Base):
    """Goods received from a supplier; its lines are its ``receive`` moves."""

    __tablename__ = "stock_receipt"
    __table_args__ = (Index("ix_stock_receipt_shop", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64), default="")  # the supplier's delivery note
    supplier: Mapped[str] = mapped_column(String(64), default="")
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TakeStatus(enum.StrEnum):
    counting = "counting"  # the sheet is out
    recount = "recount"  # differences over the threshold wait for a second count
    posted = "posted"  # the adjustment is in the ledger
    cancelled = "cancelled"


class StockTake(Base):
    """A stock-take (盘点) of one location. ``started_move_id`` is the ledger's last id
    when the sheet went out: moves after it happened during the count and are added to
    what the sheet expected, so a parcel shipped mid-count is not taken for a loss."""

    __tablename__ = "stock_take"
    __table_args__ = (Index("ix_stock_take_shop", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=TakeStatus.counting.value)
    threshold: Mapped[int] = mapped_column(Integer, default=0)  # |difference| above: recount
    started_move_id: Mapped[int] = mapped_column(BigInteger, default=0)
    started_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    posted_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class StockTakeLine(Base):
    __tablename__ = "stock_take_line"
    __table_args__ = (UniqueConstraint("take_id", "sku_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    take_id: Mapped[int] = mapped_column(ForeignKey("stock_take.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id", ondelete="CASCADE"))
    expected: Mapped[int] = mapped_column(Integer, default=0)  # on hand when the sheet went out
    counted: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recounted: Mapped[int | None] = mapped_column(Integer, nullable=True)
    needs_recount: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_during: Mapped[int] = mapped_column(Integer, default=0)  # ledger moves mid-count
    difference: Mapped[int] = mapped_column(Integer, default=0)  # the adjustment posted


class AuditStatus(enum.StrEnum):
    waiting = "waiting"  # paid, not yet checked
    held = "held"  # a person must act first: the reason and owner say who and why
    passed = "passed"  # gone to the warehouse (and production, when custom)
    merged = "merged"  # ships in another order's parcel
    cancelled = "cancelled"  # the order closed before it shipped


class OrderAudit(Base):
    """An order's place in the audit queue (审单, F1) and what the auditor decided."""

    __tablename__ = "order_audit"
    __table_args__ = (
        UniqueConstraint("order_id"),
        Index("ix_order_audit_queue", "shop_id", "status", "ship_by"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=AuditStatus.waiting.value)
    # The rules' findings: [{"rule": "address_changed", "detail": "…"}, …]
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the auditor checked against the note and the stock, field by field.
    checks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it is held
    owner_id: Mapped[int | None] = mapped_column(  # who must clear the hold
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merged_into: Mapped[int | None] = mapped_column(  # the order whose parcel carries it
        ForeignKey("order.id", ondelete="SET NULL"), nullable=True
    )
    ship_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deliver_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlipStatus(enum.StrEnum):
    sent = "sent"
    made = "made"
    cancelled = "cancelled"


class ProductionSlip(Base):
    """A custom order's exact specification, sent to production (制作部, O9)."""

    __tablename__ = "production_slip"
    __table_args__ = (Index("ix_production_slip_shop", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the note's fields, items
    status: Mapped[str] = mapped_column(String(16), default=SlipStatus.sent.value)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    made_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ShipmentStatus(enum.StrEnum):
    picking = "picking"  # on a pick list
    packed = "packed"  # every line scanned into the box
    shipped = "shipped"  # waybill entered, handed to the carrier
    delivered = "delivered"  # signed for
    returned = "returned"  # back to the sender
    cancelled = "cancelled"


class Shipment(Base):
    """One parcel: from one location, for one or more orders of one buyer and address."""

    __tablename__ = "shipment"
    __table_args__ = (
        Index("ix_shipment_queue", "shop_id", "status", "ship_by"),
        Index("ix_shipment_waybill", "shop_id", "waybill"),
        Index("ix_shipment_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"))  # the lead
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ShipmentStatus.picking.value)
    carrier: Mapped[str] = mapped_column(String(16), default="")  # the carrier's code: SF, YTO…
    waybill: Mapped[str] = mapped_column(String(64), default="")
    ship_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deliver_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    packed_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    packed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    shipped_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_account.id", ondelete="SET NULL"), nullable=True
    )
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Tracking: the last scan, and a problem (疑难件) the rules or a person found.
    last_stage: Mapped[str] = mapped_column(String(24), default="")
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    problem: Mapped[str] = mapped_column(String(24), default="")
    problem_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True
    )
    delay_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    chased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ShipmentLine(Base):
    __tablename__ = "shipment_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipment.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), index=True)
    order_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_item.id", ondelete="SET NULL"), nullable=True
    )
    sku_id: Mapped[int | None] = mapped_column(
        ForeignKey("sku.id", ondelete="SET NULL"), nullable=True
    )
    sku_code: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    packed: Mapped[int] = mapped_column(Integer, default=0)  # units scanned into the box


class Stage(enum.StrEnum):
    """A parcel's life as carriers report it."""

    picked_up = "picked_up"  # 揽收
    in_transit = "in_transit"  # 运输中
    out_for_delivery = "out_for_delivery"  # 派件中
    signed = "signed"  # 签收
    returned = "returned"  # 退回
    problem = "problem"  # 疑难件


class TrackingEvent(Base):
    """One scan of a parcel, from the aggregator's webhook or a CSV; the same scan
    twice (same parcel, time, stage and text: ``digest``) is kept once."""

    __tablename__ = "tracking_event"
    __table_args__ = (
        UniqueConstraint("shipment_id", "digest"),
        Index("ix_tracking_event_parcel", "shipment_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    stage: Mapped[str] = mapped_column(String(24))
    place: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16), default="webhook")  # webhook, csv, staff
    digest: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
